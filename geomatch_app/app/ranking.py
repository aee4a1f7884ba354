"""Rank one photo: the one query path under the CLI (`geomatch query`) and the window.

``rank(project, path)`` → the top-k gallery candidates, the KDE location estimate with each
candidate's distance to it, and the suggestion run stored for it. When the store already holds
a run of this photo by this model on this version of the index with the same parameters, that
run is re-used (no model forward, no new run): restarting the app ranks nothing twice.

When the model has a calibration (training.calibration), every candidate gets ``p_match``, the
ranking a verdict ("match" | "uncertain" | "no_match") and the estimate's confidence becomes
P(true location within its radius). Ranking runs in two stages so that geometric verification
(~0.1–0.5 s per photo) never delays the first suggestion:

1. :func:`rank_first` — descriptor search and the *base* calibration (descriptor features
   only); the run is stored at once (marked pending in its parameters) and the window shows it;
2. :func:`verify_ranking` — geometric verification of the top 5 and the *verified*
   calibration, the top 5 re-ordered by verified p_match where that was measured to help; the
   stored run is updated in place (same run id and suggestion ids).

:func:`rank` runs both (what the CLI waits for); the window runs the second stage as a job of
its own (gui/rank_queue.py). A run left pending (the app closed during verification) is
re-used for stage 1 and verified again on the next visit.
"""

from __future__ import annotations

import logging
import math
import os
from dataclasses import dataclass, field, replace
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
PENDING = {"pending": "verification"}  # added to a stored run's params until it is verified


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
    pending: bool = False  # geometric verification is still to come (verify_ranking)
    # (verdict, p_best) before verification changed them (None: not verified in this session)
    before: tuple[str | None, float | None] | None = None
    sigma_km: float | None = field(default=None, repr=False)
    params: dict | None = field(default=None, repr=False)  # the stored run's complete key
    prior: prior_.Prior | None = None  # the place prior applied (app.prior), or why none
    sequence_frames: int = 0  # ranked with this many frames of its recording (0: alone)

    def sequence_note(self) -> str:
        """One line on sequence matching for both front ends, "" for a photo ranked alone."""
        if not self.sequence_frames:
            return ""
        return (f"Ranked as a frame of a recording: with {self.sequence_frames - 1} "
                "neighbouring frames of its folder, matched in order against the gallery's "
                "sequence")

    def to_json(self) -> dict:
        return {"query": self.path, "model": self.model, "verdict": self.verdict,
                "p_best": self.p_best,
                "candidates": [c.to_json() for c in self.candidates],
                "estimate": self.estimate.to_json() if self.estimate else None,
                "query_id": self.query_id, "run_id": self.run_id,
                "sequence_frames": self.sequence_frames,
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
               verify: bool | None = None, prior: prior_.Prior | None = None,
               sequence: tuple[int, int] = (0, 0)) -> dict:
    """What a stored run must match to be re-used (a new calibration ranks again, and so
    does another place prior or another set of neighbouring frames; a run without either
    keeps the parameters it always had)."""
    params = {"k": k, "sigma_km": sigma_km, "index": content_key(project.index),
              "calibration": model_calibration(project).key, "verify": verify}
    key = prior.key() if prior is not None else None
    if key:
        params["prior"] = key
    if sequence[1]:
        params["sequence"] = {"half": sequence[0], "frames": sequence[1]}
    return params


def sequence_plan(project: Project, path: str, sequence: bool | None) -> tuple[int, int]:
    """(half window, frames found) when ``path`` is ranked with its neighbouring frames
    (training.sequence): ``sequence`` None = when the photo is one of a folder of numbered
    frames, the gallery holds an image sequence and the model's calibration (if any) has a
    sequence fit; False never; True whenever frames and a gallery sequence exist."""
    if sequence is False or project.index is None:
        return 0, 0
    from geomatch_app.training import sequence as seq

    cal = model_calibration(project).calibration
    if sequence is None and cal is not None and getattr(cal, "sequence", None) is None:
        return 0, 0
    if not seq.index_order(project.index).usable:  # a photo gallery: no folder listing
        return 0, 0
    frames = seq.neighbour_files(path, seq.DEFAULT_HALF)
    if not frames:
        return 0, 0
    return seq.DEFAULT_HALF, len(frames)


def rank(project: Project, path: str | Path, *, k: int = DEFAULT_K,
         sigma_km: float | None = None, progress: Progress | None = None,
         reuse: bool = True, record: bool = True, verify: bool | None = None,
         wait: bool = True, place: str | None = None, use_prior: bool = True,
         sequence: bool | None = None) -> RankResult:
    """Rank the gallery for ``path``. Raises ImageError (naming the file) when the photo
    cannot be read, GeomatchError when no index is open. ``verify`` None: geometric
    verification when the model's calibration uses it. ``wait`` False returns after the first
    stage (``result.pending`` then says :func:`verify_ranking` is still to run). The catalogue
    place of the photo (or ``place``) narrows the ranking unless ``use_prior`` is False or the
    curator turned it off for the photo (``app.prior``). ``sequence``: rank a frame of a
    recording with its neighbouring frames (:func:`sequence_plan`; None = automatically)."""
    result = rank_first(project, path, k=k, sigma_km=sigma_km, progress=progress,
                        reuse=reuse, record=record, verify=verify,
                        place=place, use_prior=use_prior, sequence=sequence)
    if wait and result.pending:
        result = verify_ranking(project, result, progress=progress, record=record)
    return result


def rank_first(project: Project, path: str | Path, *, k: int = DEFAULT_K,
               sigma_km: float | None = None, progress: Progress | None = None,
               reuse: bool = True, record: bool = True, verify: bool | None = None,
               place: str | None = None, use_prior: bool = True,
               sequence: bool | None = None) -> RankResult:
    """Stage 1: the ranking with the base calibration, stored at once. ``pending`` on the
    result when verification is due (the model's calibration has a verified fit, or
    ``verify`` is True; never for a sequence ranking, whose calibration has no verified
    fit)."""
    check_params(k, sigma_km)
    progress = progress or Progress()
    index = project.index
    if index is None:
        raise GeomatchError("no index is open", hint="open or build an index first")
    path = str(Path(path).expanduser().resolve())
    progress.step(0, 3, f"ranking {Path(path).name}")
    mc = model_calibration(project)
    plan = sequence_plan(project, path, sequence)
    due = verification_due(mc.calibration, verify) and not plan[1]
    prior = prior_.for_query(None, None, place=place, use=use_prior)
    params = run_params(project, k, sigma_km, verify, prior, plan)
    first_params = {**params, **PENDING} if due else params
    query_id = None
    store_error = ""
    record = record and project.store is not None
    if record:
        try:
            query_id = curation.ensure_query(project.store, path)
            prior = prior_.for_query(project.store, query_id, place=place, use=use_prior)
            params = run_params(project, k, sigma_km, verify, prior, plan)
            first_params = {**params, **PENDING} if due else params
            if reuse:
                found = stored_run(project, query_id, params, first_params)
                if found is not None:
                    progress.step(3, 3, "done (stored ranking)")
                    run, pending = found
                    result = from_run(run, path, sigma_km)
                    return replace(result, pending=pending, params=params, sigma_km=sigma_km,
                                   prior=prior_.restate(prior, result.candidates),
                                   sequence_frames=plan[1])
        except (GeomatchError, OSError) as exc:
            log.warning("%s: the store could not be read: %s", path, exc)
            store_error = f"{path}: could not read the database ({exc})"
    cands, frames = _search(project, path, prior_.shortlist_k(k, prior), plan, progress)
    cands, prior = prior_.apply(cands, prior, k)
    progress.step(1, 3, "calibrating")
    cands, verdict, p_best = base_judgement(project, path, cands, sequence=bool(frames))
    progress.step(2, 3, "estimating location")
    est = calibrated_estimate(cands, sigma_km)
    cands = with_distances(cands, est)
    result = RankResult(path, cands, est, index.model_name, query_id=query_id,
                        store_error=store_error, verdict=verdict, p_best=p_best,
                        pending=due, sigma_km=sigma_km, params=params, prior=prior,
                        sequence_frames=frames)
    if record and query_id is not None:
        try:
            result.run_id = project.store.record_suggestions(
                query_id, cands, model=project.model_id or index.model_name, estimate=est,
                index_id=project.index_id, params=first_params, verdict=verdict or "")
        except (GeomatchError, OSError) as exc:
            log.warning("%s: could not record suggestions: %s", path, exc)
            result.store_error = f"{path}: could not record the suggestions ({exc})"
    progress.step(3, 3, "done")
    return result


def verify_ranking(project: Project, result: RankResult, *, progress: Progress | None = None,
                   record: bool = True) -> RankResult:
    """Stage 2: geometric verification of the top 5 of a first-stage ``result`` and the
    verified calibration; the stored run is updated in place. Returns a new result (``before``
    holds the first stage's verdict and p_best); ``result`` itself is not changed. Cancelling
    (``progress``) before the end leaves the stored run pending, never half-updated."""
    if not result.pending:
        return result
    mc = model_calibration(project)
    if mc.calibration is None or project.index is None:
        return replace(result, pending=False)
    from geomatch_app.training.calibration import judge

    base = sorted(result.candidates, key=lambda c: c.rank)  # stage 1 keeps descriptor order
    judged = judge(project.index, result.path, base, verify=True, calibration=mc.calibration,
                   stats=gallery_stats(project), verifier=project.verifier(),
                   progress=progress)
    est = calibrated_estimate(judged.candidates, result.sigma_km)
    out = replace(result, candidates=with_distances(judged.candidates, est), estimate=est,
                  verdict=judged.verdict, p_best=judged.p_best, inliers=judged.inliers,
                  pending=False, before=(result.verdict, result.p_best), store_error="")
    if progress is not None:
        progress.check()
    if record and project.store is not None and result.run_id is not None:
        try:
            project.store.update_run(result.run_id, out.candidates, estimate=est,
                                     verdict=out.verdict or "", params=result.params)
        except (GeomatchError, OSError) as exc:
            log.warning("%s: could not record the verification: %s", result.path, exc)
            out.store_error = f"{result.path}: could not record the verification ({exc})"
    return out


def verification_due(calibration, verify: bool | None) -> bool:
    """Whether a ranking gets a second, verified stage: only with a calibration, and then
    when asked to (``verify`` True) or, by default, when the calibration has a verified fit."""
    if calibration is None:
        return False
    return calibration.verified is not None if verify is None else bool(verify)


def stored_run(project: Project, query_id: int, params: dict, first_params: dict
               ) -> tuple[SuggestionRun, bool] | None:
    """The stored run to re-use and whether it still waits for verification: a complete run
    first, else one stored by stage 1 only."""
    store = project.store
    run = store.find_run(query_id, model_id=project.model_id, index_id=project.index_id,
                         params=params)
    if run is not None:
        return run, False
    if first_params != params:
        run = store.find_run(query_id, model_id=project.model_id, index_id=project.index_id,
                             params=first_params)
        if run is not None:
            return run, True
    return None


def _search(project: Project, path: str, k: int, plan: tuple[int, int],
            progress: Progress) -> tuple[list[Candidate], int]:
    """The candidates and the number of frames they were ranked with (0: the photo alone)."""
    if plan[1]:
        from geomatch_app.training.sequence import rank_frames

        found = rank_frames(project.index, path, k, plan[0])
        if found is not None:
            return found.candidates, found.frames
    return project.index.search_paths([path], k=k)[0], 0


def base_judgement(project: Project, path: str, cands: list[Candidate],
                   sequence: bool = False) -> tuple[list[Candidate], str | None, float | None]:
    """Stage 1's reading of the scores: p_match from the descriptor-only calibration (the
    ranking itself is not changed), or its sequence fit for a sequence ranking; raw scores
    and no verdict without a calibration."""
    cal = model_calibration(project).calibration
    if cal is None or not cands or (sequence and getattr(cal, "sequence", None) is None):
        return sorted(cands, key=lambda c: c.rank), None, None
    from geomatch_app.training.calibration import judge

    judged = judge(project.index, path, cands, verify=False, calibration=cal,
                   stats=gallery_stats(project), sequence=sequence)
    return judged.candidates, judged.verdict, judged.p_best


# -- per-project caches: what every ranking needs but only changes with the index or a refit --

@dataclass
class ModelCalibration:
    """The open index's model calibration and the key of its file (run_params)."""

    calibration: object  # training.calibration.Calibration | None
    key: str
    stamp: tuple = ()  # (path, size, mtime_ns) of the file it was read from


def model_calibration(project: Project) -> ModelCalibration:
    """The calibration of the project's model, read once and again only when its file
    changes (a refit after fine-tuning): size and mtime are compared on every ranking, the
    file is hashed and parsed only when they differ."""
    from geomatch_app.training.calibration import (
        calibration_key,
        calibration_path,
        load_calibration,
    )

    index = project.index
    cache = project.cache
    if index is None:
        return ModelCalibration(None, "")
    if cache.get("calibration_index") is not index:  # the file's place: once per index
        cache["calibration_index"] = index
        cache["calibration_path"] = calibration_path(index.fingerprint)
        cache.pop("calibration", None)
    path = cache["calibration_path"]
    try:
        st = os.stat(path) if path is not None else None
        stamp = (str(path), st.st_size, st.st_mtime_ns) if st else ()
    except OSError:
        stamp = ()
    mc = cache.get("calibration")
    if mc is None or mc.stamp != stamp:
        cal = load_calibration(index.fingerprint) if stamp else None
        mc = ModelCalibration(cal, calibration_key(index.fingerprint) if stamp else "", stamp)
        cache["calibration"] = mc
    return mc


def gallery_stats(project: Project):
    """The index's gallery statistics (training.calibration.index_gallery_stats reads them
    from the index folder), kept per opened index."""
    from geomatch_app.training.calibration import index_gallery_stats

    index = project.index
    cache = project.cache
    key = content_key(index)
    if cache.get("stats_index") is not index or cache.get("stats_key") != key:
        cache["stats"] = index_gallery_stats(index)
        cache["stats_index"], cache["stats_key"] = index, key
    return cache["stats"]


# -- stored runs, estimate, output ------------------------------------------------------------

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
    if result.sequence_note():
        lines.append(result.sequence_note())
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
