"""Training losses of the four source papers, as plain functions on descriptor tensors.

Why plain functions: the trainer mixes them (e.g. ranking + MK-MMD) and the tests compare each
one against a loop/NumPy reference, which is easiest without module state. All take batched
tensors and return a scalar (mean over the batch unless said otherwise).

Distances are squared Euclidean unless a paper says otherwise (papers A and D use squared
distances; paper D's multi-positive form uses the plain L2 distance as a negative similarity;
paper C trains with PyTorch's triplet margin loss, i.e. plain L2 — ``squared=False``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F

__all__ = [
    "sq_dist",
    "pairwise_sq_dist",
    "ranking_loss",
    "triplet_loss",
    "soft_triplet_loss",
    "dbl_probability",
    "dbl_pair_loss",
    "dbl_triplet_loss",
    "exhaustive_dbl_loss",
    "multi_soft_triplet_loss",
    "exhaustive_multi_soft_triplet_loss",
    "contrastive_loss",
    "score_weighted_distance",
    "multi_level_triplet_loss",
    "HAF_LEVEL_WEIGHTS",
    "mk_mmd",
    "domain_adapted_loss",
]

HAF_LEVEL_WEIGHTS = (0.1, 0.4, 0.5)  # paper B: conv3_2, conv4_3, conv5_3


def sq_dist(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Squared Euclidean distance along the last dim (broadcasting)."""
    return (a - b).pow(2).sum(-1)


def pairwise_sq_dist(x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
    """(N,D),(M,D) → (N,M) squared distances, via the Gram expansion (memory N·M, not N·M·D)."""
    y = x if y is None else y
    d = x.pow(2).sum(1, keepdim=True) + y.pow(2).sum(1)[None, :] - 2.0 * (x @ y.T)
    return d.clamp_min(0.0)


def _batch(t: torch.Tensor, ndim: int) -> torch.Tensor:
    return t.unsqueeze(0) if t.dim() == ndim - 1 else t


# --------------------------------------------------------------------------- paper A


def _dist(a: torch.Tensor, b: torch.Tensor, squared: bool) -> torch.Tensor:
    d = sq_dist(a, b)
    return d if squared else d.clamp_min(1e-12).sqrt()


def ranking_loss(query: torch.Tensor, positives: torch.Tensor, negatives: torch.Tensor,
                 margin: float = 0.1, neg_mask: torch.Tensor | None = None,
                 squared: bool = True) -> torch.Tensor:
    """Paper A Eq. 3 (NetVLAD's weakly supervised ranking loss).

    For each query: d⁺ = min over its potential positives of the squared distance; the loss is
    Σ_j max(0, d⁺ + margin − d²(q, n_j)) over its negatives. Mean over queries.
    Shapes: query (B,D) or (D,); positives (B,P,D); negatives (B,N,D); neg_mask (B,N) bool marks
    real negatives when queries have different numbers of them. ``squared=False`` uses the
    plain L2 distance (paper C's form).
    """
    q = _batch(query, 2)
    pos = _batch(positives, 3)
    neg = _batch(negatives, 3)
    d_pos = _dist(q[:, None, :], pos, squared).min(dim=1).values  # (B,)
    d_neg = _dist(q[:, None, :], neg, squared)  # (B,N)
    hinge = F.relu(d_pos[:, None] + margin - d_neg)
    if neg_mask is not None:
        hinge = hinge * _batch(neg_mask, 2).to(hinge.dtype)
    return hinge.sum(dim=1).mean()


# --------------------------------------------------------------------------- triplets


def triplet_loss(anchor: torch.Tensor, positive: torch.Tensor, negative: torch.Tensor,
                 margin: float = 0.1, squared: bool = True) -> torch.Tensor:
    """Standard triplet hinge max(0, m + d(a,p) − d(a,n)) (paper D Eq. 3.4), mean over triplets.

    ``squared=False``: plain L2 distances, as paper C's ``nn.TripletMarginLoss`` (margin 0.1).
    """
    d_ap = _dist(anchor, positive, squared)
    d_an = _dist(anchor, negative, squared)
    return F.relu(margin + d_ap - d_an).mean()


def soft_triplet_loss(anchor: torch.Tensor, positive: torch.Tensor, negative: torch.Tensor,
                      scale: float = 1.0) -> torch.Tensor:
    """Soft-margin triplet log(1 + exp(d_ap − d_an)) with squared distances (paper D Eq. 3.8).

    ``scale`` multiplies the features first: with L2-normalised descriptors the distances live in
    [0, 4], too flat for the logistic, so paper D advises scaling (e.g. by 3).
    """
    d_ap = sq_dist(anchor * scale, positive * scale)
    d_an = sq_dist(anchor * scale, negative * scale)
    return F.softplus(d_ap - d_an).mean()


# --------------------------------------------------------------------------- paper D (DBL)


def dbl_probability(d: torch.Tensor, m: float = 10.0) -> torch.Tensor:
    """Distance-based logistic p = (1 + e^(−m)) / (1 + e^(D − m)): match probability (Eq. 3.5)."""
    return (1.0 + math.exp(-m)) * torch.sigmoid(m - d)


def _log_dbl(d: torch.Tensor, m: float) -> tuple[torch.Tensor, torch.Tensor]:
    """(log p, log(1 − p)) of the DBL, computed without overflow.

    1 − p = e^(−m)(e^D − 1) / (1 + e^(D − m)), and log(e^D − 1) = D + log(1 − e^(−D)).
    """
    d = d.clamp_min(1e-12)
    log_den = F.softplus(d - m)
    log_p = math.log1p(math.exp(-m)) - log_den
    log_1mp = -m + d + torch.log(-torch.expm1(-d)) - log_den
    return log_p, log_1mp


def dbl_pair_loss(x1: torch.Tensor, x2: torch.Tensor, label: torch.Tensor, m: float = 10.0,
                  scale: float = 1.0) -> torch.Tensor:
    """Siamese DBL-Net loss: log-loss of the DBL probability against label 1 (match) / 0 (Eq. 3.6).

    D is the squared distance of the (scaled) features. Mean over pairs.
    """
    d = sq_dist(x1 * scale, x2 * scale)
    log_p, log_1mp = _log_dbl(d, m)
    y = label.to(d.dtype)
    return -(y * log_p + (1.0 - y) * log_1mp).mean()


def dbl_triplet_loss(anchor: torch.Tensor, positive: torch.Tensor, negative: torch.Tensor,
                     scale: float = 1.0) -> torch.Tensor:
    """Triplet DBL-Net loss (Eq. 3.7–3.8); identical to :func:`soft_triplet_loss`."""
    return soft_triplet_loss(anchor, positive, negative, scale=scale)


def _label_masks(labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    same = labels[:, None] == labels[None, :]
    eye = torch.eye(len(labels), dtype=torch.bool, device=labels.device)
    return same & ~eye, ~same


def exhaustive_dbl_loss(x: torch.Tensor, labels: torch.Tensor, scale: float = 1.0) -> torch.Tensor:
    """Paper D's eDBL: the triplet DBL loss over *every* triplet in the mini-batch.

    Every item is an anchor; every other item with its label is a positive, every item with
    another label a negative. For a batch of B matched pairs (a_i, b_i) pass
    ``torch.cat([a, b])`` and ``torch.arange(B).repeat(2)``: 2B anchors × 1 positive × 2B−2
    negatives. Mean over all valid triplets.
    """
    d = pairwise_sq_dist(x * scale)
    pos, neg = _label_masks(labels)
    # (anchor, positive, negative) cube of d_ap − d_an
    diff = d[:, :, None] - d[:, None, :]
    valid = pos[:, :, None] & neg[:, None, :]
    if not valid.any():
        return x.sum() * 0.0
    return F.softplus(diff[valid]).mean()


def multi_soft_triplet_loss(anchor: torch.Tensor, positives: torch.Tensor,
                            negatives: torch.Tensor, pos_mask: torch.Tensor | None = None,
                            neg_mask: torch.Tensor | None = None,
                            scale: float = 1.0) -> torch.Tensor:
    """Paper D Eq. 5.2: −log(Σ_i e^{s(a,p_i)} / (Σ_i e^{s(a,p_i)} + Σ_j e^{s(a,n_j)})).

    s is the negative (plain, not squared) L2 distance of the scaled features. Several positives
    make the loss tolerant ("retrieve *a* correct example"); several negatives let it favour the
    hard ones. Shapes: anchor (B,D); positives (B,P,D); negatives (B,N,D); masks (B,P)/(B,N).
    """
    a = _batch(anchor, 2)[:, None, :] * scale
    s_pos = -sq_dist(a, _batch(positives, 3) * scale).clamp_min(1e-12).sqrt()
    s_neg = -sq_dist(a, _batch(negatives, 3) * scale).clamp_min(1e-12).sqrt()
    if pos_mask is not None:
        s_pos = s_pos.masked_fill(~_batch(pos_mask, 2), float("-inf"))
    if neg_mask is not None:
        s_neg = s_neg.masked_fill(~_batch(neg_mask, 2), float("-inf"))
    lse_pos = torch.logsumexp(s_pos, dim=1)
    lse_all = torch.logsumexp(torch.cat([s_pos, s_neg], dim=1), dim=1)
    return (lse_all - lse_pos).mean()


def exhaustive_multi_soft_triplet_loss(x: torch.Tensor, labels: torch.Tensor,
                                       scale: float = 1.0) -> torch.Tensor:
    """Eq. 5.2 with every other batch item as a positive (same label) or negative (other label).

    Anchors without a positive or without a negative are skipped. Mean over anchors.
    """
    d = pairwise_sq_dist(x * scale)
    s = -(d + torch.eye(len(x), device=x.device, dtype=x.dtype)).sqrt()  # eye: no sqrt(0) grad
    pos, neg = _label_masks(labels)
    keep = pos.any(1) & neg.any(1)
    if not keep.any():
        return x.sum() * 0.0
    ninf = torch.tensor(float("-inf"), dtype=s.dtype, device=s.device)
    lse_pos = torch.logsumexp(torch.where(pos, s, ninf), dim=1)
    lse_all = torch.logsumexp(torch.where(pos | neg, s, ninf), dim=1)
    return (lse_all - lse_pos)[keep].mean()


# --------------------------------------------------------------------------- pairs


def contrastive_loss(x1: torch.Tensor, x2: torch.Tensor, label: torch.Tensor,
                     margin: float = 0.5) -> torch.Tensor:
    """Contrastive loss (Hadsell et al.): y·d² + (1 − y)·max(0, margin − d)², d the L2 distance.

    label 1 = same place, 0 = different. Mean over pairs.
    """
    d2 = sq_dist(x1, x2)
    d = d2.clamp_min(1e-12).sqrt()
    y = label.to(d.dtype)
    return (y * d2 + (1.0 - y) * F.relu(margin - d).pow(2)).mean()


# --------------------------------------------------------------------------- paper B


def score_weighted_distance(score_q: torch.Tensor, desc_q: torch.Tensor,
                            score_r: torch.Tensor, desc_r: torch.Tensor) -> torch.Tensor:
    """Paper B's ΔD at one level: Σ_c s_q^c s_r^c / Σ_c' s_q^c' s_r^c' · ‖K_q^c − K_r^c‖₂.

    c runs over corresponding feature-map positions. Shapes: scores (B,h,w) (or (B,1,h,w)),
    descriptors (B,C,h,w); returns (B,). Broadcasting lets one query be scored against many
    references.
    """
    if score_q.dim() == 4:
        score_q = score_q[:, 0]
    if score_r.dim() == 4:
        score_r = score_r[:, 0]
    w = (score_q * score_r).flatten(1)
    w = w / w.sum(1, keepdim=True).clamp_min(1e-12)
    dist = (desc_q - desc_r).pow(2).sum(1).clamp_min(1e-12).sqrt().flatten(1)
    return (w * dist).sum(1)


def multi_level_triplet_loss(d_pos: Sequence[torch.Tensor], d_neg: Sequence[torch.Tensor],
                             margin: float = 0.1,
                             weights: Sequence[float] = HAF_LEVEL_WEIGHTS) -> torch.Tensor:
    """Paper B: Σ_l w_l · mean max(M + ΔD_l(q, r⁺) − ΔD_l(q, r⁻), 0), w = 0.1 / 0.4 / 0.5.

    ``d_pos[l]`` / ``d_neg[l]`` are the level-l distances (B,) of the query to its positive and
    negative reference (e.g. from :func:`score_weighted_distance`).
    """
    if not (len(d_pos) == len(d_neg) == len(weights)):
        raise ValueError("need one positive distance, negative distance and weight per level")
    total = d_pos[0].new_zeros(())
    for w, dp, dn in zip(weights, d_pos, d_neg, strict=True):
        total = total + w * F.relu(margin + dp - dn).mean()
    return total


# --------------------------------------------------------------------------- MK-MMD (paper A)


def mk_mmd(source: torch.Tensor, target: torch.Tensor, n_kernels: int = 5,
           kernel_mul: float = 2.0) -> torch.Tensor:
    """Multi-kernel MMD² between a source and a target batch of features (paper A, Eq. 7).

    Features of any shape are flattened per item. The kernels are Gaussians
    k(x, y) = exp(−‖x − y‖² / σ²) with σ² = median pairwise squared distance of the joint batch ×
    kernel_mul^i for i centred on 0 (−2..2 for five kernels): the median heuristic keeps the
    kernels meaningful whatever the feature scale. Biased estimator
    mean K_ss + mean K_tt − 2 mean K_st, summed over kernels — exactly 0 for identical batches.
    """
    xs = source.flatten(1)
    xt = target.flatten(1)
    joint = torch.cat([xs, xt])
    d = pairwise_sq_dist(joint)
    n = len(joint)
    off = d[~torch.eye(n, dtype=torch.bool, device=d.device)]
    base = off.detach().quantile(0.5).clamp_min(1e-12) if off.numel() else d.new_tensor(1.0)
    offsets = [i - (n_kernels - 1) / 2.0 for i in range(n_kernels)]
    k = sum(torch.exp(-d / (base * kernel_mul**o)) for o in offsets)
    ns = len(xs)
    k_ss, k_tt, k_st = k[:ns, :ns], k[ns:, ns:], k[:ns, ns:]
    return (k_ss.mean() + k_tt.mean() - 2.0 * k_st.mean()).clamp_min(0.0)


def domain_adapted_loss(ranking: torch.Tensor, mmd: torch.Tensor,
                        alpha: float = 0.99) -> torch.Tensor:
    """Paper A's total loss as published: L_u = L_r + α·M, α = 0.99 (paper A Eq. 1).

    M is the MK-MMD between source and target conv5 feature maps (:func:`mk_mmd`); α weighs the
    domain term against the full ranking loss, it does not shrink the ranking loss.
    """
    return ranking + alpha * mmd
