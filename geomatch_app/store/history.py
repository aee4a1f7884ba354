"""Human-readable provenance: how each decision was made, and whether the curators agree.

Pure functions over records, so the GUI's history panel, the CLI and the tests read the same
sentences ("confirmed by Ann using model effnetlite2-gem at rank 3, later changed").
"""

from __future__ import annotations

import math
from pathlib import PurePath

from geomatch_app.store.records import Agreement, DecisionRecord

AGREE_WITHIN_M = 50.0  # two map points this close count as the same place


def _who(curator: str) -> str:
    return curator or "an unnamed curator"


def describe_decision(d: DecisionRecord) -> str:
    """One sentence for one decision, without its later fate."""
    model = f" using model {d.model_name}" if d.model_name else ""
    rank = f" at rank {d.rank}" if d.rank is not None else ""
    cand = PurePath(d.candidate_path).name if d.candidate_path else ""
    if d.status == "confirmed":
        if d.candidate_path:
            text = f"confirmed by {_who(d.curator)}{model}{rank} (candidate {cand})"
        else:
            where = f"{d.lat:.5f}, {d.lon:.5f}"
            if d.precision_m is not None:
                where += f" ± {d.precision_m:.0f} m"
            what = "map point, subject" if d.placed == "subject" else "map point"
            text = f"confirmed by {_who(d.curator)} at {where} ({what}){model}"
    elif d.status == "rejected":
        what = f" candidate {cand}" if cand else ""
        text = f"rejected{what} by {_who(d.curator)}{model}{rank}"
    elif d.status == "none":
        text = f"none of these (not in this gallery) said by {_who(d.curator)}{model}"
    elif d.status == "unsure":
        text = f"marked unsure by {_who(d.curator)}"
    else:
        text = f"skipped by {_who(d.curator)}"
    if d.heading is not None:
        text += f", facing {d.heading:.0f}°"
    if d.note:
        text += f' — "{d.note}"'
    return text


def fate(d: DecisionRecord, later: list[DecisionRecord]) -> str:
    """current / later changed / undone, given the decisions made after ``d``."""
    if d.undone:
        return "undone"
    if any(x.curator == d.curator and not x.undone for x in later):
        return "later changed"
    return "current"


def haversine_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in metres (kept here so the store needs nothing from geo)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * 6_371_008.8 * math.asin(math.sqrt(min(1.0, a)))


def same_place(a: DecisionRecord, b: DecisionRecord, within_m: float = AGREE_WITHIN_M) -> bool:
    if a.candidate_path and b.candidate_path and a.candidate_path == b.candidate_path:
        return True
    if None in (a.lat, a.lon, b.lat, b.lon):
        return False
    return haversine_m(a.lat, a.lon, b.lat, b.lon) <= within_m  # type: ignore[arg-type]


def _place(d: DecisionRecord) -> str:
    if d.candidate_path:
        return PurePath(d.candidate_path).name
    return f"{d.lat:.5f}, {d.lon:.5f}"


def agreement_of(latest: dict[str, DecisionRecord]) -> Agreement:
    """Summarise each curator's current decision. Skips are not opinions and are left out."""
    votes = {c: d for c, d in latest.items() if d.status != "skipped"}
    if not votes:
        return Agreement("none", latest, "no decision yet")
    if len(votes) == 1:
        (curator, d), = votes.items()
        return Agreement("single", latest, f"only {_who(curator)}: {d.status}")
    decisions = list(votes.values())
    first = decisions[0]
    same_status = all(d.status == first.status for d in decisions)
    if same_status and first.status == "confirmed":
        agree = all(same_place(first, d) for d in decisions[1:])
    else:
        agree = same_status
    names = ", ".join(_who(c) for c in votes)
    if agree:
        return Agreement("agree", latest, f"{len(votes)} curators agree ({names}): {first.status}")
    if same_status:  # all confirmed, but not at the same place
        detail = "; ".join(f"{_who(c)}: {_place(d)}" for c, d in votes.items())
    else:
        detail = "; ".join(f"{_who(c)}: {d.status}" for c, d in votes.items())
    return Agreement("conflict", latest, f"curators disagree — {detail}")
