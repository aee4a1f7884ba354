"""Small pooling layers used by several models (CosPlace style: explicit modules)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class L2Norm(nn.Module):
    def __init__(self, dim: int = 1):
        super().__init__()
        self.dim = dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.normalize(x, p=2.0, dim=self.dim)


class GeM(nn.Module):
    """Generalised mean pooling: (mean x^p)^(1/p) over H×W, learnable p (Radenović et al.)."""

    def __init__(self, p: float = 3.0, eps: float = 1e-6, learn_p: bool = True):
        super().__init__()
        self.p = nn.Parameter(torch.tensor([float(p)]), requires_grad=learn_p)
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.clamp(min=self.eps).pow(self.p)
        return F.adaptive_avg_pool2d(x, 1).pow(1.0 / self.p).flatten(1)
