"""Why two photos match: the heatmaps a model can draw for a query/candidate pair
(:mod:`geomatch_app.models.explain`), computed inside a job."""

from __future__ import annotations

from typing import TYPE_CHECKING

from geomatch_app.core.progress import Progress

if TYPE_CHECKING:
    import numpy as np

NONE = "none"


def heatmap_methods(model) -> list[str]:
    """Heatmaps this model can draw."""
    from geomatch_app.models.explain import available_heatmaps

    return list(available_heatmaps(model))


def compute_heatmap(model, method: str, path: str, other: str | None = None,
                    progress: Progress | None = None) -> np.ndarray:
    """H×W array over the whole frame of ``path`` (the model input keeps the full frame).

    ``other`` is the photo it is compared with: occlusion measures how much the similarity to
    it drops when each region of ``path`` is hidden."""
    import torch

    from geomatch_app.index.extract import load_tensor
    from geomatch_app.models import explain

    x = load_tensor(path, model.preprocess)[None]
    if method == "occlusion":
        with torch.inference_mode():
            ref = model(load_tensor(other or path, model.preprocess)[None])[0]
        return explain.occlusion_map(model, x, gallery_desc=ref.cpu().numpy(),
                                     progress=progress)
    return explain.heatmap(model, method, x)


def heatmap_pair(model, method: str, query: str, candidate: str,
                 progress: Progress | None = None) -> dict[tuple[str, str, str], np.ndarray]:
    """The heatmaps of both photos of a pair, keyed (photo, other-or-'', method) for a cache:
    occlusion depends on the other photo, the other methods do not."""
    out = {}
    for path, other in ((query, candidate), (candidate, query)):
        key = (path, other if method == "occlusion" else "", method)
        out[key] = compute_heatmap(model, method, path, other, progress)
    return out


def cache_key(path: str, other: str, method: str) -> tuple[str, str, str]:
    return (path, other if method == "occlusion" else "", method)
