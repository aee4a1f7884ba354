"""Sequence matching on the shared image sequences, for benchmarks/calibrate.py.

For each evaluated query of corridor_vprbench and nordland_seqslam, the frames within ±half
steps of it (training.sequence.query_offsets) are searched exactly against the gallery and
combined along the diagonal (training.sequence.sequence_search, candidates spaced and
re-scored exactly as the app does); the open-set ranking removes
the true place from the gallery *before* the search, so no term of any diagonal uses a removed
frame. "The place" here is the related window (frames within ±5 steps, training.places.WINDOW),
not only the ±2-step ground truth: with sequence matching the frames 3–5 steps away score almost
as the true one (the same scene metres further on), and a gallery that lacks a place lacks that
stretch of the route. Measured both ways (half 15, top-1 fit): removing ±2 steps, corridor
removed→no_match 0.81, correct→match 0.56; removing ±5 steps 0.99 / 0.85.
"""

from __future__ import annotations

import numpy as np

from benchmarks.calib_data import all_queries
from geomatch_app.core.types import Candidate
from geomatch_app.training.calibration import (
    BASE_FEATURES,
    LabelledSet,
    Logistic,
    Samples,
    balance_weights,
    cross_validated_p,
    fit_logistic,
    measure,
    place_folds,
    rank_set,
    set_samples,
)
from geomatch_app.training.evaluation import is_match
from geomatch_app.training.places import rule_for
from geomatch_app.training.sequence import (
    SPACING,
    GalleryOrder,
    exact_search,
    query_offsets,
    sequence_search,
    without_rows,
)


def _cands(data: LabelledSet, ids: np.ndarray, scores: np.ndarray) -> list[Candidate]:
    g = data.gallery
    return [Candidate(r, float(s), g[i].path, g[i].lat, g[i].lon, g[i].heading, g[i].place_id)
            for r, (i, s) in enumerate(zip(ids, scores, strict=True), start=1)]


def sequence_rankings(data: LabelledSet, half: int, k: int = 84, model: str = "effnetlite2-gem"
                      ) -> tuple[list[list[Candidate]], list[list[Candidate]], list[int]]:
    """(full rankings, removed-place rankings, frames used) for every query of ``data``."""
    allq, alld = all_queries(data.name, model)
    offsets = query_offsets([p.place_id for p in allq], half)
    row = {p.path: i for i, p in enumerate(allq)}
    order = GalleryOrder.from_place_ids([p.place_id for p in data.gallery])
    rule = rule_for(p.place_id for p in data.gallery)
    search = exact_search(data.gdesc)
    full, removed, frames = [], [], []
    for q in data.queries:
        offs = offsets[row[q.path]] or {0: row[q.path]}
        descs = {o: alld[r] for o, r in offs.items()}
        ids, sc, n = sequence_search(search, descs, order, k, spacing=SPACING,
                                     vectors=lambda ids: data.gdesc[ids])
        full.append(_cands(data, ids, sc))
        frames.append(n)
        gone = np.array([rule.related(q.lat, q.lon, q.place_id, g.lat, g.lon, g.place_id) is True
                         for g in data.gallery])
        ids, sc, _n = sequence_search(exact_search(data.gdesc, gone), descs,
                                      without_rows(order, gone), k, spacing=SPACING,
                                      vectors=lambda ids: data.gdesc[ids])
        removed.append(_cands(data, ids, sc))
    return full, removed, frames


def sequence_samples(sets: list[tuple[LabelledSet, object]], half: int,
                     model: str = "effnetlite2-gem") -> tuple[Samples, dict]:
    """Top-1 feature rows (full and removed-place sequence rankings) of each sequence set, and
    R@1 single-frame vs sequence per set."""
    samples = Samples()
    offset = 0
    r_at_1 = {}
    for data, stats in sets:
        full, removed, frames = sequence_rankings(data, half, model=model)
        set_samples(data, stats, samples=samples, per_query=1, query_offset=offset,
                    rankings=full, removed_rankings=removed)
        offset += len(data.queries)
        single = rank_set(data, 1)
        r_at_1[data.name] = {
            "single_frame": float(np.mean([is_match(q, r[0], rule=rule_for(
                p.place_id for p in data.gallery)) for q, r in zip(data.queries, single,
                                                                   strict=True)])),
            "sequence": float(np.mean([is_match(q, r[0], rule=rule_for(
                p.place_id for p in data.gallery)) for q, r in zip(data.queries, full,
                                                                   strict=True)])),
            "median_frames": float(np.median(frames))}
    return samples, r_at_1


def subset(s: Samples, mask: np.ndarray) -> Samples:
    return Samples(*(list(np.asarray(v, dtype=object)[mask]) for v in (
        s.x, s.y, s.group, s.set_name, s.top1, s.open_set, s.query, s.inliers)))


def fit_sequence(samples: Samples, t_match: float, t_no: float) -> tuple[Logistic, dict]:
    """The sequence fit (every top-1 row, balanced per set) and its place-disjoint 5-fold
    measurements, per set and pooled."""
    a = samples.arrays()
    x, y = a["x"][:, :len(BASE_FEATURES)].astype(float), a["y"]
    w = balance_weights(a["set"])
    p = cross_validated_p(x, y, place_folds(a["group"]), w, BASE_FEATURES)
    out = {"pooled": measure(p, samples, t_match, t_no), "per_set": {}}
    for name in np.unique(a["set"]):
        m = a["set"] == name
        out["per_set"][str(name)] = measure(p[m], subset(samples, m), t_match, t_no)
    out["p_cv"] = p
    return fit_logistic(x, y, w, 1.0, BASE_FEATURES), out
