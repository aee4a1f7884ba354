"""Calibrated match probabilities and the open-set verdict ("is this photo in the gallery?").

Why: a raw cosine means different things in different galleries. A campus gallery where
unrelated photos already score 0.8 with each other gives its best-of-a-bad-lot 0.85; a street
gallery where unrelated photos score 0.5 gives a true match 0.7. Measured with the day-one model,
the raw top-1 cosine separates a correct top-1 from a wrong one within a set but not across sets
(pooled AUROC 0.46, issue 12). So every candidate's score is read *against its own gallery*:

- ``score``      s, the cosine of candidate and query;
- ``margin``     s − the best score of a candidate of a *different place* (Lowe's ratio test in
                 score form: a true match stands out from the look-alikes of other places);
- ``z``          (s − μ) / σ where μ, σ are the mean / std of the *nearest-unrelated-neighbour*
                 similarity among gallery photos (each labelled photo's most similar photo of
                 another place) — how high s is compared with what unrelated photos reach here;
- ``margin_z``   margin / σ;
- ``tail``       logit of the share of those unrelated-neighbour similarities below s;
- ``inliers``    log(1 + RANSAC inliers) of geometric verification (models.verify), when run.

A logistic regression (Platt scaling, on standardised features, L2-regularised, fitted by
Newton's method) maps them to ``p_match`` = P(candidate shows the query's place). It is fitted
per model on the ../shared/data sets with place-disjoint folds (benchmarks/calibrate.py), stored
as a small JSON with the model (``resources/models/calibration/<name>.json`` in the package for
built-ins, ``calibration.json`` in a fine-tuned model's folder) and refitted after fine-tuning
(:func:`refit_model_dir`). A gallery without place labels or coordinates, where "unrelated" is
unknown, falls back to the reference statistics stored with the model's calibration.

Numpy only (plus faiss for large galleries): no torch, no Qt, no store.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np

from geomatch_app.core import files
from geomatch_app.core.errors import GeomatchError
from geomatch_app.core.types import Candidate, Estimate, Photo
from geomatch_app.geo.distance import haversine_m
from geomatch_app.training.places import PlaceRule, rule_for

log = logging.getLogger(__name__)

FORMAT = 1
CALIBRATION_FILE = "calibration.json"  # in a fine-tuned model's folder
STATS_FILE = "gallery_stats.json"  # cached in an index folder
BASE_FEATURES = ("score", "margin", "z", "margin_z", "tail")
VERIFIED_FEATURES = BASE_FEATURES + ("inliers",)
DEFAULT_THRESHOLD_M = 25.0
VERDICTS = ("match", "uncertain", "no_match")
VERDICT_TEXT = {
    "match": "Confident match in this gallery",
    "uncertain": "Uncertain — check the candidates before confirming",
    "no_match": "No confident match in this gallery — the closest photos are shown for reference",
}
_QUANTILES = np.linspace(0.0, 1.0, 101)
_VERDICT_ORDER = {"match": 0, "uncertain": 1, "no_match": 2}


def verdict_sort_key(verdict: str | None, p_best: float | None = None) -> tuple[int, float]:
    """Queue order: confident matches first (quick to confirm), then uncertain, then no_match,
    then photos not ranked or not calibrated; within a verdict the most probable first."""
    return (_VERDICT_ORDER.get(verdict or "", 3), -(p_best or 0.0))


# -- places ----------------------------------------------------------------------------------

def same_place(a_lat, a_lon, a_place: str, b_lat, b_lon, b_place: str,
               threshold_m: float = DEFAULT_THRESHOLD_M,
               rule: PlaceRule | None = None) -> bool | None:
    """Whether two photos show one place: within ``threshold_m`` when both have coordinates,
    else equal place ids (or neighbouring frames of an image sequence, training.places) when
    both have one; None when neither can tell (unlabelled)."""
    rule = rule or PlaceRule(threshold_m)
    return rule.same(a_lat, a_lon, a_place, b_lat, b_lon, b_place)


def _same(a: Candidate | Photo, b: Candidate | Photo, rule: PlaceRule) -> bool | None:
    return rule.same(a.lat, a.lon, a.place_id, b.lat, b.lon, b.place_id)


def _related(a: Candidate | Photo, b: Candidate | Photo, rule: PlaceRule) -> bool | None:
    """Same place, or a sequence frame too close to count as unrelated (training.places)."""
    return rule.related(a.lat, a.lon, a.place_id, b.lat, b.lon, b.place_id)


def without_place(query: Photo, candidates: Sequence[Candidate],
                  threshold_m: float = DEFAULT_THRESHOLD_M,
                  rule: PlaceRule | None = None, related: bool = False) -> list[Candidate]:
    """The ranking the query would get from a gallery *without its true place*: every
    candidate that matches the query is dropped and the rest re-ranked 1..n (open-set test).
    ``related``: drop the frames within the related window too (places.WINDOW) — for a
    sequence ranking, where the frames 3–5 steps away score almost as the true one
    (benchmarks/calib_sequence.py)."""
    rule = rule or PlaceRule(threshold_m)
    drop = _related if related else _same
    keep = [c for c in sorted(candidates, key=lambda c: c.rank)
            if not drop(query, c, rule)]
    return [replace(c, rank=i) for i, c in enumerate(keep, start=1)]


# -- gallery statistics ----------------------------------------------------------------------

@dataclass
class GalleryStats:
    """Nearest-unrelated-neighbour similarity among gallery photos under one model."""

    n: int
    mean: float
    std: float
    quantiles: list[float]  # 101 values: 0 %, 1 %, ..., 100 %
    key: str = ""
    rule: dict = field(default_factory=dict)  # the gallery's PlaceRule (image sequences)

    def place_rule(self, threshold_m: float = DEFAULT_THRESHOLD_M) -> PlaceRule:
        return PlaceRule.from_json(self.rule, threshold_m)

    def cdf(self, s: np.ndarray) -> np.ndarray:
        """Share of unrelated-neighbour similarities below s (interpolated quantiles)."""
        q = np.asarray(self.quantiles, dtype=np.float64)
        q = np.maximum.accumulate(q + np.arange(len(q)) * 1e-9)  # strictly increasing for interp
        return np.interp(np.asarray(s, dtype=np.float64), q, _QUANTILES)

    def to_json(self) -> dict:
        return {"n": self.n, "mean": self.mean, "std": self.std,
                "quantiles": [round(float(v), 6) for v in self.quantiles], "key": self.key,
                "rule": self.rule}

    @classmethod
    def from_json(cls, d: dict) -> GalleryStats:
        return cls(int(d["n"]), float(d["mean"]), float(d["std"]),
                   [float(v) for v in d["quantiles"]], str(d.get("key", "")),
                   dict(d.get("rule") or {}))

    @classmethod
    def from_values(cls, values: np.ndarray, key: str = "",
                    rule: PlaceRule | None = None) -> GalleryStats:
        v = np.asarray(values, dtype=np.float64)
        return cls(len(v), float(v.mean()), float(max(v.std(), 1e-3)),
                   [float(x) for x in np.quantile(v, _QUANTILES)], key,
                   rule.to_json() if rule and rule.sequences else {})


def unrelated_neighbour_sims(descs: np.ndarray, photos: Sequence[Photo],
                             threshold_m: float = DEFAULT_THRESHOLD_M, max_probes: int = 2000,
                             k: int = 64, seed: int = 0,
                             rule: PlaceRule | None = None) -> np.ndarray:
    """For each labelled gallery photo (up to ``max_probes``, a fixed random sample), the
    similarity of its most similar photo of *another* place. Neighbours whose relation is
    unknown (no label) are skipped; so are probes with no unrelated photo among their k.
    (Exact inner products over ``descs``; :func:`index_unrelated_sims` does the same through an
    index.)"""
    descs = np.ascontiguousarray(descs, dtype=np.float32)
    rule = rule or rule_for((p.place_id for p in photos), threshold_m)
    n = len(photos)
    labelled = [i for i, p in enumerate(photos) if p.place_id or p.has_location]
    if n < 2 or not labelled:
        return np.zeros(0)
    rng = np.random.default_rng(seed)
    probes = np.array(labelled)
    if len(probes) > max_probes:
        probes = np.sort(rng.choice(probes, max_probes, replace=False))
    k = min(n, k)
    if n <= 5000:
        sims = descs[probes] @ descs.T
        order = np.argsort(-sims, axis=1)[:, :k]
        top = np.take_along_axis(sims, order, axis=1)
    else:
        import faiss

        index = faiss.IndexFlatIP(descs.shape[1])
        index.add(descs)
        top, order = index.search(descs[probes], k)
    out = []
    for row, (i, nbrs) in enumerate(zip(probes, order, strict=True)):
        for col, j in enumerate(nbrs):
            if j == i or j < 0:
                continue
            rel = _related(photos[i], photos[j], rule)
            if rel is False:
                out.append(float(top[row, col]))
                break
    return np.asarray(out, dtype=np.float64)


def gallery_stats(descs: np.ndarray, photos: Sequence[Photo],
                  threshold_m: float = DEFAULT_THRESHOLD_M, key: str = "") -> GalleryStats | None:
    """The gallery's own score scale, or None when fewer than 5 photos have an unrelated
    labelled neighbour (then the model's reference statistics stand in)."""
    rule = rule_for((p.place_id for p in photos), threshold_m)
    v = unrelated_neighbour_sims(descs, photos, threshold_m, rule=rule)
    if len(v) < 5:
        return None
    return GalleryStats.from_values(v, key, rule)


def _stats_key(index) -> str:
    """Changes with the model's weights and with the index's vectors or photo rows."""
    h = hashlib.sha256(b"place-rule-2")  # older caches had no sequence rule: recompute them
    h.update(str(index.fingerprint.get("weight_hash", "")).encode())
    h.update(str(index.fingerprint.get("name", "")).encode())
    h.update(str(getattr(index, "content_key", "")).encode())
    return h.hexdigest()[:16]


PROBE_BATCH = 64  # probes searched at once: 2000 at once took 5 GB in a 1M ivffs index


def index_unrelated_sims(index, threshold_m: float = DEFAULT_THRESHOLD_M,
                         max_probes: int = 2000, k: int = 64,
                         seed: int = 0) -> tuple[np.ndarray, PlaceRule]:
    """:func:`unrelated_neighbour_sims` through an opened Index, with the gallery's place rule:
    up to ``max_probes`` labelled photos (a fixed random sample) are searched with the index's
    own structure, so a large gallery is never loaded whole."""
    labelled = index.labelled_ids()  # ids and place ids only: a 1M table's records took 7 GB
    rule = rule_for(index.column("place_id"), threshold_m)
    if len(index) < 2 or not labelled:
        return np.zeros(0), rule
    probes = np.array(labelled)
    if len(probes) > max_probes:
        probes = np.sort(np.random.default_rng(seed).choice(probes, max_probes, replace=False))
    photos = dict(zip(probes.tolist(), index.photos_at(probes), strict=True))
    results = []
    for start in range(0, len(probes), PROBE_BATCH):  # faiss's lookup tables grow per query
        chunk = probes[start:start + PROBE_BATCH]
        results += index.search(index.descriptors(chunk), k=min(k, len(index)))
    out = []
    for pid, cands in zip(probes, results, strict=True):
        probe = photos[int(pid)]
        for c in cands:
            if c.path != probe.path and _related(probe, c, rule) is False:
                out.append(float(c.score))
                break
    return np.asarray(out, dtype=np.float64), rule


def index_gallery_stats(index, threshold_m: float = DEFAULT_THRESHOLD_M) -> GalleryStats | None:
    """The gallery statistics of an opened Index, computed once and cached in its folder
    (``gallery_stats.json``, keyed by model weights and the index's content key)."""
    key = _stats_key(index)
    path = Path(index.folder) / STATS_FILE
    try:
        cached = json.loads(path.read_text())
        if cached.get("key") == key:
            return GalleryStats.from_json(cached["stats"]) if cached.get("stats") else None
    except (OSError, ValueError, KeyError):
        pass
    v, rule = index_unrelated_sims(index, threshold_m)
    stats = GalleryStats.from_values(v, key, rule) if len(v) >= 5 else None
    try:
        files.write_text(path, json.dumps({"key": key,
                                           "stats": stats.to_json() if stats else None}))
    except OSError as exc:  # a read-only index still gets its statistics, just not cached
        log.info("%s: cannot cache gallery statistics (%s)", path, exc)
    return stats


# -- features --------------------------------------------------------------------------------

def candidate_features(candidates: Sequence[Candidate], stats: GalleryStats,
                       inliers: Sequence[int | None] | None = None,
                       threshold_m: float = DEFAULT_THRESHOLD_M) -> np.ndarray:
    """(n, 5) or (n, 6) features of each candidate in ranked order (see module docstring).
    "Different place" follows the gallery's rule (``stats.rule``: neighbouring frames of an
    image sequence are the same place)."""
    rule = stats.place_rule(threshold_m)
    cands = list(candidates)
    s = np.array([c.score for c in cands], dtype=np.float64)
    rel = rule.related_matrix([c.lat for c in cands], [c.lon for c in cands],
                              [c.place_id for c in cands])
    paths = np.array([c.path for c in cands], dtype=object)
    other_place = (rel != 1) & (paths[:, None] != paths[None, :])  # excludes i == j
    masked = np.where(other_place, s[None, :], -np.inf)
    other = masked.max(axis=1) if cands else np.zeros(0)
    other = np.where(np.isfinite(other), other, stats.quantiles[50])
    margin = s - other
    z = (s - stats.mean) / stats.std
    cdf = np.clip(stats.cdf(s), 1e-3, 1 - 1e-3)
    tail = np.log(cdf / (1 - cdf))
    cols = [s, margin, z, margin / stats.std, tail]
    if inliers is not None:
        cols.append(np.log1p(np.array([0 if v is None else v for v in inliers], np.float64)))
    return np.column_stack(cols) if cands else np.zeros((0, len(cols)))


# -- logistic regression ---------------------------------------------------------------------

@dataclass
class Logistic:
    """p = σ(w·(x − mean)/scale + b): Platt scaling on standardised features."""

    features: list[str]
    mean: list[float]
    scale: list[float]
    coef: list[float]
    intercept: float

    def predict(self, x: np.ndarray) -> np.ndarray:
        x = (np.asarray(x, np.float64) - np.asarray(self.mean)) / np.asarray(self.scale)
        return _sigmoid(x @ np.asarray(self.coef) + self.intercept)

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, d: dict) -> Logistic:
        return cls(list(d["features"]), [float(v) for v in d["mean"]],
                   [float(v) for v in d["scale"]], [float(v) for v in d["coef"]],
                   float(d["intercept"]))


def _sigmoid(t: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(t, -40, 40)))


def fit_logistic(x: np.ndarray, y: np.ndarray, weights: np.ndarray | None = None,
                 l2: float = 1.0, features: Sequence[str] = BASE_FEATURES) -> Logistic:
    """Maximum a-posteriori logistic regression (Gaussian prior on the coefficients, not the
    intercept) by Newton's method; a few iterations converge for these handfuls of features."""
    x = np.asarray(x, np.float64)
    y = np.asarray(y, np.float64)
    w = np.ones(len(y)) if weights is None else np.asarray(weights, np.float64)
    w = w * len(w) / w.sum()
    mean = np.average(x, axis=0, weights=w)
    scale = np.sqrt(np.average((x - mean) ** 2, axis=0, weights=w))
    scale = np.where(scale < 1e-9, 1.0, scale)
    xs = np.column_stack([(x - mean) / scale, np.ones(len(y))])
    beta = np.zeros(xs.shape[1])
    reg = np.full(xs.shape[1], l2)
    reg[-1] = 0.0
    for _ in range(100):
        p = _sigmoid(xs @ beta)
        grad = xs.T @ (w * (p - y)) + reg * beta
        hess = (xs * (w * p * (1 - p))[:, None]).T @ xs + np.diag(reg + 1e-9)
        step = np.linalg.solve(hess, grad)
        beta -= step
        if np.abs(step).max() < 1e-8:
            break
    return Logistic(list(features), mean.tolist(), scale.tolist(), beta[:-1].tolist(),
                    float(beta[-1]))


# -- measures --------------------------------------------------------------------------------

def auroc(scores: Sequence[float], labels: Sequence[bool]) -> float | None:
    """Area under the ROC curve (Mann–Whitney U with tied ranks averaged); None without both
    classes."""
    s = np.asarray(scores, np.float64)
    y = np.asarray(labels, bool)
    n1, n0 = int(y.sum()), int((~y).sum())
    if n1 == 0 or n0 == 0:
        return None
    order = np.argsort(s, kind="mergesort")
    ranks = np.empty(len(s))
    sorted_s = s[order]
    i = 0
    while i < len(s):  # average ranks over ties
        j = i
        while j + 1 < len(s) and sorted_s[j + 1] == sorted_s[i]:
            j += 1
        ranks[order[i:j + 1]] = (i + j) / 2.0 + 1.0
        i = j + 1
    return float((ranks[y].sum() - n1 * (n1 + 1) / 2.0) / (n1 * n0))


def ece(probs: Sequence[float], labels: Sequence[bool], bins: int = 10) -> float | None:
    """Expected calibration error (Guo et al. 2017): Σ_b |B_b|/n · |mean p − accuracy| over
    equal-width probability bins."""
    p = np.asarray(probs, np.float64)
    y = np.asarray(labels, np.float64)
    if len(p) == 0:
        return None
    b = np.minimum((p * bins).astype(int), bins - 1)
    total = 0.0
    for k in range(bins):
        m = b == k
        if m.any():
            total += m.sum() / len(p) * abs(p[m].mean() - y[m].mean())
    return float(total)


# -- the calibration of one model ------------------------------------------------------------

@dataclass
class Calibration:
    """What a model needs to turn a ranking into probabilities and a verdict."""

    model: str
    weight_hash: str
    base: Logistic
    verified: Logistic | None = None
    match_threshold: float = 0.65  # benchmarks/calibrate.py chooses them from measurements
    no_match_threshold: float = 0.5
    reference_stats: GalleryStats | None = None
    rerank: dict = field(default_factory=dict)  # {"default": bool, "k": int, "per_set": {...}}
    report: dict = field(default_factory=dict)  # how it was fitted and what it measured
    inherited_from: str = ""  # set when a fine-tuned model reuses its base model's fit
    # rankings of a frame with its neighbouring frames (training.sequence): fitted on the top-1
    # of sequence rankings of the shared image sequences (benchmarks/calibrate.py --sequence)
    sequence: Logistic | None = None

    # -- use ---------------------------------------------------------------------------------
    def p_match(self, candidates: Sequence[Candidate], stats: GalleryStats | None,
                inliers: Sequence[int | None] | None = None,
                sequence: bool = False) -> np.ndarray:
        """P(same place) for each candidate, in the order given. Candidates with an inlier
        count (not None) use the verified fit, the others the descriptor-only one;
        ``sequence``: the scores are sequence scores (training.sequence), read by the sequence
        fit (GeomatchError when the calibration has none)."""
        stats = stats or self.reference_stats
        if stats is None:
            raise GeomatchError("calibration has no reference gallery statistics",
                                self.model, "refit it with benchmarks/calibrate.py")
        if not candidates:
            return np.zeros(0)
        base = candidate_features(candidates, stats)
        if sequence:
            if self.sequence is None:
                raise GeomatchError("calibration has no fit for sequence matching", self.model,
                                    "refit it with benchmarks/calibrate.py --sequence")
            return self.sequence.predict(base)
        p = self.base.predict(base)
        if inliers is not None and self.verified is not None:
            have = np.array([v is not None for v in inliers])
            if have.any():
                x = np.column_stack([base, np.log1p([v or 0 for v in inliers])])
                p[have] = self.verified.predict(x[have])
        return p

    def verdict(self, p_best: float | None) -> str:
        """"match" | "uncertain" | "no_match" from the best candidate's p_match."""
        if p_best is None or p_best < self.no_match_threshold:
            return "no_match"
        return "match" if p_best >= self.match_threshold else "uncertain"

    # -- storage -----------------------------------------------------------------------------
    def to_json(self) -> dict:
        return {
            "format": FORMAT, "model": self.model, "weight_hash": self.weight_hash,
            "base": self.base.to_json(),
            "verified": self.verified.to_json() if self.verified else None,
            "thresholds": {"match": self.match_threshold, "no_match": self.no_match_threshold},
            "reference_stats": self.reference_stats.to_json() if self.reference_stats else None,
            "rerank": self.rerank, "report": self.report, "inherited_from": self.inherited_from,
            "sequence": self.sequence.to_json() if self.sequence else None,
        }

    @classmethod
    def from_json(cls, d: dict) -> Calibration:
        if d.get("format") != FORMAT:
            raise ValueError(f"unknown calibration format {d.get('format')!r}")
        th = d.get("thresholds", {})
        ref = d.get("reference_stats")
        return cls(d["model"], d.get("weight_hash", ""), Logistic.from_json(d["base"]),
                   Logistic.from_json(d["verified"]) if d.get("verified") else None,
                   float(th.get("match", 0.65)), float(th.get("no_match", 0.5)),
                   GalleryStats.from_json(ref) if ref else None, dict(d.get("rerank") or {}),
                   dict(d.get("report") or {}), str(d.get("inherited_from", "")),
                   Logistic.from_json(d["sequence"]) if d.get("sequence") else None)

    def save(self, path: str | Path) -> Path:
        """Atomic, durable write (core.files)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        return files.write_text(path, json.dumps(self.to_json(), indent=1) + "\n",
                                durable=True)

    @classmethod
    def load(cls, path: str | Path) -> Calibration:
        path = Path(path)
        try:
            return cls.from_json(json.loads(path.read_text(encoding="utf-8")))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise GeomatchError(f"calibration file is unreadable ({exc})", path,
                                "delete it and refit with benchmarks/calibrate.py") from None


def builtin_calibration_path(model_name: str) -> Path:
    from geomatch_app.core.paths import models_dir

    return models_dir() / "calibration" / f"{model_name}.json"


def calibration_path(fingerprint: dict) -> Path | None:
    """Where the calibration of the model with this fingerprint lives: ``calibration.json`` in
    a fine-tuned model's folder, ``resources/models/calibration/<name>.json`` for a built-in."""
    from geomatch_app.models.checkpoint import find_model_dir

    name = str(fingerprint.get("name", ""))
    if not name:
        return None
    model_dir = find_model_dir(name)
    if model_dir is not None:
        return Path(model_dir) / CALIBRATION_FILE
    return builtin_calibration_path(name)


def calibration_key(fingerprint: dict) -> str:
    """Changes whenever the model's calibration file does ("" when it has none), so a stored
    ranking made under another calibration is not re-used."""
    path = calibration_path(fingerprint)
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()[:12] if path else ""
    except OSError:
        return ""


def load_calibration(fingerprint: dict) -> Calibration | None:
    """The model's calibration, or None (with a log line) when it has none, its file is
    unreadable or it was fitted to other weights — then the caller shows raw scores only,
    never a made-up probability."""
    path = calibration_path(fingerprint)
    if path is None or not path.is_file():
        log.info("model %s has no calibration (%s)", fingerprint.get("name"), path)
        return None
    try:
        cal = Calibration.load(path)
    except GeomatchError as exc:  # rankings go on, uncalibrated; the message says what to do
        log.warning("%s", exc)
        return None
    if cal.weight_hash and cal.weight_hash != fingerprint.get("weight_hash") \
            and not cal.inherited_from:
        log.warning("%s was fitted to other weights of %s; ignored", path, cal.model)
        return None
    return cal


# -- applying it to a ranking ----------------------------------------------------------------

@dataclass
class Assessment:
    """A ranking read through the calibration."""

    candidates: list[Candidate]  # copies with p_match set
    verdict: str
    p_best: float


def assess(candidates: Sequence[Candidate], calibration: Calibration,
           stats: GalleryStats | None, inliers: Sequence[int | None] | None = None,
           sequence: bool = False) -> Assessment:
    """p_match on every candidate and the verdict of the ranking."""
    cands = sorted(candidates, key=lambda c: c.rank)
    p = calibration.p_match(cands, stats, inliers, sequence)
    out = [replace(c, p_match=round(float(v), 4)) for c, v in zip(cands, p, strict=True)]
    best = float(p.max()) if len(p) else 0.0
    return Assessment(out, calibration.verdict(best if len(p) else None), best)


def rerank_by_p(candidates: Sequence[Candidate], k: int) -> list[Candidate]:
    """The top-k re-ordered by (verified) p_match, ranks renumbered; the rest unchanged."""
    cands = sorted(candidates, key=lambda c: c.rank)
    top = sorted(cands[:k], key=lambda c: -(c.p_match or 0.0))
    rest = cands[k:]
    return [replace(c, rank=i) for i, c in enumerate(top + rest, start=1)]


def estimate_confidence(estimate: Estimate | None, candidates: Sequence[Candidate],
                        threshold_m: float = DEFAULT_THRESHOLD_M) -> Estimate | None:
    """The estimate with ``confidence`` = P(the true location lies within ``radius_m``).

    The truth is within the radius (up to the match threshold) when at least one candidate
    inside it truly shows the place: 1 − Π (1 − p_match) over those candidates (noisy-or).
    Measured on the located shared sets (benchmarks/calibrate.py, "estimate_confidence"),
    this is still *under*-confident — the truth was within the radius in 93 % of 28 rankings,
    mean confidence 0.57, ECE 0.38 (the max of p_match instead: 0.47, ECE 0.46) — because in a
    street gallery the photos next to the true spot also put the estimate near it; it was never
    over-confident there. Without p_match the KDE's relative confidence is kept.
    """
    if estimate is None:
        return None
    if not any(c.p_match is not None for c in candidates):
        return estimate
    miss = 1.0
    for c in candidates:
        if c.p_match is not None and c.lat is not None and c.lon is not None and \
                haversine_m(estimate.lat, estimate.lon, c.lat, c.lon) \
                <= estimate.radius_m + threshold_m:
            miss *= 1.0 - float(c.p_match)
    return replace(estimate, confidence=round(1.0 - miss, 4))


# -- fitting ---------------------------------------------------------------------------------

@dataclass
class LabelledSet:
    """A gallery and queries with ground truth, already embedded with the model."""

    name: str
    queries: list[Photo]
    gallery: list[Photo]
    qdesc: np.ndarray
    gdesc: np.ndarray


def rank_set(data: LabelledSet, k: int = 20) -> list[list[Candidate]]:
    """Top-k candidates of every query (exact inner-product search)."""
    sims = np.asarray(data.qdesc, np.float32) @ np.asarray(data.gdesc, np.float32).T
    k = min(k, sims.shape[1])
    out = []
    for row in sims:
        ids = np.argsort(-row, kind="stable")[:k]
        out.append([Candidate(r, float(row[i]), data.gallery[i].path, data.gallery[i].lat,
                              data.gallery[i].lon, data.gallery[i].heading,
                              data.gallery[i].place_id)
                    for r, i in enumerate(ids, start=1)])
    return out


@dataclass
class Samples:
    """Feature rows for calibration: one per (query, candidate) of the top ``per_query``."""

    x: list[np.ndarray] = field(default_factory=list)
    y: list[bool] = field(default_factory=list)
    group: list[str] = field(default_factory=list)  # the query's place: folds split on it
    set_name: list[str] = field(default_factory=list)
    top1: list[bool] = field(default_factory=list)
    open_set: list[bool] = field(default_factory=list)  # ranking with the true place removed
    query: list[int] = field(default_factory=list)
    inliers: list[int | None] = field(default_factory=list)

    def arrays(self) -> dict[str, np.ndarray]:
        return {"x": np.array(self.x), "y": np.array(self.y, bool),
                "group": np.array(self.group), "set": np.array(self.set_name),
                "top1": np.array(self.top1, bool), "open_set": np.array(self.open_set, bool),
                "query": np.array(self.query)}


def set_samples(data: LabelledSet, stats: GalleryStats, k: int = 20, per_query: int = 5,
                threshold_m: float = DEFAULT_THRESHOLD_M, open_set: bool = True,
                samples: Samples | None = None, verifier=None, query_offset: int = 0,
                rankings: Sequence[Sequence[Candidate]] | None = None,
                removed_rankings: Sequence[Sequence[Candidate]] | None = None) -> Samples:
    """Add the feature rows of one set: each query's top ``per_query`` of its ranking and, with
    ``open_set``, of its ranking against the gallery without its true place. ``verifier``
    (query_path, candidate_path) -> inliers adds the inlier feature. ``rankings`` and
    ``removed_rankings``: rankings computed elsewhere (sequence matching, training.sequence)
    instead of the exact single-photo ones and of dropping the true place from them."""
    from geomatch_app.training.evaluation import is_match

    samples = samples or Samples()
    rule = rule_for((p.place_id for p in data.gallery), threshold_m)
    if rankings is None:
        rankings = rank_set(data, k + 64 if open_set else k)
    for qi, (q, full) in enumerate(zip(data.queries, rankings, strict=True)):
        variants = [(False, list(full[:k]))]
        if open_set and removed_rankings is not None:
            variants.append((True, list(removed_rankings[qi][:k])))
        elif open_set:
            variants.append((True, without_place(q, full, threshold_m, rule)[:k]))
        group = rule.group(q.place_id) if q.place_id else f"{data.name}:{qi}"
        for removed, cands in variants:
            if not cands:
                continue
            inl = None
            if verifier is not None:
                inl = [verifier(q.path, c.path) if i < per_query else 0
                       for i, c in enumerate(cands)]
            feats = candidate_features(cands, stats, inl, threshold_m)
            for i, c in enumerate(cands[:per_query]):
                samples.x.append(feats[i])
                samples.y.append(is_match(q, c, threshold_m, rule))
                samples.group.append(f"{data.name}/{group}")
                samples.set_name.append(data.name)
                samples.top1.append(i == 0)
                samples.open_set.append(removed)
                samples.query.append(query_offset + qi)
                samples.inliers.append(None if inl is None else inl[i])
    return samples


def balance_weights(set_names: np.ndarray) -> np.ndarray:
    """Each set weighs the same in the fit, however many queries it has (Nordland would
    otherwise decide the calibration of a street gallery)."""
    names, counts = np.unique(set_names, return_counts=True)
    per = dict(zip(names, counts, strict=True))
    return np.array([len(set_names) / (len(names) * per[s]) for s in set_names])


def place_folds(groups: np.ndarray, n_folds: int = 5, seed: int = 0) -> np.ndarray:
    """Fold number per row such that no place is in two folds (place-disjoint CV)."""
    uniq = np.unique(groups)
    rng = np.random.default_rng(seed)
    perm = rng.permutation(len(uniq))
    fold_of = {g: int(perm[i] % n_folds) for i, g in enumerate(uniq)}
    return np.array([fold_of[g] for g in groups])


def cross_validated_p(x: np.ndarray, y: np.ndarray, folds: np.ndarray, weights: np.ndarray,
                      features: Sequence[str] = BASE_FEATURES, l2: float = 1.0) -> np.ndarray:
    """Out-of-fold p_match for every row."""
    p = np.zeros(len(y))
    for f in np.unique(folds):
        test = folds == f
        train = ~test
        if len(np.unique(y[train])) < 2:
            p[test] = y[train].mean() if train.any() else 0.5
            continue
        p[test] = fit_logistic(x[train], y[train], weights[train], l2, features).predict(x[test])
    return p


def fit_calibration(samples: Samples, model: str, weight_hash: str,
                    reference: GalleryStats | None, l2: float = 1.0,
                    match_threshold: float = 0.65, no_match_threshold: float = 0.5,
                    report: dict | None = None) -> Calibration:
    """Fit on every row (the cross-validated measurements are in ``report``)."""
    a = samples.arrays()
    if len(a["y"]) == 0 or len(np.unique(a["y"])) < 2:
        raise GeomatchError("calibration needs both true and false matches", model,
                            "use labelled sets where some queries are found and some are not")
    w = balance_weights(a["set"])
    base = fit_logistic(a["x"][:, :len(BASE_FEATURES)], a["y"], w, l2, BASE_FEATURES)
    verified = None
    if a["x"].shape[1] == len(VERIFIED_FEATURES):
        verified = fit_logistic(a["x"], a["y"], w, l2, VERIFIED_FEATURES)
    return Calibration(model, weight_hash, base, verified, match_threshold, no_match_threshold,
                       reference, report=report or {})


def pooled_reference(stats: Sequence[GalleryStats]) -> GalleryStats:
    """One reference scale for galleries without labels: the median set's statistics, by mean
    (a robust middle of the galleries the calibration saw)."""
    ordered = sorted(stats, key=lambda s: s.mean)
    return replace(ordered[len(ordered) // 2], key="reference", rule={})


def measure(p: np.ndarray, samples: Samples, match_threshold: float,
            no_match_threshold: float) -> dict:
    """The issue's measurements from out-of-fold p: top-1 correct-vs-wrong AUROC and ECE on
    the full rankings, and the open-set rates (removed-place top-1 flagged no_match; correct
    top-1 kept as match)."""
    a = samples.arrays()
    full_top = a["top1"] & ~a["open_set"]
    rem_top = a["top1"] & a["open_set"]
    y = a["y"]
    out = {"n": int(full_top.sum()),
           "auroc": auroc(p[full_top], y[full_top]),
           "ece": ece(p[full_top], y[full_top]),
           "n_correct_top1": int((full_top & y).sum())}
    correct = full_top & y
    out["correct_kept_match"] = (float(np.mean(p[correct] >= match_threshold))
                                 if correct.any() else None)
    out["removed_flagged_no_match"] = (float(np.mean(p[rem_top] < no_match_threshold))
                                       if rem_top.any() else None)
    out["n_removed"] = int(rem_top.sum())
    both = a["top1"]
    out["auroc_with_open_set"] = auroc(p[both], y[both])
    out["ece_with_open_set"] = ece(p[both], y[both])
    return out


# -- one ranking, end to end (what app.ranking.rank calls) ----------------------------------

@dataclass
class Judgement:
    """A ranking with p_match per candidate, the verdict and the calibrated estimate."""

    candidates: list[Candidate]
    estimate: Estimate | None
    verdict: str | None  # None: the model has no calibration (raw scores only)
    p_best: float | None = None
    inliers: dict[str, int] = field(default_factory=dict)  # candidate path -> inliers
    reranked: bool = False

    def to_json(self) -> dict:
        return {"verdict": self.verdict, "p_best": self.p_best, "reranked": self.reranked,
                "inliers": self.inliers}


def judge(index, query_path: str, candidates: Sequence[Candidate],
          estimate: Estimate | None = None, *, calibration: Calibration | None = None,
          verify: bool | None = None, rerank: bool | None = None, k_verify: int = 5,
          verifier=None, stats: GalleryStats | None = None, progress=None,
          sequence: bool = False) -> Judgement:
    """Read one ranking through the model's calibration.

    ``verify`` (default: when the calibration has a verified fit) runs geometric verification
    (models.verify) on the top ``k_verify`` and uses the inliers as evidence; ``rerank``
    (default: the calibration's measured decision, ``rerank["default"]``) re-orders those by
    verified p_match. The estimate's confidence becomes P(truth within its radius)
    (:func:`estimate_confidence`). Without a calibration the ranking is returned unchanged
    with ``verdict`` None. ``sequence``: the candidates' scores are sequence scores
    (training.sequence; verification is not used with them).
    """
    cal = calibration or load_calibration(index.fingerprint)
    cands = sorted(candidates, key=lambda c: c.rank)
    if cal is None or not cands:
        return Judgement(list(cands), estimate, None)
    stats = stats or index_gallery_stats(index)
    verify = cal.verified is not None if verify is None else verify
    inliers: list[int | None] | None = None
    found: dict[str, int] = {}
    if verify:
        from geomatch_app.models.verify import Verifier

        verifier = verifier or Verifier()
        inliers = []
        n = min(k_verify, len(cands))
        for i, c in enumerate(cands):
            if i < n:
                if progress is not None:
                    progress.step(i, n, "verifying geometry")
                found[c.path] = int(verifier(query_path, c.path))
                inliers.append(found[c.path])
            else:
                inliers.append(None)
    a = assess(cands, cal, stats, inliers, sequence)
    out = a.candidates
    rerank = bool(cal.rerank.get("default", False)) if rerank is None else rerank
    if rerank and verify:
        out = rerank_by_p(out, int(cal.rerank.get("k", k_verify)))
    est = estimate_confidence(estimate, out)
    return Judgement(out, est, a.verdict, round(a.p_best, 4), found, rerank and verify)


# -- refit after fine-tuning -----------------------------------------------------------------

def labelled_sets(model, manifests: Sequence[str | Path], device: str = "cpu",
                  progress=None) -> list[LabelledSet]:
    """Embed the gallery and query rows of each manifest with ``model``."""
    from geomatch_app.data.gallery import load_photos
    from geomatch_app.index.extract import embed_paths

    out = []
    for m in manifests:
        gallery = load_photos(m, role="gallery").photos
        queries = load_photos(m, role="query").photos
        if not gallery or not queries:
            continue
        # loader processes cost more than they save on these small sets
        g = embed_paths(model, [p.path for p in gallery], device=device, progress=progress,
                        workers=0 if len(gallery) < 256 else None)
        q = embed_paths(model, [p.path for p in queries], device=device, progress=progress,
                        workers=0 if len(queries) < 256 else None)
        gok = ~np.isnan(g).any(axis=1)
        qok = ~np.isnan(q).any(axis=1)
        out.append(LabelledSet(Path(m).parent.name, [p for p, k in zip(queries, qok,
                                                                        strict=True) if k],
                               [p for p, k in zip(gallery, gok, strict=True) if k],
                               q[qok], g[gok]))
    return out


def calibrate_model(model, sets: Sequence[LabelledSet], verify: bool = True,
                    base: Calibration | None = None) -> Calibration:
    """Fit a calibration for ``model`` on labelled sets (thresholds and re-rank decision are
    kept from ``base``, the calibration it was fine-tuned from, when given)."""
    samples = Samples()
    stats = []
    offset = 0
    for s in sets:
        st = gallery_stats(s.gdesc, s.gallery)
        if st is None:
            continue
        stats.append(st)
        verifier = None
        if verify:  # one cache per set, large enough that no photo is read twice
            from geomatch_app.models.verify import Verifier

            verifier = Verifier(cache_size=len(s.queries) + len(s.gallery))
        set_samples(s, st, samples=samples, verifier=verifier, query_offset=offset)
        offset += len(s.queries)
    if not stats:
        raise GeomatchError("no labelled gallery to calibrate on", getattr(model, "name", ""),
                            "give sets with place ids or coordinates")
    a = samples.arrays()
    folds = place_folds(a["group"])
    w = balance_weights(a["set"])
    cols = a["x"].shape[1]
    feats = VERIFIED_FEATURES if cols == len(VERIFIED_FEATURES) else BASE_FEATURES
    t_match = base.match_threshold if base else 0.65
    t_no = base.no_match_threshold if base else 0.5
    p = cross_validated_p(a["x"], a["y"], folds, w, feats)
    report = {"fitted_on": [s.name for s in sets],
              "place_disjoint_5fold": measure(p, samples, t_match, t_no)}
    cal = fit_calibration(samples, model.name, model.weight_hash(), pooled_reference(stats),
                          match_threshold=t_match, no_match_threshold=t_no, report=report)
    cal.rerank = dict(base.rerank) if base else {}
    return cal


SHARED_CALIBRATION_SETS = ("vprtutorial_triplets", "fordham_places", "opensfm_berlin_lund",
                           "corridor_vprbench")


def refit_model_dir(model_dir: str | Path, manifests: Sequence[str | Path] | None = None,
                    device: str = "cpu", progress=None,
                    verify: bool | None = None) -> Calibration:
    """Refit and save ``calibration.json`` of a fine-tuned model folder (the fine-tune path
    calls this after saving the weights). ``manifests`` default to the small ../shared/data
    sets when present; without any labelled data the base model's calibration is copied,
    marked ``inherited_from`` (its probabilities then describe the base model, and say so).
    ``verify`` (default: when the base calibration uses inliers) adds the verified fit."""
    from geomatch_app.core.paths import shared_data_dir
    from geomatch_app.models.checkpoint import load_model, read_config

    model_dir = Path(model_dir)
    model = load_model(model_dir, device=device)
    base_name = read_config(model_dir).get("base_model", "")
    base_cal = None
    base_path = builtin_calibration_path(base_name) if base_name else None
    if base_path is not None and base_path.is_file():
        base_cal = Calibration.load(base_path)
    if manifests is None:
        root = shared_data_dir()
        manifests = [root / n / "manifest.csv" for n in SHARED_CALIBRATION_SETS
                     if root is not None and (root / n / "manifest.csv").is_file()]
    sets = labelled_sets(model, manifests, device, progress) if manifests else []
    if verify is None:
        verify = base_cal is None or base_cal.verified is not None
    if sets:
        cal = calibrate_model(model, sets, verify=verify, base=base_cal)
    elif base_cal is not None:
        cal = replace(base_cal, model=model.name, weight_hash=model.weight_hash(),
                      inherited_from=base_name)
    else:
        raise GeomatchError("no labelled data to calibrate on and no base calibration",
                            model_dir, "pass labelled manifests (place_id or lat/lon)")
    cal.save(model_dir / CALIBRATION_FILE)
    from geomatch_app.models.checkpoint import CARD_FILE

    write_card_section(model_dir / CARD_FILE, cal)
    return cal


def card_section(cal: Calibration, where: str = CALIBRATION_FILE) -> str:
    """The "## Calibration" section of a model card: what the probabilities were fitted on
    and what they measured."""
    r = cal.report.get("place_disjoint_5fold", {})

    def f(v) -> str:
        return "–" if v is None else f"{v:.2f}"

    feats = ", ".join((cal.verified or cal.base).features)
    lines = ["## Calibration", "",
             "`p_match` (P(same place) per candidate) comes from a logistic calibration stored "
             f"with the model (`{where}`; features: {feats}; see "
             "`geomatch_app/training/calibration.py`).", ""]
    if cal.inherited_from:
        lines += [f"Inherited from `{cal.inherited_from}` (no labelled data to refit on): the "
                  "probabilities describe the base model.", ""]
    else:
        lines += [f"Fitted on: {', '.join(cal.report.get('fitted_on', [])) or '–'}. "
                  f"Place-disjoint 5-fold: top-1 AUROC {f(r.get('auroc'))}, ECE "
                  f"{f(r.get('ece'))}, removed-place queries flagged no_match "
                  f"{f(r.get('removed_flagged_no_match'))}, correct top-1 kept as match "
                  f"{f(r.get('correct_kept_match'))} (n = {r.get('n', '–')}).", ""]
    lines += [f"Verdict: match when the best p_match ≥ {cal.match_threshold:g}, no_match below "
              f"{cal.no_match_threshold:g}, uncertain between. Re-ranking the top "
              f"{cal.rerank.get('k', 5)} by verified p_match: "
              f"{'on' if cal.rerank.get('default') else 'off'} by default.", ""]
    seq = cal.report.get("sequence") if cal.sequence is not None else None
    if seq:
        pooled = seq.get("place_disjoint_5fold", {}).get("pooled", {})
        lines += [f"Sequence matching (a frame ranked with ±{seq.get('half')} neighbouring "
                  "frames, `geomatch_app/training/sequence.py`) has a fit of its own on the "
                  "top-1 of sequence rankings of the shared image sequences; place-disjoint "
                  f"5-fold: top-1 AUROC {f(pooled.get('auroc'))}, ECE {f(pooled.get('ece'))}, "
                  f"removed-place flagged no_match {f(pooled.get('removed_flagged_no_match'))}"
                  f", correct top-1 kept as match {f(pooled.get('correct_kept_match'))} "
                  f"(n = {pooled.get('n', '–')}).", ""]
    return "\n".join(lines)


def write_card_section(card: str | Path, cal: Calibration,
                       where: str = CALIBRATION_FILE) -> None:
    """Replace (or append) the "## Calibration" section of a model card file."""
    card = Path(card)
    text = card.read_text(encoding="utf-8") if card.is_file() else ""
    head, sep, rest = text.partition("\n## Calibration\n")
    tail = ""
    if sep:
        nxt = rest.find("\n## ")
        tail = rest[nxt:] if nxt >= 0 else ""
    new = head.rstrip("\n") + "\n\n" + card_section(cal, where) + tail
    files.write_text(card, new.lstrip("\n"))
