"""PlaceModel = backbone (image → feature map) + head (feature map → descriptor), L2-normalised.

Every model carries its preprocessing (input size, mean, std) and a fingerprint so an index or a
checkpoint can tell which model made it.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn


@dataclass(frozen=True)
class Preprocess:
    size: int = 224  # shorter side is resized to this, then centre-cropped square
    mean: tuple[float, float, float] = (0.485, 0.456, 0.406)
    std: tuple[float, float, float] = (0.229, 0.224, 0.225)

    def to_json(self) -> dict:
        return asdict(self)


HALF = Preprocess(size=224, mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5))
IMAGENET = Preprocess()


class PlaceModel(nn.Module):
    def __init__(self, backbone: nn.Module, head: nn.Module, dim: int,
                 preprocess: Preprocess = IMAGENET, projection: nn.Module | None = None):
        super().__init__()
        self.backbone = backbone
        self.head = head
        self.projection = projection
        self.dim = dim
        self.preprocess = preprocess
        self.name = ""  # set by get_model
        self.build_kwargs: dict = {}

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Local feature map (B, C, h, w) — used by heatmaps and NetVLAD initialisation."""
        return self.backbone(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        d = self.head(self.backbone(x))
        if self.projection is not None:
            d = self.projection(d)
        return F.normalize(d, p=2.0, dim=1)

    def weight_hash(self) -> str:
        """sha256 over every tensor of the state dict, in key order (16 hex chars).

        The arrays are hashed through the buffer protocol, not copied with ``tobytes()``: the
        same bytes and digest, and hashlib releases the GIL on them (a copy held it ~0.3 s and
        froze the window while an index opened: benchmarks/bench_startup.py)."""
        h = hashlib.sha256()
        for key, t in sorted(self.state_dict().items()):
            h.update(key.encode())
            h.update(np.ascontiguousarray(t.detach().cpu().numpy()).reshape(-1).view(np.uint8))
        return h.hexdigest()[:16]

    def fingerprint(self) -> dict:
        return {
            "name": self.name,
            "kwargs": {k: v for k, v in self.build_kwargs.items() if _jsonable(v)},
            "weight_hash": self.weight_hash(),
            "preprocess": self.preprocess.to_json(),
            "dim": self.dim,
        }


def _jsonable(v: object) -> bool:
    return isinstance(v, (str, int, float, bool, type(None), list, tuple))
