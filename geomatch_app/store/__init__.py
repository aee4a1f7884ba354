"""The curation store: the only package that speaks SQL.

``Store(path)`` is one SQLite file (WAL, foreign keys, busy timeout); each method is one user
action in one transaction and returns plain records. See ``store.store`` for the why.
"""

from geomatch_app.store.sqlite import import_sqlite_utils

import_sqlite_utils()  # before the modules below import it (see there)

from geomatch_app.store.errors import (  # noqa: E402
    ExportError,
    InvalidValueError,
    NotFoundError,
    SchemaTooNewError,
    StoreError,
)
from geomatch_app.store.records import (  # noqa: E402
    OPEN,
    STATUSES,
    Agreement,
    DecisionRecord,
    EventRecord,
    GalleryRecord,
    HistoryEntry,
    ImageRecord,
    IndexRecord,
    ModelRecord,
    QueryRecord,
    SuggestionRecord,
    SuggestionRun,
)
from geomatch_app.store.schema import SCHEMA_VERSION  # noqa: E402
from geomatch_app.store.store import Store  # noqa: E402

__all__ = [
    "OPEN", "SCHEMA_VERSION", "STATUSES", "Agreement", "DecisionRecord", "EventRecord",
    "ExportError", "GalleryRecord", "HistoryEntry", "ImageRecord", "IndexRecord",
    "InvalidValueError", "ModelRecord",
    "NotFoundError", "QueryRecord", "SchemaTooNewError", "Store", "StoreError",
    "SuggestionRecord", "SuggestionRun",
]
