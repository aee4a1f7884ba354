"""Views of the queue (FiftyOne style): which photos to show, how many are done, which comes
next. Plain data, so the window's filter bar only draws and the rules are tested headless.

A photo is *done* when its decision says where it is or that it is not here (confirmed, none
of these, rejected as a whole); *to do* when it has no decision yet (pending) or was skipped or
marked unsure; *unreadable* when its file cannot be decoded (it cannot be decided at all).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from geomatch_app.store import Store

DONE = ("confirmed", "none", "rejected")
TO_DO = ("pending", "skipped", "unsure")
UNASSIGNED = "(nobody)"  # QueueFilter.assigned: photos not assigned to anyone
STATUS_CHOICES = ("all", "to do", "done", "pending", "confirmed", "none", "rejected",
                  "skipped", "unsure", "unreadable")


@dataclass(frozen=True)
class QueueRow:
    path: str
    status: str = "pending"  # pending / confirmed / none / rejected / skipped / unsure / unreadable
    curator: str = ""  # who made the decision in force
    title: str = ""
    archive_id: str = ""
    date_text: str = ""
    date_from: str | None = None
    date_to: str | None = None
    place_text: str = ""
    notes: str = ""
    radius_m: float | None = None  # the estimate's uncertainty (None until ranked)
    verdict: str = ""  # the ranking's verdict ("", or e.g. "likely not in gallery")
    unreadable: str = ""
    assigned_to: str = ""  # the curator who is to decide it ('' = anyone)


@dataclass(frozen=True)
class QueueFilter:
    status: str = "all"  # one of STATUS_CHOICES
    curator: str = ""  # exact name ('' = anyone)
    verdict: str = ""  # substring of the ranking verdict
    min_radius_m: float | None = None  # uncertainty at least (the doubtful ones)
    date_from: str = ""  # ISO prefix ("1920" or "1920-05"); rows overlapping the range match
    date_to: str = ""
    text: str = ""  # in file name, title, archive id, place, notes
    assigned: str = ""  # assigned to this curator ('' = whoever; UNASSIGNED = to nobody)

    @property
    def active(self) -> bool:
        return self != QueueFilter()

    def matches(self, row: QueueRow) -> bool:
        if not _status_ok(self.status, row.status):
            return False
        if self.curator and row.curator != self.curator:
            return False
        if self.assigned and row.assigned_to != ("" if self.assigned == UNASSIGNED
                                                 else self.assigned):
            return False
        if self.verdict and self.verdict.lower() not in row.verdict.lower():
            return False
        if self.min_radius_m is not None and (row.radius_m is None
                                              or row.radius_m < self.min_radius_m):
            return False
        if self.date_from or self.date_to:
            if row.date_from is None and row.date_to is None:
                return False
            lo, hi = row.date_from or row.date_to or "", row.date_to or row.date_from or ""
            if self.date_to and lo[:len(self.date_to)] > self.date_to:
                return False
            if self.date_from and hi[:len(self.date_from)] < self.date_from:
                return False
        if self.text:
            hay = " ".join((Path(row.path).name, row.title, row.archive_id, row.place_text,
                            row.notes, row.date_text)).lower()
            if not all(word in hay for word in self.text.lower().split()):
                return False
        return True


def _status_ok(choice: str, status: str) -> bool:
    if choice in ("", "all"):
        return True
    if choice == "done":
        return status in DONE
    if choice == "to do":
        return status in TO_DO
    return status == choice


def rows_for(store: Store | None, paths: list[str], radii: dict[str, float | None] | None = None,
             verdicts: dict[str, str] | None = None,
             errors: dict[str, str] | None = None) -> list[QueueRow]:
    """One row per queued path, in queue order, with what the store knows about it; ``errors``
    (path -> why) marks photos found unreadable in this session."""
    radii, verdicts, errors = radii or {}, verdicts or {}, errors or {}
    by_path = {}
    if store is not None and len(paths) > 20:
        by_path = {q.path: q for q in store.queries()}
    elif store is not None:  # a few rows (after a decision): one lookup each
        found = (store.find_query(p, by_content=False) for p in paths)
        by_path = {p: q for p, q in zip(paths, found, strict=True) if q is not None}
    out = []
    for p in paths:
        q = by_path.get(p)
        row = QueueRow(p, radius_m=radii.get(p), verdict=verdicts.get(p, ""))
        if q is not None:
            d = store.current_decision(q.id) if q.status != "open" else None
            row = replace(row, status="pending" if q.status == "open" else q.status,
                          curator=d.curator if d else "", title=q.title,
                          archive_id=q.archive_id, date_text=q.date_text,
                          date_from=q.date_from, date_to=q.date_to, place_text=q.place_text,
                          notes=q.notes, unreadable=q.unreadable,
                          assigned_to=q.assigned_to)
        why = errors.get(p) or row.unreadable
        if why:
            row = replace(row, status="unreadable", unreadable=why)
        out.append(row)
    return out


def counts(rows: list[QueueRow]) -> dict[str, int]:
    """done / to do / unreadable / total."""
    out = {"done": 0, "to do": 0, "unreadable": 0, "total": len(rows)}
    for r in rows:
        key = "done" if r.status in DONE else "unreadable" if r.status == "unreadable" \
            else "to do"
        out[key] += 1
    return out


def describe_counts(rows: list[QueueRow], shown: int | None = None) -> str:
    c = counts(rows)
    text = f"{c['done']} done · {c['to do']} to do"
    if c["unreadable"]:
        text += f" · {c['unreadable']} unreadable"
    if shown is not None and shown != c["total"]:
        text += f" · showing {shown} of {c['total']}"
    return text


def next_pending(rows: list[QueueRow], current: str | None,
                 view: QueueFilter | None = None) -> str | None:
    """The next photo after ``current`` (wrapping around) that still has no decision and is in
    the view; None when every such photo is decided."""
    view = view or QueueFilter()
    paths = [r.path for r in rows]
    start = paths.index(current) + 1 if current in paths else 0
    for r in rows[start:] + rows[:start]:
        if r.status == "pending" and r.path != current and view.matches(r):
            return r.path
    return None
