"""The papers' metrics as pure functions, plus the per-query CSV and the HTML report.

Recall@N (papers A–C): a query counts as found at N when any of its top N is a true match —
within ``threshold_m`` of the query's coordinates when both are known, else the same place_id.
Geolocation accuracy (paper D): share of queries whose *estimated* location lies within 1 / 25 /
200 / 750 / 2500 km of the truth, and the median error. No torch here: the command feeds in
rankings it got from an index, so these functions are testable with hand-made candidates.
"""

from __future__ import annotations

import csv
import html
import logging
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from geomatch_app.core.errors import ManifestError
from geomatch_app.core.progress import Progress
from geomatch_app.core.types import Candidate, Estimate, Photo
from geomatch_app.geo.distance import haversine_m, local_xy, spherical_mean
from geomatch_app.geo.kde import (
    DEFAULT_K,
    DEFAULT_M,
    DEFAULT_SIGMA_KM,
    estimate_location,
    region_contains,
)
from geomatch_app.training.places import PlaceRule

log = logging.getLogger(__name__)

RECALL_NS = (1, 5, 10, 20)
KM_THRESHOLDS = (1, 25, 200, 750, 2500)
DEFAULT_THRESHOLD_M = 25.0


def ground_truth_kind(query: Photo) -> str | None:
    """"distance" when the query has coordinates, "place_id" when it has a place label only."""
    if query.has_location:
        return "distance"
    if query.place_id:
        return "place_id"
    return None


def is_match(query: Photo, cand: Candidate, threshold_m: float = DEFAULT_THRESHOLD_M,
             rule: PlaceRule | None = None) -> bool:
    """True match: within threshold_m when both positions are known, else equal place_id
    (with ``rule``, the gallery's ground-truth rule: neighbouring frames of an image sequence
    count too, training.places)."""
    if rule is not None:
        return bool(rule.same(query.lat, query.lon, query.place_id, cand.lat, cand.lon,
                              cand.place_id))
    if query.has_location and cand.lat is not None and cand.lon is not None:
        return bool(haversine_m(query.lat, query.lon, cand.lat, cand.lon) <= threshold_m)
    return bool(query.place_id) and query.place_id == cand.place_id


def first_correct_rank(query: Photo, cands: list[Candidate],
                       threshold_m: float = DEFAULT_THRESHOLD_M,
                       rule: PlaceRule | None = None) -> int | None:
    """1-based rank of the first true match, None when none is retrieved."""
    for pos, c in enumerate(sorted(cands, key=lambda c: c.rank), start=1):
        if is_match(query, c, threshold_m, rule):
            return pos
    return None


def recall_at(first_ranks: list[int | None], ns=RECALL_NS) -> dict[str, float]:
    """Share of queries whose first true match is within the top N, for each N."""
    if not first_ranks:
        return {str(n): float("nan") for n in ns}
    r = np.array([math.inf if f is None else f for f in first_ranks], dtype=np.float64)
    return {str(n): float(np.mean(r <= n)) for n in ns}


def accuracy_at_km(errors_km: list[float], thresholds=KM_THRESHOLDS) -> dict[str, float]:
    """Share of located queries whose estimate is within each threshold (km)."""
    e = np.asarray(errors_km, dtype=np.float64)
    if e.size == 0:
        return {}
    return {str(t): float(np.mean(e <= t)) for t in thresholds}


def median_km(errors_km: list[float]) -> float | None:
    return float(np.median(errors_km)) if len(errors_km) else None


def check_ground_truth(queries: list[Photo], source: str | Path) -> tuple[list[Photo], int]:
    """The queries that can be scored, and how many could not.

    Refuses (ManifestError) a set where no query has a place_id or coordinates: there is
    nothing to compare the ranking with, and a silent 0 % would mislead.
    """
    if not queries:
        raise ManifestError("has no query rows", source,
                            "mark query photos with split=query in the manifest")
    usable = [q for q in queries if ground_truth_kind(q) is not None]
    if not usable:
        raise ManifestError(
            f"none of its {len(queries)} query photos has a place_id or lat/lon", source,
            "add a place_id column (same id = same place as gallery photos) or lat/lon "
            "coordinates so results can be scored")
    if len(usable) < len(queries):
        log.warning("%s: %d query photos without place_id or lat/lon are left out",
                    source, len(queries) - len(usable))
    return usable, len(queries) - len(usable)


@dataclass
class QueryResult:
    """One evaluated query: its ranking, the estimate and the errors (one CSV row)."""

    query: Photo
    candidates: list[Candidate]
    first_rank: int | None
    estimate: Estimate | None = None
    error_km: float | None = None
    inside_50: bool | None = None
    inside_90: bool | None = None
    top1_error_km: float | None = None
    geocell_error_km: float | None = None
    geocell_centroid_error_km: float | None = None


@dataclass
class EvalResult:
    label: str
    model: str
    rows: list[QueryResult]
    threshold_m: float
    n_skipped: int = 0
    kde: dict = field(default_factory=dict)
    calibration: dict | None = None  # calibration_summary(), when the model has one

    def summary(self) -> dict:
        """The JSON the CLI prints: recall, accuracy_km, median_error_km, n_queries, ..."""
        located = [r for r in self.rows if r.error_km is not None]
        errs = [r.error_km for r in located]
        by = {"distance": 0, "place_id": 0}
        for r in self.rows:
            by[ground_truth_kind(r.query)] += 1
        out = {
            "index": self.label,
            "model": self.model,
            "n_queries": len(self.rows),
            "n_skipped": self.n_skipped,
            "ground_truth": {"threshold_m": self.threshold_m, "by_distance": by["distance"],
                             "by_place_id": by["place_id"]},
            "recall": recall_at([r.first_rank for r in self.rows]),
            "accuracy_km": accuracy_at_km(errs),
            "median_error_km": median_km(errs),
            "n_located": len(located),
            "inside_50": _share([r.inside_50 for r in located]),
            "inside_90": _share([r.inside_90 for r in located]),
            "kde": self.kde,
            "baselines": {},
        }
        if self.calibration is not None:
            out["calibration"] = self.calibration
        for key, attr in (("top1", "top1_error_km"), ("geocell_votes", "geocell_error_km"),
                          ("geocell_centroid", "geocell_centroid_error_km")):
            e = [getattr(r, attr) for r in self.rows if getattr(r, attr) is not None]
            if e:
                out["baselines"][key] = {"accuracy_km": accuracy_at_km(e),
                                         "median_error_km": median_km(e), "n": len(e)}
        return out

    def recall_curve(self, max_n: int = 20) -> list[float]:
        ranks = [r.first_rank for r in self.rows]
        return [recall_at(ranks, (n,))[str(n)] for n in range(1, max_n + 1)]


def _share(flags: list[bool | None]) -> float | None:
    f = [bool(x) for x in flags if x is not None]
    return float(np.mean(f)) if f else None


def _err_km(q: Photo, lat: float | None, lon: float | None) -> float | None:
    if not q.has_location or lat is None or lon is None:
        return None
    return float(haversine_m(q.lat, q.lon, lat, lon)) / 1000.0


def evaluate(queries: list[Photo], rankings: list[list[Candidate]], *, label: str = "",
             model: str = "", threshold_m: float = DEFAULT_THRESHOLD_M,
             sigma_km: float = DEFAULT_SIGMA_KM, m: float = DEFAULT_M, k: int = DEFAULT_K,
             geocell_votes: list[tuple[float, float] | None] | None = None,
             geocell_centroid: list[tuple[float, float] | None] | None = None,
             n_skipped: int = 0, progress: Progress | None = None) -> EvalResult:
    """Score rankings (one list of candidates per query, best first) and KDE estimates.

    ``geocell_*`` are optional per-query (lat, lon) predictions of the geocell baseline.
    """
    if len(queries) != len(rankings):
        raise ValueError("one ranking per query is needed")
    rows = []
    for i, (q, cands) in enumerate(zip(queries, rankings, strict=True)):
        if progress is not None:
            progress.step(i, len(queries), "scoring")
        est = estimate_location(cands, sigma_km=sigma_km, m=m, k=k)
        row = QueryResult(q, cands, first_correct_rank(q, cands, threshold_m), est)
        if est is not None and q.has_location:
            row.error_km = _err_km(q, est.lat, est.lon)
            row.inside_50 = region_contains(est.regions["50"], q.lat, q.lon)
            row.inside_90 = region_contains(est.regions["90"], q.lat, q.lon)
        top = next((c for c in sorted(cands, key=lambda c: c.rank) if c.lat is not None), None)
        if top is not None:
            row.top1_error_km = _err_km(q, top.lat, top.lon)
        if geocell_votes and geocell_votes[i] is not None:
            row.geocell_error_km = _err_km(q, *geocell_votes[i])
        if geocell_centroid and geocell_centroid[i] is not None:
            row.geocell_centroid_error_km = _err_km(q, *geocell_centroid[i])
        rows.append(row)
    if progress is not None:
        progress.step(len(queries), len(queries), "scored")
    return EvalResult(label, model, rows, threshold_m, n_skipped,
                      {"sigma_km": sigma_km, "m": m, "k": k})


# -- calibration (issue 12) ------------------------------------------------------------------

def calibration_summary(queries: list[Photo], judged: list, judged_removed: list,
                        match_threshold: float, no_match_threshold: float,
                        reranked: list | None = None,
                        threshold_m: float = DEFAULT_THRESHOLD_M,
                        rule: PlaceRule | None = None) -> dict:
    """How far the calibrated p_match can be trusted on this query set.

    ``judged`` / ``judged_removed``: per query, training.calibration.Judgement of its ranking
    and of its ranking against the gallery *without its true place* (open set). Reports the
    top-1 correct-vs-wrong AUROC and ECE (``n`` top-1s), the share of removed-place rankings
    flagged no_match, the share of correct top-1 kept as match, verdict counts, and R@1 after
    re-ranking by verified p_match when ``reranked`` rankings are given. ``rule``: the
    gallery's ground truth (image sequences count neighbouring frames, training.places), the
    same rule the calibration was fitted with.
    """
    from geomatch_app.training.calibration import auroc, ece

    p, y, correct_match, removed_flag = [], [], [], []
    verdicts = {"match": 0, "uncertain": 0, "no_match": 0}
    for q, j, jr in zip(queries, judged, judged_removed, strict=True):
        if not j.candidates or j.candidates[0].p_match is None:
            continue
        top = j.candidates[0]
        ok = is_match(q, top, threshold_m, rule)
        p.append(top.p_match)
        y.append(ok)
        verdicts[j.verdict] = verdicts.get(j.verdict, 0) + 1
        if ok:
            correct_match.append(j.verdict == "match")
        if jr is not None and jr.verdict is not None:
            removed_flag.append(jr.verdict == "no_match")
    out = {"n": len(p), "auroc": auroc(p, y), "ece": ece(p, y),
           "ground_truth": (rule or PlaceRule(threshold_m)).describe(),
           "thresholds": {"match": match_threshold, "no_match": no_match_threshold},
           "verdicts": verdicts,
           "open_set": {"n_removed": len(removed_flag),
                        "removed_flagged_no_match": _share(removed_flag),
                        "correct_kept_match": _share(correct_match)}}
    if reranked is not None:
        out["recall_1_reranked"] = recall_at(
            [first_correct_rank(q, c, threshold_m, rule) for q, c in zip(queries, reranked,
                                                                         strict=True)],
            (1,))["1"]
    return out


# -- output ----------------------------------------------------------------------------------

def _fmt(x: float | None, digits: int = 3) -> str:
    return "" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.{digits}f}"


CSV_COLUMNS = ["index", "query", "place_id", "true_lat", "true_lon", "ground_truth",
               "first_correct_rank", "est_lat", "est_lon", "error_km", "radius_m", "confidence",
               "inside_90", "top1_error_km", "geocell_error_km", "top_k"]


def write_csv(path: str | Path, results: list[EvalResult], top_k: int = 10) -> Path:
    """One row per query (and index) to inspect failures; top_k as ``rank:score:place:path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(CSV_COLUMNS)
        for res in results:
            for r in res.rows:
                q, e = r.query, r.estimate
                tops = " ; ".join(f"{c.rank}:{c.score:.4f}:{c.place_id}:{c.path}"
                                  for c in r.candidates[:top_k])
                w.writerow([res.label, q.path, q.place_id, _fmt(q.lat, 7), _fmt(q.lon, 7),
                            ground_truth_kind(q), r.first_rank or "",
                            _fmt(e.lat, 7) if e else "", _fmt(e.lon, 7) if e else "",
                            _fmt(r.error_km, 4), _fmt(e.radius_m, 1) if e else "",
                            _fmt(e.confidence, 3) if e else "",
                            "" if r.inside_90 is None else int(r.inside_90),
                            _fmt(r.top1_error_km, 4), _fmt(r.geocell_error_km, 4), tops])
    return path


def comparison_table(results: list[EvalResult]) -> str:
    """Plain-text table, one line per index, for the terminal."""
    head = (["index", "model", "n"] + [f"R@{n}" for n in RECALL_NS]
            + [f"≤{t}km" for t in KM_THRESHOLDS] + ["median km", "in 90%"])
    lines = [head]
    for res in results:
        s = res.summary()
        acc = s["accuracy_km"]
        lines.append([res.label, res.model, str(s["n_queries"])]
                     + [_fmt(s["recall"][str(n)], 3) for n in RECALL_NS]
                     + [_fmt(acc.get(str(t)), 3) if acc else "-" for t in KM_THRESHOLDS]
                     + [_fmt(s["median_error_km"], 3) or "-", _fmt(s["inside_90"], 2) or "-"])
    widths = [max(len(row[i]) for row in lines) for i in range(len(head))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True))
                     for row in lines)


_COLORS = ["#1b6ca8", "#d95f02", "#1b9e77", "#7570b3", "#e7298a", "#66a61e"]


def _recall_svg(results: list[EvalResult], w: int = 420, h: int = 260) -> str:
    pad = 40
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}">',
             f'<rect x="{pad}" y="10" width="{w - pad - 10}" height="{h - pad - 10}" '
             'fill="none" stroke="#999"/>']
    sx = lambda n: pad + (n - 1) / 19 * (w - pad - 10)  # noqa: E731
    sy = lambda r: 10 + (1 - r) * (h - pad - 10)  # noqa: E731
    for n in (1, 5, 10, 15, 20):
        parts.append(f'<text x="{sx(n):.1f}" y="{h - pad + 16}" font-size="11" '
                     f'text-anchor="middle">{n}</text>')
    for r in (0, 0.5, 1):
        parts.append(f'<text x="{pad - 4}" y="{sy(r) + 4:.1f}" font-size="11" '
                     f'text-anchor="end">{r:.1f}</text>')
    parts.append(f'<text x="{w / 2}" y="{h - 4}" font-size="12" text-anchor="middle">N</text>')
    for i, res in enumerate(results):
        curve = res.recall_curve(20)
        pts = " ".join(f"{sx(n):.1f},{sy(r):.1f}" for n, r in enumerate(curve, start=1))
        col = _COLORS[i % len(_COLORS)]
        parts.append(f'<polyline points="{pts}" fill="none" stroke="{col}" stroke-width="2">'
                     f"<title>{html.escape(res.label)}</title></polyline>")
        parts.append(f'<text x="{pad + 6}" y="{26 + 14 * i}" font-size="11" fill="{col}">'
                     f"{html.escape(res.label)}</text>")
    parts.append("</svg>")
    return "".join(parts)


def _error_map_svg(res: EvalResult, size: int = 420) -> str:
    """Truth (green) → estimate (red) for each located query, in a local equidistant plane."""
    rows = [r for r in res.rows if r.error_km is not None]
    if not rows:
        return "<p>No query has coordinates: no error map.</p>"
    lats = [r.query.lat for r in rows] + [r.estimate.lat for r in rows]
    lons = [r.query.lon for r in rows] + [r.estimate.lon for r in rows]
    clat, clon = spherical_mean(lats, lons)
    x, y = local_xy(clat, clon, np.array(lats), np.array(lons))
    span = max(float(np.abs(x).max()), float(np.abs(y).max()), 10.0) * 1.1
    pad = 20
    px = lambda v: pad + (v / span + 1) / 2 * (size - 2 * pad)  # noqa: E731
    py = lambda v: pad + (1 - (v / span + 1) / 2) * (size - 2 * pad)  # noqa: E731
    n = len(rows)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{size}" height="{size}">',
             f'<rect x="1" y="1" width="{size - 2}" height="{size - 2}" fill="#f8f8f8" '
             'stroke="#999"/>']
    for i, r in enumerate(rows):
        tx, ty, ex, ey = px(x[i]), py(y[i]), px(x[n + i]), py(y[n + i])
        tip = html.escape(f"{Path(r.query.path).name}: {r.error_km:.3f} km")
        parts.append(f'<line x1="{tx:.1f}" y1="{ty:.1f}" x2="{ex:.1f}" y2="{ey:.1f}" '
                     f'stroke="#c00" stroke-width="1"><title>{tip}</title></line>')
        parts.append(f'<circle cx="{tx:.1f}" cy="{ty:.1f}" r="4" fill="#2a2">'
                     f"<title>{tip} (truth)</title></circle>")
        parts.append(f'<circle cx="{ex:.1f}" cy="{ey:.1f}" r="3" fill="#c00">'
                     f"<title>{tip} (estimate)</title></circle>")
    bar = _nice(span / 2)
    blen = bar / span / 2 * (size - 2 * pad)
    label = f"{bar / 1000:g} km" if bar >= 1000 else f"{bar:g} m"
    parts.append(f'<line x1="{pad}" y1="{size - 12}" x2="{pad + blen:.1f}" y2="{size - 12}" '
                 f'stroke="#000" stroke-width="2"/><text x="{pad + blen + 4:.1f}" '
                 f'y="{size - 8}" font-size="11">{label}</text></svg>')
    return "".join(parts)


def _nice(x: float) -> float:
    e = 10 ** math.floor(math.log10(x))
    for f in (5, 2, 1):
        if f * e <= x:
            return f * e
    return e


def write_report(path: str | Path, results: list[EvalResult], title: str = "") -> Path:
    """A self-contained HTML page: comparison table, Recall@N curves and an error map per
    index (inline SVG, so it opens offline and in any browser)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    body = [f"<h1>geomatch evaluation{(': ' + html.escape(title)) if title else ''}</h1>"]
    head = (["index", "model", "queries"] + [f"R@{n}" for n in RECALL_NS]
            + [f"≤{t} km" for t in KM_THRESHOLDS] + ["median km", "truth in 90% region"])
    body.append("<table><tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in head) + "</tr>")
    for res in results:
        s = res.summary()
        acc = s["accuracy_km"]
        cells = ([res.label, res.model, str(s["n_queries"])]
                 + [_fmt(s["recall"][str(n)]) for n in RECALL_NS]
                 + [_fmt(acc.get(str(t))) if acc else "–" for t in KM_THRESHOLDS]
                 + [_fmt(s["median_error_km"]) or "–", _fmt(s["inside_90"], 2) or "–"])
        body.append("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in cells) + "</tr>")
    body.append("</table>")
    gt = results[0].summary()["ground_truth"] if results else {}
    body.append(f"<p>A query is correct at N when one of its top N is within "
                f"{gt.get('threshold_m', 0):g} m of it (by coordinates: {gt.get('by_distance')} "
                f"queries) or shares its place_id (no coordinates: {gt.get('by_place_id')}). "
                "Accuracy (km) scores the kernel-density estimate.</p>")
    body.append("<h2>Recall@N</h2>" + _recall_svg(results))
    for res in results:
        body.append(f"<h2>Errors — {html.escape(res.label)}</h2>"
                    "<p>green: true location, red: estimate</p>" + _error_map_svg(res))
    page = ("<!DOCTYPE html><html><head><meta charset='utf-8'><title>geomatch evaluation</title>"
            "<style>body{font-family:sans-serif;margin:1.5em}table{border-collapse:collapse}"
            "td,th{border:1px solid #ccc;padding:3px 6px;text-align:right}</style></head><body>"
            + "\n".join(body) + "</body></html>")
    path.write_text(page, encoding="utf-8")
    return path
