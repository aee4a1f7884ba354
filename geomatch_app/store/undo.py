"""Undo and redo over the event log.

Every user action writes one event whose ``changes`` say which rows it inserted and which
columns it updated (with their values before and after). Rows are never deleted: undoing an
insert sets the row's ``deleted`` flag, redoing clears it, so an undone decision is still there
to be shown in the history and nothing a curator did can be lost by pressing Ctrl+Z.

Undo and redo are themselves events (``kind`` undo/redo, ``target_id`` the event they act on);
whether an event is applied is derived from the log, which stays append-only. The undo target
is the newest applied undoable event; the redo target is the most recently undone one, as long
as no new undoable action happened since (the usual editor behaviour).
"""

from __future__ import annotations

import json
from typing import Any

import sqlite_utils

UNDOABLE_TABLES = ("galleries", "images", "queries", "decisions", "reviews")

_APPLIED = """(
    (SELECT count(*) FROM events u WHERE u.target_id = {e}.id AND u.kind = 'undo')
  = (SELECT count(*) FROM events r WHERE r.target_id = {e}.id AND r.kind = 'redo'))"""


def undo_target(db: sqlite_utils.Database, actor: str | None = None) -> dict | None:
    """The event ``undo`` would revert, or None."""
    sql = f"""SELECT * FROM events e WHERE e.undoable = 1 AND e.target_id IS NULL
              {'AND e.actor = :actor' if actor is not None else ''}
              AND {_APPLIED.format(e='e')} ORDER BY e.id DESC LIMIT 1"""
    return _one(db, sql, {"actor": actor})


def redo_target(db: sqlite_utils.Database, actor: str | None = None) -> dict | None:
    """The event ``redo`` would re-apply, or None."""
    who = "AND actor = :actor" if actor is not None else ""
    last_do = db.execute(
        f"SELECT coalesce(max(id), 0) FROM events WHERE undoable = 1 AND target_id IS NULL {who}",
        {"actor": actor},
    ).fetchone()[0]
    sql = f"""SELECT t.* FROM events u JOIN events t ON t.id = u.target_id
              WHERE u.kind = 'undo' AND u.id > :last_do
              {'AND u.actor = :actor' if actor is not None else ''}
              AND NOT {_APPLIED.format(e='t')} ORDER BY u.id DESC LIMIT 1"""
    return _one(db, sql, {"actor": actor, "last_do": last_do})


def is_applied(db: sqlite_utils.Database, event_id: int) -> bool:
    sql = f"SELECT {_APPLIED.format(e='e')} FROM events e WHERE e.id = ?"
    row = db.execute(sql, (event_id,)).fetchone()
    return bool(row and row[0])


def apply_changes(db: sqlite_utils.Database, changes: list[dict[str, Any]], undo: bool) -> None:
    """Revert (``undo=True``) or re-apply the row changes of one event, inside the caller's
    transaction. Reverts run in reverse order so later changes are peeled off first."""
    for change in reversed(changes) if undo else changes:
        table = change["table"]
        if table not in UNDOABLE_TABLES:
            raise ValueError(f"event touches table {table!r}, which is not undoable")
        if change["op"] == "insert":
            ids = [int(i) for i in change["ids"]]
            marks = ",".join("?" * len(ids))
            db.execute(
                f"UPDATE {table} SET deleted = ? WHERE id IN ({marks})", [int(undo), *ids]
            )
        elif change["op"] == "update":
            values = change["before"] if undo else change["after"]
            columns = set(db[table].columns_dict)
            unknown = set(values) - columns
            if unknown:
                raise ValueError(f"event updates unknown columns {sorted(unknown)} of {table}")
            sets = ", ".join(f"{col} = :{col}" for col in values)
            db.execute(
                f"UPDATE {table} SET {sets} WHERE id = :_id", {**values, "_id": change["id"]}
            )
        else:
            raise ValueError(f"unknown change {change['op']!r}")


def decode(changes: str) -> list[dict[str, Any]]:
    return json.loads(changes or "[]")


def _one(db: sqlite_utils.Database, sql: str, params: dict) -> dict | None:
    cursor = db.execute(sql, params)
    row = cursor.fetchone()
    if row is None:
        return None
    return dict(zip([c[0] for c in cursor.description], row, strict=True))
