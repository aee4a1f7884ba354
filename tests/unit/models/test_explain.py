"""Heatmaps are H×W, aligned to the input, and the occlusion map finds a planted patch."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from geomatch_app.core.progress import Cancelled, Progress  # noqa: E402
from geomatch_app.models import get_model  # noqa: E402
from geomatch_app.models.explain import (  # noqa: E402
    available_heatmaps,
    heatmap,
    occlusion_map,
)
from geomatch_app.models.layers import AvgPool, NetVLAD  # noqa: E402
from geomatch_app.models.place import PlaceModel  # noqa: E402


class Passthrough(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.dummy = torch.nn.Parameter(torch.zeros(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.mark.parametrize("name,size,expected", [
    ("alexnet-a1a2", 64, {"attention", "magnitude", "netvlad-cluster", "netvlad-entropy"}),
    ("resnet18-crn", 64, {"crn-mask", "magnitude", "netvlad-cluster", "netvlad-entropy"}),
    ("resnet18-crn2", 48, {"crn-mask", "magnitude", "netvlad-cluster", "netvlad-entropy"}),
    ("vgg16-haf", 32, {"haf-scores", "magnitude"}),
    ("resnet18-gem", 40, {"magnitude"}),
])
def test_every_available_heatmap_is_image_aligned(name: str, size: int, expected: set) -> None:
    model = get_model(name, pretrained=False)
    methods = available_heatmaps(model)
    assert set(methods) == expected | {"occlusion"}
    img = torch.randn(3, size, size + 8)
    for method in methods:
        kw = {}
        if method == "occlusion":
            with torch.no_grad():
                kw = {"gallery_desc": model(img[None])[0].numpy(), "patch": size // 2,
                      "stride": size // 4}
        m = heatmap(model, method, img, **kw)
        assert m.shape == (size, size + 8) and m.dtype == np.float32, method
        assert np.isfinite(m).all(), method
    with pytest.raises(ValueError):
        heatmap(model, "no-such-map", img)


def test_magnitude_and_cluster_maps_are_exact_on_identity_backbone() -> None:
    rng = np.random.default_rng(0)
    cent = np.eye(4, dtype=np.float32)[:3]
    labels = rng.integers(0, 3, size=(12, 10))
    x = torch.tensor(cent[labels] * rng.uniform(1, 3, size=(12, 10, 1)),
                     dtype=torch.float32).permute(2, 0, 1)
    head = NetVLAD(4, 3)
    head.init_from_centroids(torch.tensor(cent), alpha=50.0)
    model = PlaceModel(Passthrough(), head, dim=12)
    mag = heatmap(model, "magnitude", x)
    np.testing.assert_allclose(mag, x.norm(dim=0).numpy(), rtol=1e-5)
    clusters = heatmap(model, "netvlad-cluster", x)
    np.testing.assert_array_equal(clusters, labels.astype(np.float32))
    ent = heatmap(model, "netvlad-entropy", x)
    assert ent.max() < 0.05  # every location confidently assigned


def planted_query() -> tuple[torch.Tensor, tuple[slice, slice]]:
    x = torch.zeros(3, 32, 32)
    x[1] = 0.5  # a flat context everywhere
    x += torch.rand(3, 32, 32, generator=torch.Generator().manual_seed(0)) * 0.05
    region = (slice(20, 28), slice(4, 12))
    x[0][region] = 1.0  # the distinctive patch
    return x, region


def test_occlusion_map_peaks_on_the_planted_patch() -> None:
    model = PlaceModel(Passthrough(), AvgPool(), dim=3)
    x, region = planted_query()
    with torch.no_grad():
        g = model(x[None])[0].numpy()
    calls = []
    m = occlusion_map(model, x, g, patch=4, stride=2, batch=8,
                      progress=Progress(report=lambda d, t, s: calls.append((d, t))))
    assert m.shape == (32, 32)
    iy, ix = np.unravel_index(np.argmax(m), m.shape)
    assert 20 <= iy < 28 and 4 <= ix < 12
    inside = m[region].mean()
    outside = np.delete(m.reshape(-1), np.ravel_multi_index(np.mgrid[region].reshape(2, -1),
                                                            m.shape)).mean()
    assert inside > 5 * abs(outside)
    # 15×15 patch positions in batches of 8 → 29 steps, the last one complete
    assert calls[-1] == (29, 29) and len(calls) == 29


def test_occlusion_map_can_be_cancelled() -> None:
    model = PlaceModel(Passthrough(), AvgPool(), dim=3)
    x, _ = planted_query()
    with pytest.raises(Cancelled):
        occlusion_map(model, x, np.ones(3, np.float32), patch=4,
                      progress=Progress(cancelled=lambda: True))
    with pytest.raises(ValueError, match="gallery_desc"):
        heatmap(model, "occlusion", x)


def test_coarse_to_fine_occlusion_finds_the_patch_and_reports_each_batch() -> None:
    model = PlaceModel(Passthrough(), AvgPool(), dim=3)
    x, region = planted_query()
    with torch.no_grad():
        g = model(x[None])[0].numpy()
    calls = []
    m = occlusion_map(model, x, g, batch=5, grid=4, refine=2,
                      progress=Progress(report=lambda d, t, s: calls.append((d, t))))
    assert m.shape == (32, 32) and m.dtype == np.float32
    iy, ix = np.unravel_index(np.argmax(m), m.shape)
    assert 18 <= iy < 30 and 2 <= ix < 14  # within a quarter-cell of the planted patch
    assert m[region].mean() > 3 * abs(np.delete(m.reshape(-1), np.ravel_multi_index(
        np.mgrid[region].reshape(2, -1), m.shape)).mean())
    # 1 unoccluded pass + 16 cells in batches of 5 (4) + 2×4 quarters in batches of 5 (2)
    assert calls == [(i, 7) for i in range(1, 8)]


def test_coarse_to_fine_occlusion_can_be_cancelled_midway() -> None:
    model = PlaceModel(Passthrough(), AvgPool(), dim=3)
    x, _ = planted_query()
    seen = []
    progress = Progress(report=lambda d, t, s: seen.append(d), cancelled=lambda: len(seen) >= 3)
    with pytest.raises(Cancelled):
        occlusion_map(model, x, np.ones(3, np.float32), batch=4, progress=progress)
    assert seen == [1, 2, 3]
