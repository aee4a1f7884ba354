"""The GUI's calls into the curation store, in one place: register a ranked query, decide,
undo/redo, status and history of a photo. Plain functions, no Qt (store is thread-safe, so
``record_run`` can run inside the ranking Worker)."""

from __future__ import annotations

from pathlib import Path

from geomatch_app.core.types import Candidate


def open_store(db_path: str | Path):
    from geomatch_app.store import Store

    return Store(db_path)


def query_id(store, path: str, create: bool = True) -> int | None:
    q = store.find_query(path)
    if q is not None:
        return q.id
    return store.add_query(path) if create else None


def record_run(store, result, index=None) -> int:
    """Keep the ranking (candidates + estimate) so a decision can say where it came from."""
    qid = query_id(store, result.path)
    model = result.model or None
    if index is not None:
        fp = getattr(index, "fingerprint", {}) or {}
        model = store.register_model(fp.get("name", result.model),
                                     weight_hash=fp.get("weight_hash", ""), fingerprint=fp)
    return store.record_suggestions(qid, result.candidates, model=model,
                                    estimate=result.estimate)


def decide(store, path: str, status: str, candidate: Candidate | None = None,
           manual: tuple | None = None, curator: str = "", model: str = "") -> int:
    """One decision about one photo; ``manual`` = (lat, lon, heading) for a map point."""
    qid = query_id(store, path)
    kw: dict = {"curator": curator}
    if candidate is not None:
        kw["candidate_path"] = candidate.path
    elif manual is not None:
        kw.update(lat=float(manual[0]), lon=float(manual[1]),
                  heading=manual[2] if len(manual) > 2 else None)
    return store.decide(qid, status, **kw)


def _last_event_query(store) -> str | None:
    events = store.events(limit=1)
    if not events or events[0].query_id is None:
        return None
    return store.query(events[0].query_id).path


def undo(store) -> str | None:
    """Undo the newest action; returns the path of the photo it concerned (None if nothing)."""
    return _last_event_query(store) if store.undo() is not None else None


def redo(store) -> str | None:
    return _last_event_query(store) if store.redo() is not None else None


def current_status(store, path: str) -> str | None:
    """confirmed / rejected / skipped / unsure, or None while undecided."""
    qid = query_id(store, path, create=False)
    if qid is None:
        return None
    d = store.current_decision(qid)
    return d.status if d is not None else None


def confirmed_location(store, path: str, result=None) -> tuple | None:
    """(lat, lon, heading) of the confirmed decision in force, for the map."""
    qid = query_id(store, path, create=False)
    if qid is None:
        return None
    d = store.current_decision(qid)
    if d is None or d.status != "confirmed" or d.lat is None:
        return None
    return (d.lat, d.lon, d.heading)


def history_lines(store, path: str) -> list[str]:
    qid = query_id(store, path, create=False)
    if qid is None:
        return []
    return [str(e) for e in store.history(qid)]
