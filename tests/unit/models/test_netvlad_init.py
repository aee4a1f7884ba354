"""NetVLAD initialisation recovers planted centroids and sets a sharp α."""

from __future__ import annotations

import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("faiss")

from geomatch_app.core.errors import GeomatchError  # noqa: E402
from geomatch_app.core.progress import Cancelled, Progress  # noqa: E402
from geomatch_app.models.layers import GeM, NetVLAD  # noqa: E402
from geomatch_app.models.netvlad_init import (  # noqa: E402
    alpha_for,
    init_netvlad,
    sample_descriptors,
)
from geomatch_app.models.place import PlaceModel  # noqa: E402


class Passthrough(torch.nn.Module):
    """A "backbone" that returns its input, so the test controls the local descriptors."""

    def __init__(self) -> None:
        super().__init__()
        self.dummy = torch.nn.Parameter(torch.zeros(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


def planted(n_images: int = 6, k: int = 3, c: int = 5, seed: int = 0):
    rng = np.random.default_rng(seed)
    cent = rng.normal(size=(k, c))
    cent /= np.linalg.norm(cent, axis=1, keepdims=True)
    labels = rng.integers(0, k, size=(n_images, 8, 8))
    x = cent[labels] + rng.normal(scale=0.01, size=(n_images, 8, 8, c))
    return cent, labels, torch.tensor(x, dtype=torch.float32).permute(0, 3, 1, 2).contiguous()


def test_init_recovers_planted_centroids_and_assigns_hard() -> None:
    cent, labels, images = planted()
    model = PlaceModel(Passthrough(), NetVLAD(5, 3), dim=15)
    summary = init_netvlad(model, images, n_descriptors=300, batch_size=4)
    assert summary["descriptors"] == 300 and summary["clusters"] == 3
    got = model.head.centroids.detach().numpy()
    # every planted centroid has a learned one within the noise level (order is arbitrary)
    dist = np.linalg.norm(got[:, None, :] - cent[None], axis=2)
    assert sorted(dist.argmin(0).tolist()) == [0, 1, 2]
    assert dist.min(0).max() < 0.02
    # soft-assignment ≈ hard assignment to the planted cluster
    head = model.head
    with torch.no_grad():
        a = head.soft_assign(head.prepare(images))  # (B,K,h,w)
    match = dist.argmin(0)  # planted k → learned index
    assert (a.argmax(1).numpy() == match[labels]).mean() == 1.0
    assert float(a.max(1).values.mean()) > 0.95
    assert summary["alpha"] == pytest.approx(float(head.alpha))


def test_alpha_formula() -> None:
    cent = np.array([[0.0, 0.0], [1.0, 0.0]], np.float32)
    desc = np.array([[0.1, 0.0], [0.8, 0.0]], np.float32)
    gaps = [(0.9**2 - 0.1**2), (0.8**2 - 0.2**2)]
    assert alpha_for(cent, desc) == pytest.approx(-math.log(0.01) / np.mean(gaps), rel=1e-5)


def test_sampling_respects_budget_and_cancel() -> None:
    _, _, images = planted(n_images=4)
    model = PlaceModel(Passthrough(), NetVLAD(5, 3), dim=15)
    d = sample_descriptors(model, list(images), n_descriptors=50)
    assert d.shape == (50, 5) and d.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(d, axis=1), 1.0, rtol=1e-5)
    with pytest.raises(Cancelled):
        sample_descriptors(model, images, 200, batch_size=1,
                           progress=Progress(cancelled=lambda: True))


def test_init_rejects_models_without_netvlad() -> None:
    model = PlaceModel(Passthrough(), GeM(), dim=5)
    with pytest.raises(GeomatchError, match="NetVLAD"):
        init_netvlad(model, torch.zeros(1, 5, 4, 4))
