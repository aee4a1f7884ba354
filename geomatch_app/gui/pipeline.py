"""The query path as plain functions run inside a Worker (no Qt here): open an index, rank one
photo, estimate its location, write the map page. Each step is one call into index/geo."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

from geomatch_app.core.progress import Progress
from geomatch_app.core.types import Candidate, Estimate

log = logging.getLogger(__name__)


@dataclass
class QueryResult:
    path: str
    candidates: list[Candidate] = field(default_factory=list)
    estimate: Estimate | None = None
    model: str = ""
    store_error: str = ""  # the ranking stays usable when the store could not record it


def open_index(index_dir: str, device: str = "auto", progress: Progress | None = None):
    """Open an index and warm its model up so the first query does not pay for it."""
    from geomatch_app.index import Index

    if progress is not None:
        progress.step(0, 2, "opening index")
    idx = Index.open(index_dir, device=device)
    if progress is not None:
        progress.step(1, 2, f"loading model {idx.model_name}")
    _ = idx.model
    if progress is not None:
        progress.step(2, 2, "ready")
    return idx


def rank_query(index, path: str, k: int = 20, sigma_km: float | None = None,
               store=None, progress: Progress | None = None) -> QueryResult:
    """Top-k candidates for one photo with the KDE estimate and each candidate's distance to it.

    Raises ImageError (naming the file) when the photo cannot be read.
    """
    progress = progress or Progress()
    progress.step(0, 3, f"ranking {Path(path).name}")
    cands = index.search_paths([path], k=k)[0]
    progress.step(2, 3, "estimating location")
    est = estimate(cands, sigma_km)
    if est is not None:
        from geomatch_app.geo.kde import with_distances

        cands = with_distances(cands, est)
    result = QueryResult(path, cands, est, index.model_name)
    if store is not None:
        from geomatch_app.gui.curation import record_run

        try:
            record_run(store, result, index)
        except Exception as exc:  # noqa: BLE001 - reported, the ranking is still shown
            log.warning("%s: could not record suggestions: %s", path, exc)
            result.store_error = f"{path}: could not record the suggestions ({exc})"
    progress.step(3, 3, "done")
    return result


def estimate(cands: list[Candidate], sigma_km: float | None) -> Estimate | None:
    from geomatch_app.geo.kde import estimate_location

    kw = {} if not sigma_km else {"sigma_km": sigma_km}
    return estimate_location(cands, **kw)


FEATURE_MAGNITUDE = "magnitude"


def heatmap_methods(model) -> list[str]:
    """Heatmaps this model can draw (models.explain), feature magnitude as the fallback."""
    try:
        from geomatch_app.models.explain import available_heatmaps
    except ImportError:
        return [FEATURE_MAGNITUDE]
    return list(available_heatmaps(model)) or [FEATURE_MAGNITUDE]


def compute_heatmap(model, method: str, path: str, other: str | None = None,
                    progress: Progress | None = None):
    """H×W array over the whole frame of ``path`` (the model input keeps the full frame).

    ``other`` is the photo it is compared with: occlusion measures how much the similarity to
    it drops when each region of ``path`` is hidden."""
    import torch

    from geomatch_app.index.extract import load_tensor

    x = load_tensor(path, model.preprocess)[None]
    try:
        from geomatch_app.models import explain
    except ImportError:  # models.explain not installed: feature magnitude by hand
        with torch.no_grad():
            feats = model.features(x)
            feats = feats[-1] if isinstance(feats, (list, tuple)) else feats
            return feats[0].norm(dim=0).cpu().numpy()
    if method == "occlusion":
        with torch.no_grad():
            ref = model(load_tensor(other or path, model.preprocess)[None])[0]
        return explain.occlusion_map(model, x, gallery_desc=ref.cpu().numpy(),
                                     progress=progress)
    return explain.heatmap(model, method, x)
