"""Paper B's Hierarchical Attention Fusion (HAF) on VGG16 conv3_2 / conv4_3 / conv5_3.

Each level has an attention mask, a descriptor head (per-pixel L2-normalised descriptors K) and
a coupled detection head (score map s: channel sum of the attended features, normalised to sum
1 over the image). Paper B compares two images level by level with score-weighted descriptor
distances and fuses the levels with weights 0.1 / 0.4 / 0.5.

For indexing we need one vector per image, so the global form is, per level, the score-weighted
sum g_l = Σ_ij s_ij K_ij (L2-normalised), concatenated with factors √w_l: the squared distance
of two global descriptors is then Σ_l w_l ‖g_l − g'_l‖². The level-wise score is
:func:`haf_distance` (needs both images at the same size so positions correspond).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from geomatch_app.models.losses import HAF_LEVEL_WEIGHTS, score_weighted_distance


class HAFLevel(nn.Module):
    def __init__(self, in_dim: int, desc_dim: int = 256):
        super().__init__()
        self.attention = nn.Conv2d(in_dim, 1, kernel_size=1)
        self.project = nn.Conv2d(in_dim, desc_dim, kernel_size=1)

    def forward(self, f: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """f (B,C,h,w) → (scores (B,h,w) summing to 1, descriptors (B,D,h,w), mask (B,1,h,w))."""
        mask = torch.sigmoid(self.attention(f))
        attended = F.relu(self.project(f)) * mask
        det = attended.sum(1)
        scores = det / det.flatten(1).sum(1).clamp_min(1e-12)[:, None, None]
        return scores, F.normalize(attended, p=2.0, dim=1), mask


class HAFHead(nn.Module):
    """Global-descriptor form of HAF: Σ_l √w_l · L2(Σ_ij s_ij K_ij), concatenated."""

    def __init__(self, in_dims: Sequence[int] = (256, 512, 512), desc_dim: int = 256,
                 weights: Sequence[float] = HAF_LEVEL_WEIGHTS):
        super().__init__()
        if len(in_dims) != len(weights):
            raise ValueError("need one fusion weight per level")
        self.levels = nn.ModuleList(HAFLevel(d, desc_dim) for d in in_dims)
        self.weights = tuple(float(w) for w in weights)
        self.out_dim = desc_dim * len(in_dims)

    def level_outputs(self, feats: Sequence[torch.Tensor]):
        return [lvl(f) for lvl, f in zip(self.levels, feats, strict=True)]

    def forward(self, feats: Sequence[torch.Tensor]) -> torch.Tensor:
        parts = []
        for (scores, desc, _), w in zip(self.level_outputs(feats), self.weights, strict=True):
            g = (desc * scores[:, None]).sum(dim=(2, 3))
            parts.append(math.sqrt(w) * F.normalize(g, p=2.0, dim=1))
        return torch.cat(parts, dim=1)


def haf_level_distances(model: nn.Module, xq: torch.Tensor, xr: torch.Tensor) -> list[torch.Tensor]:
    """Per-level ΔD(I_q, I_r) (paper B) for a HAF PlaceModel; each (B,). Same-size images."""
    head: HAFHead = model.head
    oq = head.level_outputs(model.features(xq))
    orr = head.level_outputs(model.features(xr))
    return [score_weighted_distance(sq, kq, sr, kr) for (sq, kq, _), (sr, kr, _) in
            zip(oq, orr, strict=True)]


def haf_distance(model: nn.Module, xq: torch.Tensor, xr: torch.Tensor) -> torch.Tensor:
    """Fused level-wise distance Σ_l w_l ΔD_l (lower = more similar), (B,)."""
    dists = haf_level_distances(model, xq, xr)
    return sum(w * d for w, d in zip(model.head.weights, dists, strict=True))
