"""Fixtures of the training tests: a tiny registered model and small real Nordland subsets."""

from __future__ import annotations

import pytest

TINY = "tiny-test-gem"


def register_tiny() -> str:
    """A 3-conv GeM model (≈6 K parameters, 32-px input): trains in milliseconds per step."""
    from geomatch_app.models import registry

    if TINY in registry._REGISTRY:
        return TINY

    @registry.register_model(TINY, source="tests", backbone="3 convs", head="GeM")
    def tiny(pretrained: bool = True, width: int = 16):
        import torch
        from torch import nn

        from geomatch_app.models.layers import GeM
        from geomatch_app.models.place import HALF, PlaceModel, Preprocess

        torch.manual_seed(0)
        body = nn.Sequential(
            nn.Conv2d(3, 8, 3, stride=2, padding=1), nn.ReLU(),
            nn.Conv2d(8, width, 3, stride=2, padding=1), nn.ReLU(),
            nn.Conv2d(width, 32, 3, stride=1, padding=1), nn.ReLU(),
        )
        pre = Preprocess(size=32, mean=HALF.mean, std=HALF.std)
        return PlaceModel(body, GeM(), dim=32, preprocess=pre)

    return TINY


@pytest.fixture
def tiny_model_name() -> str:
    return register_tiny()


@pytest.fixture(scope="session")
def nordland_photos(shared_data):
    """(queries, gallery) of 40 consecutive Nordland places (past the black opening frames)."""
    from geomatch_app.data.gallery import load_photos

    manifest = shared_data / "nordland_seqslam" / "manifest.csv"
    if not manifest.is_file():
        pytest.skip("nordland_seqslam is not in ../shared/data")
    keep = {f"nordland_{n:05d}" for n in range(10000, 10400, 10)}
    q = [p for p in load_photos(manifest, "query").photos if p.place_id in keep]
    g = [p for p in load_photos(manifest, "gallery").photos if p.place_id in keep]
    return q, g
