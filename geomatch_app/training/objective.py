"""The training objectives, as functions of what one forward pass of a batch produces.

Why one flat tensor per image: gradient caching (paper D, Algorithm 1; :mod:`.gradcache`)
stores the network's outputs for the whole batch, computes the loss on them and back-propagates
chunk by chunk. Every loss here — paper A's ranking loss plus MK-MMD on the conv5 feature maps,
paper B's level-wise loss on score-weighted local distances, paper C's plain-L2 triplet, paper D's
soft-triplet / DBL / eDBL / multi-positive — is therefore computed from that stored output, so
all of them train in chunks that fit a small GPU. :class:`Outputs` packs descriptor, conv5 map
and (for HAF) the per-level scores and local descriptors into one row per image and unpacks them.

Batch layouts (:class:`Layout`):
- tuple losses (ranking, triplet, soft-triplet, dbl, haf): [queries b | positives b |
  negatives b·n_neg | targets], ``neg_mask`` (b, n_neg) marks real negatives (mined lists shorter
  than n_neg are padded by repetition, and padding enters neither the loss nor the MMD source);
- batch losses (edbl, multi-positive): [p×k items with place labels | targets].
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

TUPLE_LOSSES = ("ranking", "triplet", "soft-triplet", "dbl", "haf")
BATCH_LOSSES = ("edbl", "multi-positive")
LOSSES = TUPLE_LOSSES + BATCH_LOSSES


@dataclass
class Layout:
    """Where each kind of image sits in the batch."""

    n_source: int  # images of the labelled (source) domain, first in the batch
    n_target: int = 0  # unlabelled target images, last
    b: int = 0  # tuple layout: queries
    n_neg: int = 0
    neg_mask: torch.Tensor | None = None  # (b, n_neg) bool
    labels: torch.Tensor | None = None  # batch layout: (n_source,) place labels

    def source_gallery(self) -> torch.Tensor:
        """Indices of the real gallery-domain images (positives + unpadded negatives, or the
        p×k items): the MK-MMD source set."""
        if self.labels is not None:
            return torch.arange(self.n_source)
        neg = torch.arange(2 * self.b, 2 * self.b + self.b * self.n_neg)
        keep = self.neg_mask.reshape(-1).cpu() if self.neg_mask is not None else slice(None)
        return torch.cat([torch.arange(self.b, 2 * self.b), neg[keep]])


class Outputs:
    """Run the model's parts once and pack descriptor / conv5 map / HAF levels per image."""

    def __init__(self, model, maps: bool = False, levels: bool = False):
        self.model = model
        self.want_maps = maps
        self.want_levels = levels
        self.shapes: list[tuple[str, tuple[int, ...]]] = []

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        m = self.model
        feats = m.features(x)
        d = m.head(feats)
        if getattr(m, "projection", None) is not None:
            d = m.projection(d)
        parts = [("desc", F.normalize(d, p=2.0, dim=1))]
        if self.want_maps:
            last = feats[-1] if isinstance(feats, (list, tuple)) else feats
            parts.append(("map", last))  # paper A: MK-MMD on the feature maps after conv5
        if self.want_levels:
            for i, (scores, desc, _) in enumerate(m.head.level_outputs(feats)):
                parts += [(f"score{i}", scores), (f"local{i}", desc)]
        self.shapes = [(k, tuple(t.shape[1:])) for k, t in parts]
        return torch.cat([t.flatten(1) for _, t in parts], dim=1)

    def unpack(self, flat: torch.Tensor) -> dict[str, torch.Tensor]:
        out, at = {}, 0
        for key, shape in self.shapes:
            n = 1
            for s in shape:
                n *= s
            out[key] = flat[:, at:at + n].reshape(len(flat), *shape)
            at += n
        return out


def _tuple_loss(o: dict[str, torch.Tensor], lay: Layout, cfg, weights=None) -> torch.Tensor:
    from geomatch_app.models import losses

    b, n_neg = lay.b, lay.n_neg
    desc = o["desc"]
    q, p = desc[:b], desc[b:2 * b]
    n = desc[2 * b:2 * b + b * n_neg].reshape(b, n_neg, -1)
    mask = lay.neg_mask
    squared = not cfg.plain_l2
    if cfg.loss == "ranking":
        return losses.ranking_loss(q, p[:, None], n, margin=cfg.margin, neg_mask=mask,
                                   squared=squared)
    qi, ni = torch.nonzero(mask, as_tuple=True)  # one (query, real negative) pair per row
    if cfg.loss == "triplet":
        return losses.triplet_loss(q[qi], p[qi], n[qi, ni], margin=cfg.margin, squared=squared)
    if cfg.loss == "soft-triplet":
        return losses.soft_triplet_loss(q[qi], p[qi], n[qi, ni], scale=cfg.scale)
    if cfg.loss == "dbl":
        # Siamese DBL-Net (paper D Eq. 3.6): (q, p) pairs labelled 1, (q, n) pairs labelled 0
        x1 = torch.cat([q, q[qi]])
        x2 = torch.cat([p, n[qi, ni]])
        y = torch.cat([torch.ones(b), torch.zeros(len(qi))]).to(desc)
        return losses.dbl_pair_loss(x1, x2, y, scale=cfg.scale)
    if cfg.loss == "haf":
        return _haf_loss(o, lay, qi, ni, cfg, weights)
    raise ValueError(f"unknown tuple loss {cfg.loss!r}")


def _haf_loss(o, lay: Layout, qi: torch.Tensor, ni: torch.Tensor, cfg,
              weights=None) -> torch.Tensor:
    """Paper B: Σ_l w_l max(M + ΔD_l(q, r⁺) − ΔD_l(q, r⁻), 0) with ΔD_l the score-weighted
    distance of local descriptors at level l (conv3_2 / conv4_3 / conv5_3)."""
    from geomatch_app.models import losses

    b, n_neg = lay.b, lay.n_neg
    neg_rows = 2 * b + qi * n_neg + ni
    d_pos, d_neg = [], []
    n_levels = sum(1 for k in o if k.startswith("score"))
    for lvl in range(n_levels):
        s, k = o[f"score{lvl}"], o[f"local{lvl}"]
        dp = losses.score_weighted_distance(s[:b], k[:b], s[b:2 * b], k[b:2 * b])
        dn = losses.score_weighted_distance(s[qi], k[qi], s[neg_rows], k[neg_rows])
        d_pos.append(dp[qi])
        d_neg.append(dn)
    weights = tuple(weights) if weights is not None else losses.HAF_LEVEL_WEIGHTS[-n_levels:]
    return losses.multi_level_triplet_loss(d_pos, d_neg, margin=cfg.margin, weights=weights)


def _batch_loss(o: dict[str, torch.Tensor], lay: Layout, cfg) -> torch.Tensor:
    from geomatch_app.models import losses

    x = o["desc"][:lay.n_source]
    labels = lay.labels.to(x.device)
    if cfg.loss == "edbl":
        return losses.exhaustive_dbl_loss(x, labels, scale=cfg.scale)
    if cfg.loss == "multi-positive":
        return losses.exhaustive_multi_soft_triplet_loss(x, labels, scale=cfg.scale)
    raise ValueError(f"unknown batch loss {cfg.loss!r}")


def objective(flat: torch.Tensor, outputs: Outputs, lay: Layout,
              cfg) -> tuple[torch.Tensor, dict[str, float]]:
    """Loss of one batch and its terms. With target images, paper A's L_u = L_r + α·M (Eq. 1):
    M is the MK-MMD between the conv5 feature maps of the real gallery-domain images and of the
    (centre-cropped) target images."""
    from geomatch_app.models import losses

    o = outputs.unpack(flat)
    weights = getattr(getattr(outputs.model, "head", None), "weights", None)  # HAF levels
    rank = _batch_loss(o, lay, cfg) if lay.labels is not None else \
        _tuple_loss(o, lay, cfg, weights)
    terms = {"ranking": float(rank.detach())}
    total = rank
    if lay.n_target:
        maps = o["map"]
        src = maps[lay.source_gallery().to(maps.device)]
        tgt = maps[lay.n_source:lay.n_source + lay.n_target]
        mmd = losses.mk_mmd(src, tgt)
        total = losses.domain_adapted_loss(rank, mmd, alpha=cfg.alpha)
        terms["mmd"] = float(mmd.detach())
    terms["loss"] = float(total.detach())
    return total, terms
