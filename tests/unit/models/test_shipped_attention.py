"""The trained attention model that ships (effnetlite2-crn2-tuned): it is selectable, loads to
its recorded weights, and the app's heatmap view shows its own context mask — which, unlike
the untrained one, is not flat (docs/attention.md)."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

pytestmark = pytest.mark.usefixtures("one_torch_thread")

NAME = "effnetlite2-crn2-tuned"


@pytest.fixture(scope="module")
def tuned():
    from geomatch_app.models import get_model

    return get_model(NAME).eval()


def test_it_is_listed_and_offers_its_mask_first(tuned):
    from geomatch_app.app.explain import heatmap_methods
    from geomatch_app.models import list_models, model_info

    assert NAME in list_models()
    assert "resources/models/weights" in model_info(NAME).pretrained
    assert heatmap_methods(tuned)[0] == "crn-mask"  # the inspect panel's first choice
    assert tuned.fingerprint()["name"] == NAME


def _thirds(m: np.ndarray) -> np.ndarray:
    return np.array([p.sum() for p in np.array_split(m, 3, axis=0)]) / m.sum()


def test_the_heatmap_is_the_trained_mask_and_it_learned_something(tuned, shared_data):
    """The app's crn-mask heatmap equals the head's context mask upsampled (hand-computed
    here); on a street photo the trained mask weights the road (bottom third) least, the
    untrained one is flat."""
    import torch.nn.functional as F

    from geomatch_app.app.explain import compute_heatmap
    from geomatch_app.index.extract import load_tensor
    from geomatch_app.models import get_model

    path = str(shared_data / "opensfm_berlin_lund" / "images" / "lund_14.jpg")
    heat = compute_heatmap(tuned, "crn-mask", path)
    x = load_tensor(path, tuned.preprocess)[None]
    with torch.no_grad():
        mask = tuned.head.context(tuned.features(x))
        want = F.interpolate(mask, size=x.shape[-2:], mode="bilinear", align_corners=False)
    np.testing.assert_allclose(heat, want[0, 0].numpy(), rtol=1e-4, atol=1e-4)
    t = _thirds(heat)
    assert t[2] < t[1] and t[2] < 0.25
    base = compute_heatmap(get_model("effnetlite2-crn2").eval(), "crn-mask", path)
    assert np.allclose(_thirds(base), 1 / 3, atol=0.03)


def test_its_own_mask_is_shown_first_unless_the_curator_chose_another(tuned):
    from geomatch_app.app.explain import heatmap_methods, preferred_heatmap

    methods = heatmap_methods(tuned)
    assert preferred_heatmap(methods, "magnitude") == "crn-mask"  # the generic default
    assert preferred_heatmap(methods, "occlusion") == "occlusion"  # a deliberate choice
    assert preferred_heatmap(["magnitude", "occlusion"], "magnitude") == "magnitude"
