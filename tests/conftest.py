"""Shared fixtures. Tests needing ../shared/data skip with a reason when it is absent."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("QTWEBENGINE_CHROMIUM_FLAGS", "--no-sandbox --disable-gpu")
os.environ.setdefault("OMP_NUM_THREADS", "2")


@pytest.fixture(scope="session")
def shared_data() -> Path:
    from geomatch_app.core.paths import shared_data_dir

    path = shared_data_dir()
    if path is None:
        pytest.skip("../shared/data is not present beside the checkout (real-data test)")
    return path


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path_factory, monkeypatch):
    """Keep every test's user data (demo index, fine-tuned models, tiles) out of ~."""
    home = tmp_path_factory.getbasetemp() / "geomatch-home"
    monkeypatch.setenv("GEOMATCH_HOME", str(home))


TINY = "tiny-test-gem"


def _register_tiny() -> str:
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
def tiny_model_name():
    """Registers the tiny model for one test and removes it again, so the built-in registry
    seen by other tests (e.g. the model-card check) is unchanged."""
    from geomatch_app.models import registry

    yield _register_tiny()
    registry._REGISTRY.pop(TINY, None)


@pytest.fixture
def one_torch_thread():
    """Run a test with one torch thread (restored afterwards): small tensors are faster so and
    results do not depend on the machine's core count."""
    import torch

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)
