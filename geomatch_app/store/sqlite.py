"""sqlite-utils, imported without pandas.

sqlite-utils imports pandas whenever it is installed (Ray's ``scale`` extra brings it), only
to map ``pandas.Timestamp`` columns; the store never passes pandas objects, and that import
was ~1 s of every launch of the window and the CLI on the 2-core machine (``python -X
importtime``: sqlite_utils 1.04 s, pandas 0.95 s of it). So the first import of sqlite-utils
sees pandas as absent; pandas itself stays importable for whoever needs it afterwards.
"""

from __future__ import annotations

import sys


def import_sqlite_utils() -> None:
    if "sqlite_utils" in sys.modules or "pandas" in sys.modules:
        import sqlite_utils  # noqa: F401 - already imported, or pandas is loaded anyway
        return
    sys.modules["pandas"] = None  # type: ignore[assignment] - "import pandas" → ImportError
    try:
        import sqlite_utils  # noqa: F401
    finally:
        if sys.modules.get("pandas", 0) is None:
            del sys.modules["pandas"]
