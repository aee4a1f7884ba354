"""Decide / undo / redo with provenance: the curator's acts on the store, the same from the
window and from `geomatch confirm`. A decision carries the run it was made on (run id + rank),
so the store finds the suggestion in one lookup instead of searching for it."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from geomatch_app.core.errors import GeomatchError
from geomatch_app.store import Store
from geomatch_app.store.store import file_sha256

if TYPE_CHECKING:
    from geomatch_app.app.ranking import RankResult
    from geomatch_app.app.session import Pick


def ensure_query(store: Store, path: str | Path, **fields: str) -> int:
    """The query id of ``path``, registering the photo when new. The file is hashed at most
    once (only when it is not found by its path), and never on the GUI thread: callers run
    this inside their job."""
    found = store.find_query(path, by_content=False)
    if found is not None:
        return found.id
    digest = file_sha256(path)
    for q in store.queries_with_hash(digest) if digest else []:
        if not Path(q.path).exists():  # the same photo, moved or renamed
            return q.id  # (two files with the same bytes side by side stay two queries)
    return store.add_query(path, sha256=digest, **fields)


def decide(store: Store, path: str, status: str, pick: Pick | None = None, *,
           result: RankResult | None = None, curator: str = "", note: str = "",
           model: str | None = None) -> int:
    """Record one decision about the photo at ``path``; returns the decision id.

    ``pick`` is what the curator chose (a candidate of ``result``, or a map point); a
    confirmation needs one. "rejected" with a candidate pick rejects that candidate only (a
    hard negative; the photo stays to be decided), without one it rejects the photo. A photo
    whose file cannot be read cannot be decided."""
    from geomatch_app.app.session import CandidatePick, ManualPick

    if status == "confirmed" and pick is None:
        raise GeomatchError("pick a candidate (1–9) or click the map before confirming", path)
    if status == "rejected" and isinstance(pick, ManualPick):
        raise GeomatchError("a map point cannot be rejected; pick the candidate to reject "
                            "(1–9)", path)
    query_id = result.query_id if result is not None and result.query_id else \
        ensure_query(store, path)
    if status == "rejected" and isinstance(pick, CandidatePick):
        current = store.current_decision(query_id)
        if current is not None and current.status == "confirmed" \
                and current.candidate_path == pick.path:
            raise GeomatchError("this candidate is the confirmed location", path,
                                "undo the confirmation (Ctrl+Z) or confirm another first")
    kw: dict = {"curator": curator, "note": note}
    if model:
        kw["model"] = model  # whose suggestion it was, when the caller knows better
    elif pick is None and result is not None and result.model:
        kw["model"] = result.model  # "none of these" / skip: the ranking that was shown
    if isinstance(pick, CandidatePick):
        kw["candidate_path"] = pick.path
        if result is not None and result.run_id is not None and pick.rank is not None:
            kw.update(run_id=result.run_id, rank=pick.rank)
            cand = next((c for c in result.candidates if c.rank == pick.rank), None)
            if cand is not None and getattr(cand, "p_match", None) is not None:
                kw["p_match"] = cand.p_match
    elif isinstance(pick, ManualPick):
        kw.update(lat=pick.lat, lon=pick.lon, heading=pick.heading,
                  precision_m=pick.precision_m, placed=pick.placed)
    try:
        return store.decide(query_id, status, **kw)
    except ValueError as exc:
        raise GeomatchError(str(exc), path) from None


def mark_unreadable(store: Store, path: str, reason: str) -> None:
    """Record that the photo at ``path`` cannot be read (it stays listed, not decidable)."""
    store.mark_unreadable(ensure_query(store, path), reason)


def undo(store: Store, curator: str | None = None) -> str | None:
    """Undo the newest action; returns the path of the photo it concerned (None if nothing;
    '' when it concerned several photos, e.g. a batch assignment)."""
    return _last_event_query(store) if store.undo(curator=curator) is not None else None


def redo(store: Store, curator: str | None = None) -> str | None:
    return _last_event_query(store) if store.redo(curator=curator) is not None else None


def _last_event_query(store: Store) -> str | None:
    events = store.events(limit=1)
    if not events:
        return None
    if events[0].query_id is None:
        return ""
    return store.query(events[0].query_id).path


def status_of(store: Store, path: str) -> str | None:
    """confirmed / rejected / skipped / unsure / none, or None while undecided or unknown."""
    q = store.find_query(path, by_content=False)
    if q is None or q.status == "open":
        return None
    return q.status


def confirmed_location(store: Store, path: str) -> tuple | None:
    """(lat, lon, heading, precision_m, placed) of the confirmed decision in force, for the
    map (precision_m None and placed "" when a candidate was confirmed)."""
    q = store.find_query(path, by_content=False)
    d = store.current_decision(q.id) if q is not None else None
    if d is None or d.status != "confirmed" or d.lat is None:
        return None
    return (d.lat, d.lon, d.heading, d.precision_m, d.placed or None)


def history_lines(store: Store, path: str) -> list[str]:
    q = store.find_query(path, by_content=False)
    return [str(e) for e in store.history(q.id)] if q is not None else []


def assign(store: Store, paths: list[str], to: str, *, curator: str = "") -> int:
    """Give the photos at ``paths`` to curator ``to`` to decide ('' = nobody), one undoable
    action (the queue's "Assign to…" and `geomatch assign`); returns how many changed."""
    ids = [ensure_query(store, p) for p in paths]
    return store.assign(ids, to, curator=curator) if ids else 0
