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


class AvgPool(nn.Module):
    """Global average pooling (paper A's f_avg / paper C's "base" head)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mean(dim=(2, 3))


class MaxPool(nn.Module):
    """Global max pooling (paper A's f_max)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.amax(dim=(2, 3))


class GeMFC(nn.Module):
    """GeM followed by a fully connected whitening layer (paper C, after Radenović et al.)."""

    def __init__(self, in_dim: int, out_dim: int, p: float = 3.0):
        super().__init__()
        self.gem = GeM(p)
        self.fc = nn.Linear(in_dim, out_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(F.normalize(self.gem(x), dim=1))


# --------------------------------------------------------------------------- NetVLAD family


def vlad_aggregate(x: torch.Tensor, assign: torch.Tensor, centroids: torch.Tensor,
                   weight: torch.Tensor | None = None) -> torch.Tensor:
    """V(k, j) = Σ_i w_i a_k(x_i) (x_i(j) − c_k(j)): (B,C,N), (B,K,N), (K,C), (B,N) → (B,K,C)."""
    if weight is not None:
        assign = assign * weight[:, None, :]
    # Σ_i a_ki x_i − (Σ_i a_ki) c_k, without materialising the (B,K,C,N) residual tensor
    return torch.bmm(assign, x.transpose(1, 2)) - assign.sum(2)[:, :, None] * centroids[None]


def vlad_normalise(v: torch.Tensor) -> torch.Tensor:
    """Intra-normalisation (per cluster), flatten, then global L2."""
    v = F.normalize(v, p=2.0, dim=2)
    return F.normalize(v.flatten(1), p=2.0, dim=1)


class NetVLAD(nn.Module):
    """NetVLAD (Arandjelović et al.): soft-assignment 1×1 conv, residual aggregation, intra-norm.

    The soft-assignment conv is ``2α c_k`` / ``−α‖c_k‖²`` after :meth:`init_from_centroids`, so a
    large α mimics hard VLAD; before initialisation the centroids are random. Output (B, K·C).
    """

    def __init__(self, dim: int, clusters: int = 64, alpha: float = 100.0,
                 normalize_input: bool = True):
        super().__init__()
        self.dim = dim
        self.clusters = clusters
        self.normalize_input = normalize_input
        self.conv = nn.Conv2d(dim, clusters, kernel_size=1, bias=True)
        self.centroids = nn.Parameter(torch.rand(clusters, dim))
        self.register_buffer("alpha", torch.tensor(float(alpha)))
        self.register_buffer("initialised", torch.tensor(False))

    @property
    def out_dim(self) -> int:
        return self.clusters * self.dim

    def init_from_centroids(self, centroids: torch.Tensor, alpha: float) -> None:
        """Set c_k and the soft-assignment conv from k-means centroids and α."""
        c = centroids.to(self.centroids)
        with torch.no_grad():
            self.centroids.copy_(c)
            self.conv.weight.copy_((2.0 * alpha * c)[:, :, None, None])
            self.conv.bias.copy_(-alpha * c.pow(2).sum(1))
            self.alpha.fill_(alpha)
            self.initialised.fill_(True)

    def prepare(self, x: torch.Tensor) -> torch.Tensor:
        """The local descriptors as NetVLAD sees them (L2-normalised along channels)."""
        return F.normalize(x, p=2.0, dim=1) if self.normalize_input else x

    def soft_assign(self, x: torch.Tensor) -> torch.Tensor:
        """(B,C,h,w) prepared descriptors → (B,K,h,w) soft-assignment (softmax over clusters)."""
        return F.softmax(self.conv(x), dim=1)

    def aggregate(self, x: torch.Tensor, assign: torch.Tensor,
                  weight: torch.Tensor | None = None) -> torch.Tensor:
        """Unnormalised VLAD (B,K,C) from maps x (B,C,h,w), assign (B,K,h,w), weight (B,1,h,w)."""
        w = weight.flatten(1) if weight is not None else None
        return vlad_aggregate(x.flatten(2), assign.flatten(2), self.centroids, w)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.prepare(x)
        return vlad_normalise(self.aggregate(x, self.soft_assign(x)))


class Attention(nn.Module):
    """Paper A's attention module: ReLU → 1×1 conv → softplus, a positive weight per location."""

    def __init__(self, dim: int):
        super().__init__()
        self.conv = nn.Conv2d(dim, 1, kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.softplus(self.conv(F.relu(x)))  # (B,1,h,w)


class AttentionNetVLAD(NetVLAD):
    """NetVLAD with paper A's attention aggregation.

    mode "a1" (Eq. 4): the attention weights the residuals, Σ w_i a_k(x_i)(x_i − c_k).
    mode "a2" (Eq. 5): it weights the descriptors before assignment,
    Σ w_i a_k(w_i x_i)(w_i x_i − c_k).
    mode "a1a2" (Eq. 6, paper A's "ours"): the sum of both VLADs before normalisation.
    The attention reads the raw (pre-normalisation) feature map.
    """

    def __init__(self, dim: int, clusters: int = 64, mode: str = "a1a2", alpha: float = 100.0):
        super().__init__(dim, clusters, alpha=alpha)
        if mode not in ("a1", "a2", "a1a2"):
            raise ValueError(f"attention mode must be a1, a2 or a1a2, not {mode!r}")
        self.mode = mode
        self.attention = Attention(dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = self.attention(x)
        xn = self.prepare(x)
        v = None
        if self.mode in ("a1", "a1a2"):
            v = self.aggregate(xn, self.soft_assign(xn), w)
        if self.mode in ("a2", "a1a2"):
            xw = xn * w
            v2 = self.aggregate(xw, self.soft_assign(xw), w)
            v = v2 if v is None else v + v2
        return vlad_normalise(v)


class ContextMask(nn.Module):
    """Context re-weighting mask of CRN (Kim et al.) as built in paper C, or its CRN2 variant.

    "crn": avg-pool ×½ → parallel 3×3 (32), 5×5 (32), 7×7 (20) convs → ReLU → concat → 1×1 conv
    → bilinear upsample. "crn2": no pooling; the 5×5 and 7×7 branches become 2 and 3 stacked
    dilated 3×3 convs (dilation 2 keeps the receptive field of the pooled version).
    The 1×1 conv starts near "all ones" (bias 1, small weights) so a fresh CRN behaves like
    NetVLAD; a ReLU keeps the mask non-negative.
    """

    def __init__(self, dim: int, kind: str = "crn"):
        super().__init__()
        if kind not in ("crn", "crn2"):
            raise ValueError(f"context mask kind must be crn or crn2, not {kind!r}")
        self.kind = kind
        if kind == "crn":
            self.branches = nn.ModuleList([
                nn.Conv2d(dim, 32, 3, padding=1),
                nn.Conv2d(dim, 32, 5, padding=2),
                nn.Conv2d(dim, 20, 7, padding=3),
            ])
        else:
            def c3(cin: int, cout: int) -> nn.Conv2d:
                return nn.Conv2d(cin, cout, 3, padding=2, dilation=2)

            self.branches = nn.ModuleList([
                c3(dim, 32),
                nn.Sequential(c3(dim, 32), nn.ReLU(), c3(32, 32)),
                nn.Sequential(c3(dim, 32), nn.ReLU(), c3(32, 32), nn.ReLU(), c3(32, 20)),
            ])
        self.accumulate = nn.Conv2d(84, 1, kernel_size=1)
        with torch.no_grad():
            self.accumulate.weight.mul_(0.1)
            self.accumulate.bias.fill_(1.0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        y = F.avg_pool2d(x, 2, ceil_mode=True) if self.kind == "crn" else x
        y = F.relu(torch.cat([b(y) for b in self.branches], dim=1))
        m = self.accumulate(y)
        if m.shape[-2:] != (h, w):
            m = F.interpolate(m, size=(h, w), mode="bilinear", align_corners=False)
        return F.relu(m)  # (B,1,h,w)


class CRNNetVLAD(NetVLAD):
    """NetVLAD whose soft-assignment is re-weighted by a context mask (paper C's CRN / CRN2)."""

    def __init__(self, dim: int, clusters: int = 64, kind: str = "crn", alpha: float = 100.0):
        super().__init__(dim, clusters, alpha=alpha)
        self.context = ContextMask(dim, kind)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mask = self.context(x)
        xn = self.prepare(x)
        return vlad_normalise(self.aggregate(xn, self.soft_assign(xn) * mask))
