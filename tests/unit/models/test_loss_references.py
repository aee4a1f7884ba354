"""Each loss against a slow loop/NumPy reference on tiny random tensors (float64)."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from geomatch_app.models import losses as L  # noqa: E402

RNG = np.random.default_rng(0)


def t(a: np.ndarray, grad: bool = False) -> torch.Tensor:
    return torch.tensor(a, dtype=torch.float64, requires_grad=grad)


def d2(a: np.ndarray, b: np.ndarray) -> float:
    return float(sum((x - y) ** 2 for x, y in zip(a, b, strict=True)))


def softplus(x: float) -> float:
    return math.log1p(math.exp(x))


def test_ranking_loss_matches_loop() -> None:
    q, pos, neg = RNG.normal(size=(3, 5)), RNG.normal(size=(3, 4, 5)), RNG.normal(size=(3, 6, 5))
    ref = []
    for b in range(3):
        best = min(d2(q[b], p) for p in pos[b])
        ref.append(sum(max(0.0, best + 0.1 - d2(q[b], n)) for n in neg[b]))
    qt, pt, nt = t(q, True), t(pos, True), t(neg, True)
    got = L.ranking_loss(qt, pt, nt, margin=0.1)
    assert got.item() == pytest.approx(np.mean(ref), rel=1e-10)
    assert got.item() > 0
    got.backward()
    assert qt.grad.abs().sum() > 0 and nt.grad.abs().sum() > 0
    # only the closest positive of each query gets a gradient (the min)
    assert (pt.grad.abs().sum(-1) > 0).sum() <= 3


def test_ranking_loss_mask_and_single_query() -> None:
    q, pos, neg = RNG.normal(size=5), RNG.normal(size=(2, 5)), RNG.normal(size=(4, 5)) * 0.1
    best = min(d2(q, p) for p in pos)
    ref = sum(max(0.0, best + 0.5 - d2(q, n)) for n in neg[:2])
    mask = torch.tensor([True, True, False, False])
    got = L.ranking_loss(t(q), t(pos), t(neg), margin=0.5, neg_mask=mask)
    assert got.item() == pytest.approx(ref, rel=1e-10)


def test_triplet_and_soft_triplet() -> None:
    a, p, n = (RNG.normal(size=(4, 3)) * 0.5 for _ in range(3))
    hinge = np.mean([max(0.0, 0.3 + d2(a[i], p[i]) - d2(a[i], n[i])) for i in range(4)])
    plain = np.mean([max(0.0, 0.3 + math.sqrt(d2(a[i], p[i])) - math.sqrt(d2(a[i], n[i])))
                     for i in range(4)])
    soft = np.mean([softplus(9 * (d2(a[i], p[i]) - d2(a[i], n[i]))) for i in range(4)])
    assert L.triplet_loss(t(a), t(p), t(n), margin=0.3).item() == pytest.approx(hinge)
    assert L.triplet_loss(t(a), t(p), t(n), margin=0.3, squared=False).item() == pytest.approx(
        plain)
    assert L.soft_triplet_loss(t(a), t(p), t(n), scale=3.0).item() == pytest.approx(soft)
    assert L.dbl_triplet_loss(t(a), t(p), t(n), scale=3.0).item() == pytest.approx(soft)


def test_dbl_probability_formula() -> None:
    for d in (0.0, 3.0, 10.0, 25.0):
        ref = (1 + math.exp(-10)) / (1 + math.exp(d - 10))
        assert L.dbl_probability(torch.tensor(d, dtype=torch.float64)).item() == pytest.approx(ref)
    # D = 0 is a certain match
    assert L.dbl_probability(torch.tensor(0.0)).item() == pytest.approx(1.0)


def test_dbl_pair_loss_is_log_loss() -> None:
    x1, x2 = RNG.normal(size=(6, 4)) * 1.5, RNG.normal(size=(6, 4)) * 1.5
    y = np.array([1, 0, 1, 0, 1, 0])
    ref = []
    for i in range(6):
        d = d2(x1[i], x2[i])
        p = (1 + math.exp(-10)) / (1 + math.exp(d - 10))
        ref.append(-math.log(p) if y[i] else -math.log(1 - p))
    a, b = t(x1, True), t(x2, True)
    got = L.dbl_pair_loss(a, b, torch.tensor(y))
    assert got.item() == pytest.approx(np.mean(ref), rel=1e-8)
    got.backward()
    assert torch.isfinite(a.grad).all() and a.grad.abs().sum() > 0
    # far-apart non-matches and huge distances stay finite
    far = L.dbl_pair_loss(t(np.zeros((1, 2))), t(np.full((1, 2), 100.0)), torch.tensor([0]))
    assert math.isfinite(far.item()) and far.item() < 1e-6


def test_exhaustive_dbl_loss_enumerates_every_triplet() -> None:
    x = RNG.normal(size=(6, 3))
    labels = np.array([0, 1, 2, 0, 1, 2])  # three matched pairs
    vals = []
    for a, p, n in itertools.permutations(range(6), 3):
        if labels[a] == labels[p] and labels[a] != labels[n]:
            vals.append(softplus(4 * (d2(x[a], x[p]) - d2(x[a], x[n]))))
    assert len(vals) == 6 * 1 * 4
    xt = t(x, True)
    got = L.exhaustive_dbl_loss(xt, torch.tensor(labels), scale=2.0)
    assert got.item() == pytest.approx(np.mean(vals), rel=1e-10)
    got.backward()
    assert xt.grad.abs().sum() > 0


def test_multi_soft_triplet_matches_formula() -> None:
    a, p, n = RNG.normal(size=(2, 3)), RNG.normal(size=(2, 3, 3)), RNG.normal(size=(2, 4, 3))
    ref = []
    for b in range(2):
        sp = sum(math.exp(-math.sqrt(d2(a[b], x))) for x in p[b][:2])
        sn = sum(math.exp(-math.sqrt(d2(a[b], x))) for x in n[b])
        ref.append(-math.log(sp / (sp + sn)))
    pm = torch.tensor([[True, True, False]] * 2)
    got = L.multi_soft_triplet_loss(t(a), t(p), t(n), pos_mask=pm)
    assert got.item() == pytest.approx(np.mean(ref), rel=1e-10)


def test_exhaustive_multi_soft_triplet() -> None:
    x = RNG.normal(size=(5, 3))
    labels = [0, 0, 1, 1, 2]  # item 4 has no positive: skipped
    ref = []
    for a in range(4):
        sp = sum(math.exp(-math.sqrt(d2(x[a], x[j]))) for j in range(5)
                 if j != a and labels[j] == labels[a])
        sn = sum(math.exp(-math.sqrt(d2(x[a], x[j]))) for j in range(5) if labels[j] != labels[a])
        ref.append(-math.log(sp / (sp + sn)))
    xt = t(x, True)
    got = L.exhaustive_multi_soft_triplet_loss(xt, torch.tensor(labels))
    assert got.item() == pytest.approx(np.mean(ref), rel=1e-8)
    got.backward()
    assert torch.isfinite(xt.grad).all() and xt.grad.abs().sum() > 0


def test_contrastive_loss() -> None:
    x1, x2 = RNG.normal(size=(6, 3)) * 0.3, RNG.normal(size=(6, 3)) * 0.3
    y = [1, 0, 1, 0, 0, 1]
    ref = np.mean([
        d2(x1[i], x2[i]) if y[i] else max(0.0, 0.7 - math.sqrt(d2(x1[i], x2[i]))) ** 2
        for i in range(6)
    ])
    got = L.contrastive_loss(t(x1), t(x2), torch.tensor(y), margin=0.7)
    assert got.item() == pytest.approx(ref, rel=1e-10)


def test_score_weighted_distance_loop() -> None:
    sq, sr = RNG.random(size=(2, 3, 4)), RNG.random(size=(2, 3, 4))
    kq, kr = RNG.normal(size=(2, 5, 3, 4)), RNG.normal(size=(2, 5, 3, 4))
    ref = []
    for b in range(2):
        num, den = 0.0, 0.0
        for i in range(3):
            for j in range(4):
                w = sq[b, i, j] * sr[b, i, j]
                num += w * math.sqrt(d2(kq[b, :, i, j], kr[b, :, i, j]))
                den += w
        ref.append(num / den)
    got = L.score_weighted_distance(t(sq), t(kq), t(sr), t(kr))
    np.testing.assert_allclose(got.numpy(), ref, rtol=1e-10)


def test_multi_level_triplet_loss_weights() -> None:
    dp = [RNG.random(4) for _ in range(3)]
    dn = [RNG.random(4) for _ in range(3)]
    ref = sum(w * np.mean([max(0.0, 0.2 + dp[lv][i] - dn[lv][i]) for i in range(4)])
              for lv, w in enumerate((0.1, 0.4, 0.5)))
    got = L.multi_level_triplet_loss([t(v) for v in dp], [t(v) for v in dn], margin=0.2)
    assert got.item() == pytest.approx(ref, rel=1e-10)
    with pytest.raises(ValueError):
        L.multi_level_triplet_loss([t(dp[0])], [t(dn[0]), t(dn[1])])


def mmd_reference(xs: np.ndarray, xt: np.ndarray) -> float:
    joint = np.concatenate([xs, xt])
    n = len(joint)
    dist = np.array([[d2(joint[i], joint[j]) for j in range(n)] for i in range(n)])
    med = float(np.median([dist[i, j] for i in range(n) for j in range(n) if i != j]))

    def k(i: int, j: int) -> float:
        return sum(math.exp(-dist[i, j] / (med * 2.0**o)) for o in (-2, -1, 0, 1, 2))

    ns = len(xs)
    src, tgt = range(ns), range(ns, n)
    kss = np.mean([k(i, j) for i in src for j in src])
    ktt = np.mean([k(i, j) for i in tgt for j in tgt])
    kst = np.mean([k(i, j) for i in src for j in tgt])
    return kss + ktt - 2 * kst


def test_mk_mmd_matches_reference_and_behaves() -> None:
    xs, xt = RNG.normal(size=(5, 2, 2, 2)), RNG.normal(size=(4, 2, 2, 2)) + 0.5
    got = L.mk_mmd(t(xs), t(xt))
    assert got.item() == pytest.approx(mmd_reference(xs.reshape(5, -1), xt.reshape(4, -1)),
                                       rel=1e-9)
    same = RNG.normal(size=(6, 8))
    assert L.mk_mmd(t(same), t(same)).item() == pytest.approx(0.0, abs=1e-12)
    shifts = [L.mk_mmd(t(same), t(same + s)).item() for s in (0.0, 0.5, 1.0, 2.0)]
    assert all(b > a for a, b in zip(shifts, shifts[1:], strict=False))
    xt_t = t(xt, True)
    L.mk_mmd(t(xs), xt_t).backward()
    assert xt_t.grad.abs().sum() > 0


def test_domain_adapted_loss() -> None:
    # paper A Eq. 1 as published: L_u = L_r + α·M (the ranking loss keeps its full weight)
    got = L.domain_adapted_loss(torch.tensor(2.0), torch.tensor(1.0))
    assert got.item() == pytest.approx(2.0 + 0.99 * 1.0)
    assert L.domain_adapted_loss(torch.tensor(2.0), torch.tensor(1.0), alpha=0.5).item() == \
        pytest.approx(2.5)


def test_plain_l2_triplet_and_ranking_by_hand() -> None:
    # q at the origin, p at distance 0.5 (3-4-5 triangle), n at distance 1.0, margin 0.6
    q, p, n = t(np.array([[0.0, 0.0]])), t(np.array([[0.3, 0.4]])), t(np.array([[0.6, 0.8]]))
    assert L.triplet_loss(q, p, n, margin=0.6, squared=False).item() == pytest.approx(0.1)
    assert L.triplet_loss(q, p, n, margin=0.6).item() == pytest.approx(0.0)  # 0.6+0.25−1 < 0
    assert L.ranking_loss(q, p[:, None], n[:, None], margin=0.6, squared=False).item() == \
        pytest.approx(0.1)
    assert L.ranking_loss(q, p[:, None], n[:, None], margin=0.9).item() == \
        pytest.approx(0.15)  # squared: 0.9 + 0.25 − 1.0
