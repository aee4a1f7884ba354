"""``geomatch db check``: is the file sound, and does every row hang together?

SQLite's ``integrity_check`` and ``foreign_key_check`` catch page-level damage and dangling
references; the other checks catch what constraints cannot express: a decision that no event
created (written behind the store's back), an event naming rows that do not exist, a decision
citing a suggestion made for another query.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from pathlib import Path

from geomatch_app.store import schema, undo
from geomatch_app.store.errors import StoreError, sqlite_error

_ORPHANS = {
    "decision citing a suggestion of another query": """
        SELECT d.id FROM decisions d JOIN suggestions s ON s.id = d.suggestion_id
        JOIN suggestion_runs r ON r.id = s.run_id WHERE r.query_id <> d.query_id""",
    "live image in a removed gallery": """
        SELECT i.id FROM images i JOIN galleries g ON g.id = i.gallery_id
        WHERE i.deleted = 0 AND g.deleted = 1""",
    "undo/redo event without a target": """
        SELECT id FROM events WHERE kind IN ('undo', 'redo') AND target_id IS NULL""",
}


@dataclass
class CheckReport:
    path: Path
    schema_version: int = 0
    problems: list[str] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.problems


def check_database(path: str | Path) -> CheckReport:
    """Read-only checks of a database file; never migrates or writes it."""
    path = Path(path)
    if not path.is_file():
        raise StoreError("does not exist", path, "give the path of a geomatch database")
    report = CheckReport(path)
    try:
        # as_uri() percent-encodes '#', '?' and '%': "cur#1.sqlite" must not open "cur"
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    except sqlite3.Error as exc:
        raise sqlite_error(exc, path) from None
    try:
        conn.row_factory = None
        integrity = [r[0] for r in conn.execute("PRAGMA integrity_check")]
        if integrity != ["ok"]:
            report.problems += [f"integrity: {line}" for line in integrity]
            return report
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        if "schema_version" not in tables:
            report.problems.append("not a geomatch database (no schema_version table)")
            return report
        report.schema_version = conn.execute("SELECT max(version) FROM schema_version"
                                             ).fetchone()[0] or 0
        if report.schema_version > schema.SCHEMA_VERSION:
            report.problems.append(f"schema {report.schema_version} is newer than this "
                                   f"geomatch ({schema.SCHEMA_VERSION}); update geomatch")
            return report
        for table, rowid, parent, _ in conn.execute("PRAGMA foreign_key_check"):
            report.problems.append(f"orphan: {table} row {rowid} points to a missing {parent}")
        for what, sql in _ORPHANS.items():
            for (row_id,) in conn.execute(sql):
                report.problems.append(f"{what}: id {row_id}")
        report.problems += _event_problems(conn)
        for table in ("galleries", "images", "indexes", "queries", "suggestion_runs",
                      "decisions", "events"):
            report.counts[table] = conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
    except sqlite3.DatabaseError as exc:
        report.problems.append(f"unreadable: {exc}")
    finally:
        conn.close()
    return report


def _event_problems(conn: sqlite3.Connection) -> list[str]:
    """Rows inserted by events must exist, and every decision must come from an event."""
    problems = []
    created: set[int] = set()
    for event_id, changes in conn.execute("SELECT id, changes FROM events"):
        for change in undo.decode(changes):
            if change.get("op") != "insert":
                continue
            ids = change["ids"]
            table = change["table"]
            if table not in undo.UNDOABLE_TABLES:
                problems.append(f"event {event_id} names unknown table {table!r}")
                continue
            marks = ",".join("?" * len(ids))
            found = conn.execute(f"SELECT count(*) FROM {table} WHERE id IN ({marks})",
                                 ids).fetchone()[0]
            if found != len(ids):
                problems.append(f"event {event_id} inserted {table} rows that are missing")
            if table == "decisions":
                created.update(ids)
    for (decision_id,) in conn.execute("SELECT id FROM decisions"):
        if decision_id not in created:
            problems.append(f"decision {decision_id} has no event (written outside the store)")
    return problems
