"""Gradient caching (paper D, Algorithm 1) gives the gradients of one big forward/backward."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from geomatch_app.models.losses import mk_mmd
from geomatch_app.training.gradcache import forward_backward


def _net():
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.ReLU(),
                               torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(),
                               torch.nn.Linear(4, 6))


def _loss(d):
    d = F.normalize(d, dim=1)
    # couples every item: MMD between the halves plus a pairwise term
    loss = mk_mmd(d[:5], d[5:]) + (d[0] - d[1]).pow(2).sum()
    return loss, {"loss": float(loss.detach())}


def test_chunked_gradients_equal_plain_gradients():
    torch.manual_seed(1)
    x = torch.randn(10, 3, 8, 8)
    plain, cached = _net(), _net()
    l1, _ = forward_backward(plain, x, _loss, chunk=0)
    calls = []
    l2, _ = forward_backward(cached, x, _loss, chunk=3, check=lambda: calls.append(1))
    assert abs(l1 - l2) <= 1e-5 * max(1.0, abs(l1))  # float32 sums in another order
    for a, b in zip(plain.parameters(), cached.parameters(), strict=True):
        torch.testing.assert_close(a.grad, b.grad, rtol=1e-4, atol=1e-6)
    assert len(calls) == 8  # 4 chunks, twice
