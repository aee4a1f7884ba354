"""When two photos show "the same place": the ground-truth rule of a gallery.

Photos with coordinates are the same place within ``threshold_m`` (25 m by default, as
VPR-methods-evaluation counts positives). Photos with only a place id are the same place when
the ids are equal — except in an *image sequence* (a train or robot recording, one frame per
place id ``name_<number>``), where neighbouring frames are a few metres apart and show the same
scene. There the customary ground truth is tolerant: frames within ±2 sequence steps count as
one place (VPR-Bench's corridor ``gt_positives.csv`` is exactly i±2; Nordland's SOURCE says
±1–2 frames). Treating frame i+1 as a *different* place would make a correct answer look wrong
and a near-duplicate look like an unrelated photo, which is what kept the open-set calibration
from working on the sequence sets (issue 12).

A prefix is a sequence when at least ``MIN_FRAMES`` labelled photos carry it, no two of them
share an id, and most gaps between the sorted frame numbers are one common step (10 for
Nordland's file numbers, 1 for the corridor). The rule is detected from the gallery's own place
ids, so a photo gallery (several photos per place, or ids that are not ``name_<number>``) keeps
exact ids.

"Unrelated" is stricter than "not the same place": frames 3–5 steps away still look almost
alike, so the calibration's margin and gallery statistics (training.calibration) only count
photos outside a window of ±``WINDOW`` steps as unrelated — the exclusion window SeqSLAM uses
for its uniqueness ratio. Measured on corridor_vprbench with the default model (top-1 correct
vs wrong): score minus the best score outside ±2 steps AUROC 0.72, ±3 0.75, ±5 0.81, ±8 0.81,
±12 0.80; the raw score 0.61.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from geomatch_app.geo.distance import haversine_m

DEFAULT_THRESHOLD_M = 25.0
SEQUENCE_TOLERANCE = 2  # steps either side
WINDOW = 5  # steps either side that are not "unrelated" (see module doc)
MIN_FRAMES = 20
BLOCK_STEPS = 10  # place-disjoint folds keep runs of 10 frames together

_FRAME = re.compile(r"^(?P<prefix>.+)_(?P<num>\d+)$")


def _frame(place_id: str) -> tuple[str, int] | None:
    m = _FRAME.match(place_id or "")
    return (m.group("prefix"), int(m.group("num"))) if m else None


@dataclass(frozen=True)
class PlaceRule:
    """Same-place test of one gallery; ``sequences`` maps a sequence prefix to its step."""

    threshold_m: float = DEFAULT_THRESHOLD_M
    sequences: tuple[tuple[str, int], ...] = ()
    tolerance: int = SEQUENCE_TOLERANCE

    def same(self, a_lat, a_lon, a_place: str, b_lat, b_lon, b_place: str) -> bool | None:
        """True/False, or None when neither coordinates nor place ids can tell."""
        if None not in (a_lat, a_lon, b_lat, b_lon):
            return bool(haversine_m(a_lat, a_lon, b_lat, b_lon) <= self.threshold_m)
        if not (a_place and b_place):
            return None
        if a_place == b_place:
            return True
        apart = self._steps_apart(a_place, b_place)
        return apart is not None and apart <= self.tolerance

    def related(self, a_lat, a_lon, a_place: str, b_lat, b_lon, b_place: str) -> bool | None:
        """Like :meth:`same`, but frames of a sequence within ±WINDOW steps are related too:
        the photos the calibration must not take for "another place" that looks alike."""
        same = self.same(a_lat, a_lon, a_place, b_lat, b_lon, b_place)
        if same is False and None in (a_lat, a_lon, b_lat, b_lon):
            apart = self._steps_apart(a_place, b_place)
            return apart is not None and apart <= WINDOW
        return same

    def _steps_apart(self, a_place: str, b_place: str) -> float | None:
        """How many sequence steps apart two frames of one detected sequence are (None when
        the ids are not frames of the same sequence)."""
        if not self.sequences:
            return None
        fa, fb = _frame(a_place), _frame(b_place)
        steps = dict(self.sequences)
        if fa and fb and fa[0] == fb[0] and fa[0] in steps:
            return abs(fa[1] - fb[1]) / steps[fa[0]]
        return None

    def related_matrix(self, lats, lons, places) -> np.ndarray:
        """:meth:`related` of every pair at once, as int8: 1 related, 0 not, -1 unknown.
        (The calibration compares all pairs of a ranking for every query: the pairwise calls
        cost ~2.5 ms per query, this ~0.2 ms; a test checks both agree.)"""
        lat = np.array([np.nan if v is None else v for v in lats], np.float64)
        lon = np.array([np.nan if v is None else v for v in lons], np.float64)
        places = [p or "" for p in places]
        n = len(places)
        out = np.full((n, n), -1, np.int8)
        has = ~(np.isnan(lat) | np.isnan(lon))
        coords = has[:, None] & has[None, :]
        if coords.any():
            d = haversine_m(lat[:, None], lon[:, None], lat[None, :], lon[None, :])
            out[coords] = (d[coords] <= self.threshold_m).astype(np.int8)
        named = np.array([bool(p) for p in places])
        ids = named[:, None] & named[None, :] & ~coords
        if ids.any():
            _, code = np.unique(np.array(places, dtype=object), return_inverse=True)
            rel = code[:, None] == code[None, :]
            if self.sequences:
                steps = dict(self.sequences)
                frames = [_frame(p) for p in places]
                seq = {pre: i for i, pre in enumerate(steps)}
                sid = np.array([seq.get(f[0], -1) if f else -1 for f in frames])
                num = np.array([f[1] if f else 0 for f in frames], np.int64)
                step = np.array([steps[f[0]] if f and f[0] in steps else 0 for f in frames])
                same_seq = (sid[:, None] == sid[None, :]) & (sid[:, None] >= 0)
                rel |= same_seq & (np.abs(num[:, None] - num[None, :])
                                   <= WINDOW * step[:, None])
            out[ids] = rel[ids].astype(np.int8)
        return out

    def group(self, place_id: str) -> str:
        """A fold group for place-disjoint cross-validation: the place id, or for a sequence
        the block of ``BLOCK_STEPS`` frames it falls in (so tolerant neighbours share a fold)."""
        f = _frame(place_id)
        steps = dict(self.sequences)
        if f and f[0] in steps:
            return f"{f[0]}#{f[1] // (steps[f[0]] * BLOCK_STEPS)}"
        return place_id

    def describe(self) -> str:
        if not self.sequences:
            return f"same place id, or within {self.threshold_m:g} m"
        seq = ", ".join(f"{p}_ (step {s})" for p, s in self.sequences)
        return (f"within {self.threshold_m:g} m, or equal place id; image sequences {seq}: "
                f"frames within ±{self.tolerance} steps")

    def to_json(self) -> dict:
        return {"threshold_m": self.threshold_m, "tolerance": self.tolerance,
                "sequences": [[p, s] for p, s in self.sequences]}

    @classmethod
    def from_json(cls, d: dict | None, threshold_m: float = DEFAULT_THRESHOLD_M) -> PlaceRule:
        if not d:
            return cls(threshold_m)
        return cls(float(d.get("threshold_m", threshold_m)),
                   tuple((str(p), int(s)) for p, s in d.get("sequences", [])),
                   int(d.get("tolerance", SEQUENCE_TOLERANCE)))


def detect_sequences(place_ids: Iterable[str]) -> tuple[tuple[str, int], ...]:
    """(prefix, step) of every image sequence among a gallery's place ids (see module doc)."""
    frames: dict[str, list[int]] = defaultdict(list)
    for pid in place_ids:
        f = _frame(pid)
        if f:
            frames[f[0]].append(f[1])
    out = []
    for prefix, nums in sorted(frames.items()):
        if len(nums) < MIN_FRAMES or len(set(nums)) != len(nums):
            continue
        nums.sort()
        gaps = [b - a for a, b in zip(nums, nums[1:], strict=False)]
        step = min(gaps)
        if step > 0 and sum(g == step for g in gaps) >= 0.8 * len(gaps):
            out.append((prefix, step))
    return tuple(out)


def rule_for(place_ids: Iterable[str], threshold_m: float = DEFAULT_THRESHOLD_M) -> PlaceRule:
    """The gallery's ground-truth rule from its place ids."""
    return PlaceRule(threshold_m, detect_sequences(place_ids))
