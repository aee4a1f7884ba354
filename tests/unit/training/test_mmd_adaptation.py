"""Paper A's objective as published: L_u = L_r + α·M (Eq. 1), M the MK-MMD between the conv5
feature maps of the real gallery-domain images and of the target images — padded negatives in
neither — and the MMD term drops when the objective is trained on a synthetic domain shift."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from geomatch_app.models.losses import mk_mmd, ranking_loss
from geomatch_app.training.objective import Layout, Outputs, objective
from geomatch_app.training.trainer import TrainConfig


class MapModel(nn.Module):
    """features = a 1×1 conv of the input (the "conv5" map); head = spatial mean."""

    def __init__(self, dim: int = 6, out: int = 4):
        super().__init__()
        torch.manual_seed(0)
        self.conv = nn.Conv2d(dim, out, 1)
        self.projection = None

    def features(self, x):
        return self.conv(x)

    def head(self, f):
        return f.mean(dim=(2, 3))


def _batch(b=3, n_neg=2, n_t=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(b * (2 + n_neg) + n_t, 6, 2, 2, generator=g)


def test_objective_is_ranking_plus_alpha_mmd_on_conv_maps_without_padding():
    b, n_neg, n_t = 3, 2, 4
    model = MapModel()
    outputs = Outputs(model, maps=True)
    x = _batch(b, n_neg, n_t)
    mask = torch.tensor([[True, True], [True, False], [True, True]])  # query 1: one padded
    lay = Layout(n_source=b * (2 + n_neg), n_target=n_t, b=b, n_neg=n_neg, neg_mask=mask)
    cfg = TrainConfig(out_dir="unused")
    with torch.no_grad():
        loss, terms = objective(outputs(x), outputs, lay, cfg)
        maps = model.features(x)
        desc = F.normalize(model.head(maps), dim=1)
    rank = ranking_loss(desc[:b], desc[b:2 * b, None], desc[2 * b:2 * b + b * n_neg]
                        .reshape(b, n_neg, -1), margin=0.1, neg_mask=mask)
    real = [3, 4, 5, 6, 7, 8, 10, 11]  # positives 3–5, negatives 6–11 except padded row 9
    mmd = mk_mmd(maps[real], maps[-n_t:])
    assert abs(float(loss) - float(rank + 0.99 * mmd)) < 1e-6
    assert abs(terms["mmd"] - float(mmd)) < 1e-6 and abs(terms["ranking"] - float(rank)) < 1e-6
    # the padded duplicate does not enter the MMD source set: changing it changes nothing
    x2 = x.clone()
    x2[9] += 5.0
    with torch.no_grad():
        loss2, terms2 = objective(outputs(x2), outputs, lay, cfg)
    assert abs(terms2["mmd"] - terms["mmd"]) < 1e-6


def test_mmd_term_drops_on_a_synthetic_domain_shift():
    b, n_neg, n_t = 4, 3, 8
    model = MapModel()
    outputs = Outputs(model, maps=True)
    opt = torch.optim.Adam(model.parameters(), lr=0.05)
    cfg = TrainConfig(out_dir="unused", alpha=0.99)
    lay = Layout(n_source=b * (2 + n_neg), n_target=n_t, b=b, n_neg=n_neg,
                 neg_mask=torch.ones(b, n_neg, dtype=torch.bool))
    shift = torch.zeros(1, 6, 1, 1)
    shift[:, :3] = 3.0  # the target domain: same content, shifted "style"

    def data(seed):
        x = _batch(b, n_neg, n_t, seed)
        x[-n_t:] += shift
        return x

    def mmd_now() -> float:
        with torch.no_grad():
            return sum(objective(outputs(data(1000 + i)), outputs, lay, cfg)[1]["mmd"]
                       for i in range(5)) / 5

    before = mmd_now()
    for step in range(150):
        loss, terms = objective(outputs(data(step)), outputs, lay, cfg)
        assert set(terms) == {"ranking", "mmd", "loss"}
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert mmd_now() < 0.5 * before


def test_without_targets_the_objective_is_the_ranking_loss():
    b, n_neg = 3, 4
    model = MapModel()
    outputs = Outputs(model)
    x = _batch(b, n_neg, 0, seed=1)
    lay = Layout(n_source=len(x), b=b, n_neg=n_neg, neg_mask=torch.ones(b, n_neg, dtype=bool))
    with torch.no_grad():
        loss, terms = objective(outputs(x), outputs, lay, TrainConfig(out_dir="unused"))
        d = F.normalize(model.head(model.features(x)), dim=1)
    ref = ranking_loss(d[:b], d[b:2 * b, None], d[2 * b:].reshape(b, n_neg, -1), margin=0.1)
    assert torch.allclose(loss, ref) and "mmd" not in terms
