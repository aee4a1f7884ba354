"""Paper A's objective on a synthetic domain shift: training with the trainer's objective pulls
the target domain's descriptors onto the source's, so the MK-MMD term drops."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from geomatch_app.training.trainer import TrainConfig, objective


def test_mmd_term_drops_on_a_synthetic_domain_shift():
    torch.manual_seed(0)
    b, n_neg, n_t, dim = 4, 3, 8, 16
    shift = torch.zeros(dim)
    shift[:4] = 3.0  # the target domain: same content, shifted "style"
    net = torch.nn.Linear(dim, 8)
    opt = torch.optim.Adam(net.parameters(), lr=0.05)
    cfg = TrainConfig(out_dir="unused", alpha=0.5)
    mask = torch.ones(b, n_neg, dtype=torch.bool)

    def mmd_now(gen_seed: int) -> float:
        g = torch.Generator().manual_seed(gen_seed)
        src = torch.randn(b * (2 + n_neg), dim, generator=g)
        tgt = torch.randn(n_t, dim, generator=g) + shift
        with torch.no_grad():
            d = F.normalize(net(torch.cat([src, tgt])), dim=1)
            return objective(d, b, n_neg, n_t, mask, cfg)[1]["mmd"]

    before = sum(mmd_now(1000 + i) for i in range(5)) / 5
    for step in range(150):
        g = torch.Generator().manual_seed(step)
        src = torch.randn(b * (2 + n_neg), dim, generator=g)
        tgt = torch.randn(n_t, dim, generator=g) + shift
        d = F.normalize(net(torch.cat([src, tgt])), dim=1)
        loss, terms = objective(d, b, n_neg, n_t, mask, cfg)
        assert set(terms) == {"ranking", "mmd", "loss"}
        opt.zero_grad()
        loss.backward()
        opt.step()
    after = sum(mmd_now(1000 + i) for i in range(5)) / 5
    assert after < 0.5 * before, (before, after)


def test_without_targets_the_objective_is_the_ranking_loss():
    from geomatch_app.models.losses import ranking_loss

    torch.manual_seed(1)
    b, n_neg = 3, 4
    d = F.normalize(torch.randn(b * (2 + n_neg), 8), dim=1)
    mask = torch.ones(b, n_neg, dtype=torch.bool)
    loss, terms = objective(d, b, n_neg, 0, mask, TrainConfig(out_dir="unused"))
    ref = ranking_loss(d[:b], d[b:2 * b, None], d[2 * b:].reshape(b, n_neg, -1), margin=0.1)
    assert torch.allclose(loss, ref) and "mmd" not in terms
