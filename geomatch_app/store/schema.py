"""The database schema as a list of migrations. Version N is what migrations 1..N produce.

Opening a file runs the missing migrations in one transaction, so an older file is upgraded in
place and keeps every row; a file newer than ``SCHEMA_VERSION`` is refused (see ``Store``) because
writing to a schema we do not understand could silently drop what a newer version recorded.

Migrations never change after release: a new need is a new migration. tests/fixtures/
store_v1.sqlite was written by migration 1 alone and proves that old files still open.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import sqlite_utils

SCHEMA_VERSION = 4

_V1 = """
CREATE TABLE schema_version (
    version INTEGER NOT NULL,
    applied_at TEXT NOT NULL
);
CREATE TABLE galleries (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    root TEXT NOT NULL DEFAULT '',
    source TEXT NOT NULL DEFAULT '',
    credit TEXT NOT NULL DEFAULT '',
    licence TEXT NOT NULL DEFAULT '',
    created_at TEXT NOT NULL,
    deleted INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE images (
    id INTEGER PRIMARY KEY,
    gallery_id INTEGER NOT NULL REFERENCES galleries(id),
    path TEXT NOT NULL,
    sha256 TEXT NOT NULL DEFAULT '',
    lat REAL,
    lon REAL,
    heading REAL,
    place_id TEXT NOT NULL DEFAULT '',
    source TEXT NOT NULL DEFAULT '',
    credit TEXT NOT NULL DEFAULT '',
    licence TEXT NOT NULL DEFAULT '',
    added_at TEXT NOT NULL,
    deleted INTEGER NOT NULL DEFAULT 0,
    UNIQUE (gallery_id, path),
    CHECK ((lat IS NULL) = (lon IS NULL))
);
CREATE INDEX images_path ON images(path);
CREATE INDEX images_sha256 ON images(sha256);
CREATE TABLE queries (
    id INTEGER PRIMARY KEY,
    path TEXT NOT NULL UNIQUE,
    sha256 TEXT NOT NULL DEFAULT '',
    title TEXT NOT NULL DEFAULT '',
    archive_id TEXT NOT NULL DEFAULT '',
    date TEXT NOT NULL DEFAULT '',
    notes TEXT NOT NULL DEFAULT '',
    added_at TEXT NOT NULL,
    deleted INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX queries_sha256 ON queries(sha256);
CREATE TABLE models (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    weight_hash TEXT NOT NULL DEFAULT '',
    card TEXT NOT NULL DEFAULT '',
    fingerprint TEXT NOT NULL DEFAULT '{}',
    created_at TEXT NOT NULL,
    UNIQUE (name, weight_hash)
);
CREATE TABLE indexes (
    id INTEGER PRIMARY KEY,
    path TEXT NOT NULL,
    model_id INTEGER REFERENCES models(id),
    gallery_id INTEGER REFERENCES galleries(id),
    n_images INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL
);
CREATE TABLE suggestion_runs (
    id INTEGER PRIMARY KEY,
    query_id INTEGER NOT NULL REFERENCES queries(id),
    model_id INTEGER REFERENCES models(id),
    model_name TEXT NOT NULL DEFAULT '',
    index_id INTEGER REFERENCES indexes(id),
    est_lat REAL,
    est_lon REAL,
    est_radius_m REAL,
    est_confidence REAL,
    created_at TEXT NOT NULL
);
CREATE INDEX suggestion_runs_query ON suggestion_runs(query_id, id);
CREATE TABLE suggestions (
    id INTEGER PRIMARY KEY,
    run_id INTEGER NOT NULL REFERENCES suggestion_runs(id),
    rank INTEGER NOT NULL,
    score REAL NOT NULL,
    path TEXT NOT NULL,
    image_id INTEGER REFERENCES images(id),
    lat REAL,
    lon REAL,
    heading REAL,
    place_id TEXT NOT NULL DEFAULT '',
    UNIQUE (run_id, rank)
);
CREATE TABLE decisions (
    id INTEGER PRIMARY KEY,
    query_id INTEGER NOT NULL REFERENCES queries(id),
    status TEXT NOT NULL CHECK (status IN ('confirmed', 'rejected', 'skipped', 'unsure')),
    candidate_path TEXT,
    image_id INTEGER REFERENCES images(id),
    lat REAL,
    lon REAL,
    curator TEXT NOT NULL DEFAULT '',
    note TEXT NOT NULL DEFAULT '',
    created_at TEXT NOT NULL,
    suggestion_id INTEGER REFERENCES suggestions(id),
    model_id INTEGER REFERENCES models(id),
    model_name TEXT NOT NULL DEFAULT '',
    rank INTEGER,
    deleted INTEGER NOT NULL DEFAULT 0,
    CHECK ((lat IS NULL) = (lon IS NULL)),
    CHECK (status <> 'confirmed' OR candidate_path IS NOT NULL OR lat IS NOT NULL)
);
CREATE INDEX decisions_query ON decisions(query_id, id);
CREATE TRIGGER decisions_never_deleted BEFORE DELETE ON decisions
BEGIN SELECT RAISE(ABORT, 'decisions are never deleted; undo marks them undone'); END;
CREATE TABLE events (
    id INTEGER PRIMARY KEY,
    ts TEXT NOT NULL,
    kind TEXT NOT NULL,
    actor TEXT NOT NULL DEFAULT '',
    query_id INTEGER REFERENCES queries(id),
    description TEXT NOT NULL DEFAULT '',
    changes TEXT NOT NULL DEFAULT '[]',
    undoable INTEGER NOT NULL DEFAULT 0,
    target_id INTEGER REFERENCES events(id)
);
CREATE INDEX events_target ON events(target_id);
CREATE INDEX events_query ON events(query_id);
CREATE TRIGGER events_append_only_update BEFORE UPDATE ON events
BEGIN SELECT RAISE(ABORT, 'the event log is append-only'); END;
CREATE TRIGGER events_append_only_delete BEFORE DELETE ON events
BEGIN SELECT RAISE(ABORT, 'the event log is append-only'); END;
"""


def _v1(db: sqlite_utils.Database) -> None:
    for statement in _split(_V1):
        db.execute(statement)


def _v2(db: sqlite_utils.Database) -> None:
    """Date ranges for archive photos ("c. 1920-1925") and a camera heading on decisions."""
    db.execute("ALTER TABLE queries RENAME COLUMN date TO date_text")
    db["queries"].add_column("date_from", str)
    db["queries"].add_column("date_to", str)
    db["decisions"].add_column("heading", float)
    db.execute("CREATE INDEX decisions_curator ON decisions(curator)")
    rows = db.execute("SELECT id, date_text FROM queries WHERE date_text <> ''").fetchall()
    for query_id, text in rows:
        date_from, date_to = parse_date_range(text)
        db.execute(
            "UPDATE queries SET date_from = ?, date_to = ? WHERE id = ?",
            (date_from, date_to, query_id),
        )


_DECISIONS_V3 = """
CREATE TABLE decisions_v3 (
    id INTEGER PRIMARY KEY,
    query_id INTEGER NOT NULL REFERENCES queries(id),
    status TEXT NOT NULL
        CHECK (status IN ('confirmed', 'rejected', 'skipped', 'unsure', 'none')),
    candidate_path TEXT,
    image_id INTEGER REFERENCES images(id),
    lat REAL,
    lon REAL,
    curator TEXT NOT NULL DEFAULT '',
    note TEXT NOT NULL DEFAULT '',
    created_at TEXT NOT NULL,
    suggestion_id INTEGER REFERENCES suggestions(id),
    model_id INTEGER REFERENCES models(id),
    model_name TEXT NOT NULL DEFAULT '',
    rank INTEGER,
    deleted INTEGER NOT NULL DEFAULT 0,
    heading REAL,
    precision_m REAL,
    placed TEXT NOT NULL DEFAULT '' CHECK (placed IN ('', 'camera', 'subject')),
    p_match REAL,
    CHECK ((lat IS NULL) = (lon IS NULL)),
    CHECK (status <> 'confirmed' OR candidate_path IS NOT NULL OR lat IS NOT NULL)
);
"""
_DECISION_COLUMNS = ("id, query_id, status, candidate_path, image_id, lat, lon, curator, note, "
                     "created_at, suggestion_id, model_id, model_name, rank, deleted, heading")
_V3 = """
CREATE INDEX decisions_query ON decisions(query_id, id);
CREATE INDEX decisions_curator ON decisions(curator);
CREATE TRIGGER decisions_never_deleted BEFORE DELETE ON decisions
BEGIN SELECT RAISE(ABORT, 'decisions are never deleted; undo marks them undone'); END;
CREATE TABLE reviews (
    id INTEGER PRIMARY KEY,
    decision_id INTEGER NOT NULL REFERENCES decisions(id),
    reviewer TEXT NOT NULL DEFAULT '',
    verdict TEXT NOT NULL CHECK (verdict IN ('accept', 'dispute')),
    note TEXT NOT NULL DEFAULT '',
    created_at TEXT NOT NULL,
    deleted INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX reviews_decision ON reviews(decision_id, id);
CREATE UNIQUE INDEX indexes_path ON indexes(path);
CREATE INDEX suggestion_runs_reuse ON suggestion_runs(query_id, model_id, index_id, id);
"""


def _v3(db: sqlite_utils.Database) -> None:
    """What the application layer needs from the store:

    - decisions: status ``none`` ("none of these": the query's place is not in the gallery, an
      open-set negative), the precision of a hand placement, whether the camera or the subject
      was placed, and the calibrated match probability shown when the curator decided;
    - reviews by a second curator (accept / dispute), undoable like decisions;
    - images: size + mtime (the index's change key, so registering a gallery needs no hashing);
    - queries: catalogue fields (free-text place, known coordinates) and why a file is
      unreadable (such a photo cannot be decided);
    - suggestion runs: the verdict, the ranking parameters and the index fingerprint, so a
      restart re-uses a run instead of ranking again; per-suggestion p_match;
    - indexes: one row per index folder (its path is unique).

    SQLite cannot change a CHECK constraint in place, so decisions is rebuilt (same ids)."""
    db.execute("DROP TRIGGER decisions_never_deleted")
    db.execute(_DECISIONS_V3)
    db.execute(f"INSERT INTO decisions_v3 ({_DECISION_COLUMNS}) "
               f"SELECT {_DECISION_COLUMNS} FROM decisions")
    db.execute("DROP TABLE decisions")
    db.execute("ALTER TABLE decisions_v3 RENAME TO decisions")
    for column, kind in (("size", int), ("mtime_ns", int)):
        db["images"].add_column(column, kind)
    db.execute("ALTER TABLE queries ADD COLUMN place_text TEXT NOT NULL DEFAULT ''")
    db["queries"].add_column("lat", float)
    db["queries"].add_column("lon", float)
    db.execute("ALTER TABLE queries ADD COLUMN unreadable TEXT NOT NULL DEFAULT ''")
    db.execute("ALTER TABLE suggestion_runs ADD COLUMN verdict TEXT NOT NULL DEFAULT ''")
    db.execute("ALTER TABLE suggestion_runs ADD COLUMN params TEXT NOT NULL DEFAULT '{}'")
    db["suggestions"].add_column("p_match", float)
    db.execute("ALTER TABLE indexes ADD COLUMN fingerprint TEXT NOT NULL DEFAULT '{}'")
    # an index folder registered more than once (v2 never re-used rows): keep the newest
    db.execute("""UPDATE suggestion_runs SET index_id = (SELECT max(i2.id) FROM indexes i1
                  JOIN indexes i2 ON i2.path = i1.path WHERE i1.id = suggestion_runs.index_id)
                  WHERE index_id IS NOT NULL""")
    db.execute("DELETE FROM indexes WHERE id NOT IN (SELECT max(id) FROM indexes GROUP BY path)")
    for statement in _split(_V3):
        db.execute(statement)


def _v4(db: sqlite_utils.Database) -> None:
    """A second curator's working day:

    - queries.assigned_to: who is to decide the photo ('' = anyone), set by a batch
      "Assign to…" in the queue or `geomatch assign`, undoable like every edit;
    - queries.use_prior: whether the catalogue's free-text place narrows the photo's ranking
      (app.prior; 1 = yes, the default), switched off per photo by the curator.

    Two added columns with defaults: every existing row and decision is kept as it was."""
    db.execute("ALTER TABLE queries ADD COLUMN assigned_to TEXT NOT NULL DEFAULT ''")
    db.execute("ALTER TABLE queries ADD COLUMN use_prior INTEGER NOT NULL DEFAULT 1"
               " CHECK (use_prior IN (0, 1))")
    db.execute("CREATE INDEX queries_assigned ON queries(assigned_to)")


MIGRATIONS: dict[int, Callable[[sqlite_utils.Database], None]] = {1: _v1, 2: _v2, 3: _v3,
                                                                  4: _v4}
assert max(MIGRATIONS) == SCHEMA_VERSION


def _split(script: str) -> list[str]:
    """Statements of a script; a trigger body's inner ``;`` stays with its ``END``."""
    out: list[str] = []
    current: list[str] = []
    for line in script.strip().splitlines():
        current.append(line)
        text = "\n".join(current).strip()
        in_trigger = text.upper().startswith("CREATE TRIGGER")
        if text.endswith(";") and (not in_trigger or text.upper().endswith("END;")):
            out.append(text)
            current = []
    return out


def current_version(db: sqlite_utils.Database) -> int:
    """0 for an empty file, else the highest applied migration."""
    if "schema_version" not in db.table_names():
        return 0
    row = db.execute("SELECT max(version) FROM schema_version").fetchone()
    return int(row[0] or 0)


def foreign_tables(db: sqlite_utils.Database) -> list[str]:
    """Tables of a file that has no schema_version: another program's data, which geomatch
    must not add its tables to (an empty file has none)."""
    return sorted(n for n in db.table_names() if not n.startswith("sqlite_"))


def migrate(db: sqlite_utils.Database, now: str, target: int = SCHEMA_VERSION) -> list[int]:
    """Apply migrations above the file's version up to ``target`` inside the caller's
    transaction; returns the versions applied."""
    applied = []
    for version in range(current_version(db) + 1, target + 1):
        MIGRATIONS[version](db)
        db.execute(
            "INSERT INTO schema_version (version, applied_at) VALUES (?, ?)", (version, now)
        )
        applied.append(version)
    return applied


_YEAR = re.compile(r"(?<!\d)(\d{4})(?:-(\d{2})(?!\d))?(?:-(\d{2})(?!\d))?")


def parse_date_range(text: str) -> tuple[str | None, str | None]:
    """Earliest and latest ISO dates in an archive's date text.

    "1923" -> 1923-01-01..1923-12-31, "c. 1920-1925" -> 1920-01-01..1925-12-31,
    "1923-05-07" -> that day. Text without a year gives (None, None)."""
    found = _YEAR.findall(text or "")
    if not found:
        return None, None
    first, last = found[0], found[-1]
    start = f"{first[0]}-{first[1] or '01'}-{first[2] or '01'}"
    end_month = last[1] or "12"
    end_day = last[2] or ("31" if end_month in ("01", "03", "05", "07", "08", "10", "12")
                          else "30" if end_month != "02" else "28")
    end = f"{last[0]}-{end_month}-{end_day}"
    return start, end
