"""Why two photos match: the heatmaps a model can draw for a query/candidate pair
(:mod:`geomatch_app.models.explain`) and the geometrically verified correspondences
(:mod:`geomatch_app.models.verify`), computed inside a job."""

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


OWN_MASKS = ("attention", "crn-mask", "haf-scores")  # a head's own weighting, not a probe


def preferred_heatmap(methods: list[str], saved: str) -> str:
    """The heatmap to show first for a model: the curator's saved choice, except that the
    generic default ("magnitude") gives way to the model's own attention / context mask when
    it has one — that is what such a model was chosen for (docs/attention.md)."""
    if saved in methods and saved != "magnitude":
        return saved
    own = [m for m in methods if m in OWN_MASKS]
    if own:
        return own[0]
    return saved


def compute_heatmap(model, method: str, path: str, other: str | None = None,
                    progress: Progress | None = None,
                    other_desc: np.ndarray | None = None) -> np.ndarray:
    """H×W array over the whole frame of ``path`` (the model input keeps the full frame).

    ``other`` is the photo it is compared with: occlusion measures how much the similarity to
    it drops when each region of ``path`` is hidden. ``other_desc``: its descriptor when
    already known (from the index), so it is not embedded again."""
    import torch

    from geomatch_app.index.extract import load_tensor
    from geomatch_app.models import explain

    x = load_tensor(path, model.preprocess)[None]
    if method == "occlusion":
        if other_desc is None:
            with torch.inference_mode():
                other_desc = model(load_tensor(other or path, model.preprocess)[None])[0]
            other_desc = other_desc.cpu().numpy()
        return explain.occlusion_map(model, x, gallery_desc=other_desc, progress=progress)
    return explain.heatmap(model, method, x)


def stored_descriptor(index, path: str) -> np.ndarray | None:
    """The descriptor of a gallery photo as the index holds it (None when not indexed)."""
    if index is None:
        return None
    i = 0
    for batch in index.record_batches():
        for r in batch:
            if r["path"] == path:
                return index.descriptors([i])[0]
            i += 1
    return None


def heatmap_pair(model, method: str, query: str, candidate: str,
                 progress: Progress | None = None,
                 index=None) -> dict[tuple[str, str, str], np.ndarray]:
    """The heatmaps of both photos of a pair, keyed (photo, other-or-'', method) for a cache:
    occlusion depends on the other photo, the other methods do not. With ``index``, occlusion
    of the query compares with the candidate's descriptor stored in it."""
    out = {}
    for path, other in ((query, candidate), (candidate, query)):
        key = (path, other if method == "occlusion" else "", method)
        desc = stored_descriptor(index, other) if method == "occlusion" else None
        out[key] = compute_heatmap(model, method, path, other, progress, other_desc=desc)
    return out


def new_verifier():
    """A geometric verifier that keeps the local features of recent photos."""
    from geomatch_app.models.verify import Verifier

    return Verifier()


def verify_pair(verifier, query: str, candidate: str):
    """(query, candidate, models.verify.Verification) — the pair travels with the result so a
    late answer for another pair is recognised."""
    return query, candidate, verifier.verify(query, candidate)


def cache_key(path: str, other: str, method: str) -> tuple[str, str, str]:
    return (path, other if method == "occlusion" else "", method)
