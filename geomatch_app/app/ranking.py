"""Rank one photo: the one query path under the CLI (`geomatch query`) and the window.

``rank(project, path)`` → the top-k gallery candidates, the KDE location estimate with each
candidate's distance to it, and the suggestion run stored for it. When the store already holds
a run of this photo by this model on this version of the index with the same parameters, that
run is re-used (no model forward, no new run): restarting the app ranks nothing twice.

When the model has a calibration (training.calibration), the top 5 are verified geometrically,
every candidate gets ``p_match``, the ranking a verdict ("match" | "uncertain" | "no_match"),
the top 5 are re-ordered by verified p_match where that was measured to help, and the
estimate's confidence becomes P(true location within its radius).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from pathlib import Path

from geomatch_app.app import curation
from geomatch_app.app import prior as prior_
from geomatch_app.app.project import Project, content_key
from geomatch_app.core.errors import GeomatchError
from geomatch_app.core.progress import Progress
from geomatch_app.core.types import Candidate, Estimate
from geomatch_app.store import SuggestionRun

log = logging.getLogger(__name__)

DEFAULT_K = 20


@dataclass
class RankResult:
    """One photo's ranking, with the ids a decision needs (no lookups later)."""

    path: str
    candidates: list[Candidate] = field(default_factory=list)
    estimate: Estimate | None = None
    model: str = ""
    query_id: int | None = None
    run_id: int | None = None
    reused: bool = False  # taken from a stored run, not computed now
    store_error: str = ""  # the ranking stays usable when the store could not record it
    verdict: str | None = None  # None: the model has no calibration
    p_best: float | None = None  # the best candidate's p_match
    inliers: dict[str, int] = field(default_factory=dict)  # verified candidates' inliers
    prior: prior_.Prior | None = None  # the place prior applied (app.prior), or why none

    def to_json(self) -> dict:
        return {"query": self.path, "model": self.model, "verdict": self.verdict,
                "p_best": self.p_best,
                "candidates": [c.to_json() for c in self.candidates],
                "estimate": self.estimate.to_json() if self.estimate else None,
                "query_id": self.query_id, "run_id": self.run_id,
                "prior": self.prior.to_json() if self.prior and self.prior.text else None}


def check_params(k: int, sigma_km: float | None) -> None:
    """The same rules for both front ends: k ≥ 1; the bandwidth is None (the KDE's default)
    or a positive number of kilometres."""
    if not isinstance(k, int) or k < 1:
        raise GeomatchError(f"the number of candidates must be at least 1, not {k!r}")
    if sigma_km is not None and not (math.isfinite(sigma_km) and sigma_km > 0):
        raise GeomatchError(f"the KDE bandwidth must be a positive distance in km, not "
                            f"{sigma_km!r}", hint="leave it unset for the default (0.05 km)")


def run_params(project: Project, k: int, sigma_km: float | None,
               verify: bool | None = None, prior: prior_.Prior | None = None) -> dict:
    """What a stored run must match to be re-used (a new calibration ranks again, and so
    does another place prior; a run without a prior keeps the parameters it always had)."""
    from geomatch_app.training.calibration import calibration_key

    params = {"k": k, "sigma_km": sigma_km, "index": content_key(project.index),
              "calibration": calibration_key(project.index.fingerprint), "verify": verify}
    key = prior.key() if prior is not None else None
    return {**params, "prior": key} if key else params


def rank(project: Project, path: str | Path, *, k: int = DEFAULT_K,
         sigma_km: float | None = None, progress: Progress | None = None,
         reuse: bool = True, record: bool = True, verify: bool | None = None,
         place: str | None = None, use_prior: bool = True) -> RankResult:
    """Rank the gallery for ``path``. Raises ImageError (naming the file) when the photo
    cannot be read, GeomatchError when no index is open. ``verify`` None: geometric
    verification when the model's calibration uses it. The catalogue place of the photo
    (or ``place``) narrows the ranking unless ``use_prior`` is False or the curator turned
    it off for the photo (``app.prior``)."""
    check_params(k, sigma_km)
    progress = progress or Progress()
    index = project.index
    if index is None:
        raise GeomatchError("no index is open", hint="open or build an index first")
    path = str(Path(path).expanduser().resolve())
    progress.step(0, 3, f"ranking {Path(path).name}")
    prior = prior_.for_query(None, None, place=place, use=use_prior)
    params = run_params(project, k, sigma_km, verify, prior)
    query_id = None
    store_error = ""
    record = record and project.store is not None
    if record:
        try:
            query_id = curation.ensure_query(project.store, path)
            prior = prior_.for_query(project.store, query_id, place=place, use=use_prior)
            params = run_params(project, k, sigma_km, verify, prior)
            if reuse:
                run = project.store.find_run(query_id, model_id=project.model_id,
                                             index_id=project.index_id, params=params)
                if run is not None:
                    progress.step(3, 3, "done (stored ranking)")
                    result = from_run(run, path, sigma_km)
                    result.prior = prior_.restate(prior, result.candidates)
                    return result
        except (GeomatchError, OSError) as exc:
            log.warning("%s: the store could not be read: %s", path, exc)
            store_error = f"{path}: could not read the database ({exc})"
    cands = index.search_paths([path], k=prior_.shortlist_k(k, prior))[0]
    cands, prior = prior_.apply(cands, prior, k)
    progress.step(1, 3, "verifying and calibrating")
    from geomatch_app.training.calibration import judge

    judged = judge(index, path, cands, verify=verify, verifier=project.verifier())
    cands = judged.candidates
    progress.step(2, 3, "estimating location")
    est = calibrated_estimate(cands, sigma_km)
    cands = with_distances(cands, est)
    result = RankResult(path, cands, est, index.model_name, query_id=query_id,
                        store_error=store_error, verdict=judged.verdict,
                        p_best=judged.p_best, inliers=judged.inliers, prior=prior)
    if record and query_id is not None:
        try:
            result.run_id = project.store.record_suggestions(
                query_id, cands, model=project.model_id or index.model_name, estimate=est,
                index_id=project.index_id, params=params, verdict=judged.verdict or "")
        except (GeomatchError, OSError) as exc:
            log.warning("%s: could not record suggestions: %s", path, exc)
            result.store_error = f"{path}: could not record the suggestions ({exc})"
    progress.step(3, 3, "done")
    return result


def from_run(run: SuggestionRun, path: str, sigma_km: float | None) -> RankResult:
    """A stored run as a result: the same candidates; the estimate is recomputed from them (the
    KDE is cheap and its regions are not stored)."""
    cands = [Candidate(s.rank, s.score, s.path, s.lat, s.lon, s.heading, s.place_id,
                       p_match=s.p_match)
             for s in run.suggestions]
    est = calibrated_estimate(cands, sigma_km)
    p = [c.p_match for c in cands if c.p_match is not None]
    return RankResult(path, with_distances(cands, est), est, run.model_name,
                      query_id=run.query_id, run_id=run.id, reused=True,
                      verdict=run.verdict or None, p_best=max(p) if p else None)


def calibrated_estimate(cands: list[Candidate], sigma_km: float | None) -> Estimate | None:
    """The KDE estimate; with p_match on the candidates its confidence is P(truth within the
    radius) (training.calibration.estimate_confidence)."""
    from geomatch_app.training.calibration import estimate_confidence

    return estimate_confidence(estimate(cands, sigma_km), cands)


def estimate(cands: list[Candidate], sigma_km: float | None) -> Estimate | None:
    from geomatch_app.geo.kde import estimate_location

    return estimate_location(cands) if sigma_km is None else estimate_location(cands, sigma_km)


def with_distances(cands: list[Candidate], est: Estimate | None) -> list[Candidate]:
    from geomatch_app.geo.kde import with_distances as _with

    return _with(cands, est) if est is not None else cands


def format_result(result: RankResult) -> str:
    from geomatch_app.training.calibration import VERDICT_TEXT

    lines = [format_table(result.candidates)]
    if result.prior is not None and result.prior.describe():
        lines.append(result.prior.describe())
    if result.verdict is not None:
        lines.append(f"verdict: {result.verdict} — {VERDICT_TEXT[result.verdict]} "
                     f"(best p_match {result.p_best:.2f})")
    est = result.estimate
    if est is not None:
        lines.append(f"estimate: {est.lat:.6f}, {est.lon:.6f}  ±{est.radius_m:.0f} m  "
                     f"confidence {est.confidence:.2f}")
    if result.reused:
        lines.append(f"(stored ranking {result.run_id} re-used)")
    return "\n".join(lines)


def format_table(cands: list[Candidate]) -> str:
    lines = [f"{'rank':>4}  {'score':>6}  {'p_match':>7}  {'lat':>10}  {'lon':>11}  path"]
    for c in cands:
        lat = f"{c.lat:.6f}" if c.lat is not None else "-"
        lon = f"{c.lon:.6f}" if c.lon is not None else "-"
        p = f"{c.p_match:.3f}" if c.p_match is not None else "-"
        lines.append(f"{c.rank:>4}  {c.score:6.3f}  {p:>7}  {lat:>10}  {lon:>11}  {c.path}")
    return "\n".join(lines)
