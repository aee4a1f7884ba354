"""Gradient caching (paper D, Algorithm 1) gives the gradients of one big forward/backward, for
every training loss the trainer offers (float64, so the comparison is exact to rounding)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from geomatch_app.models.haf import HAFHead
from geomatch_app.models.losses import mk_mmd
from geomatch_app.training.gradcache import forward_backward
from geomatch_app.training.objective import LOSSES, Layout, Outputs, objective
from geomatch_app.training.trainer import TrainConfig


def _net():
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.ReLU(),
                               torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(),
                               torch.nn.Linear(4, 6)).double()


def _loss(d):
    d = F.normalize(d, dim=1)
    # couples every item: MMD between the halves plus a pairwise term
    loss = mk_mmd(d[:5], d[5:]) + (d[0] - d[1]).pow(2).sum()
    return loss, {"loss": float(loss.detach())}


def test_chunked_gradients_equal_plain_gradients():
    x = torch.randn(10, 3, 8, 8, dtype=torch.float64)
    plain, cached = _net(), _net()
    l1, _ = forward_backward(plain, x, _loss, chunk=0)
    calls = []
    l2, _ = forward_backward(cached, x, _loss, chunk=3, check=lambda: calls.append(1))
    assert abs(l1 - l2) < 1e-10
    for a, b in zip(plain.parameters(), cached.parameters(), strict=True):
        torch.testing.assert_close(a.grad, b.grad, rtol=1e-8, atol=1e-10)
    assert len(calls) == 8  # 4 chunks, twice


class Tiny(nn.Module):
    """A place model in miniature: conv trunk (or three taps for HAF) + head."""

    def __init__(self, haf: bool = False):
        super().__init__()
        torch.manual_seed(0)
        self.haf = haf
        self.c1 = nn.Conv2d(3, 5, 3, padding=1)
        self.c2 = nn.Conv2d(5, 6, 3, padding=1)
        self.c3 = nn.Conv2d(6, 7, 3, padding=1)
        self.head = HAFHead((5, 6, 7), desc_dim=4) if haf else nn.Sequential(
            nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(7, 8))
        self.projection = None
        self.double()

    def features(self, x):
        a = F.relu(self.c1(x))
        b = F.relu(self.c2(a))
        c = self.c3(b)
        return [a, b, c] if self.haf else c


@pytest.mark.parametrize("loss", LOSSES)
def test_every_loss_trains_identically_with_gradient_caching(loss):
    b, n_neg, n_t = 3, 2, 3
    cfg = TrainConfig(out_dir="unused", loss=loss)
    if loss in ("edbl", "multi-positive"):
        labels = torch.tensor([0, 0, 1, 1, 2, 2, 2])
        lay = Layout(n_source=len(labels), n_target=n_t, labels=labels)
    else:
        mask = torch.tensor([[True, True], [True, False], [True, True]])
        lay = Layout(n_source=b * (2 + n_neg), n_target=n_t, b=b, n_neg=n_neg, neg_mask=mask)
    x = torch.randn(lay.n_source + n_t, 3, 6, 6, dtype=torch.float64,
                    generator=torch.Generator().manual_seed(3))
    grads, values = [], []
    for chunk in (0, 4):
        model = Tiny(haf=loss == "haf")
        outputs = Outputs(model, maps=True, levels=loss == "haf")
        value, terms = forward_backward(outputs, x, lambda f, o=outputs: objective(f, o, lay, cfg),
                                        chunk=chunk)
        assert terms["mmd"] > 0 and terms["loss"] == pytest.approx(
            terms["ranking"] + 0.99 * terms["mmd"])
        values.append(value)
        grads.append([p.grad.clone() for p in model.parameters() if p.grad is not None])
    assert values[0] == pytest.approx(values[1], rel=1e-9)
    assert len(grads[0]) == len(grads[1]) > 0
    assert any(float(g.abs().sum()) > 0 for g in grads[0])
    for a, c in zip(*grads, strict=True):
        torch.testing.assert_close(a, c, rtol=1e-7, atol=1e-10)


def test_haf_loss_uses_the_models_own_level_weights():
    """A single-level HAF head (weight 1.0) trains with paper B's loss on that one level."""
    model = Tiny(haf=True)
    model.head = HAFHead((7,), desc_dim=4, weights=(1.0,)).double()
    model.features = lambda x, f=model.features: [f(x)[-1]]
    outputs = Outputs(model, levels=True)
    lay = Layout(n_source=6, b=2, n_neg=1, neg_mask=torch.ones(2, 1, dtype=torch.bool))
    x = torch.randn(6, 3, 6, 6, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    loss, terms = objective(outputs(x), outputs, lay, TrainConfig(out_dir="-", loss="haf"))
    assert torch.isfinite(loss) and terms["loss"] >= 0
