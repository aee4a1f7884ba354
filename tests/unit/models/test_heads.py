"""Pooling heads against slow loop/NumPy references on tiny random feature maps (float64)."""

from __future__ import annotations

import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from geomatch_app.models import haf, layers  # noqa: E402
from geomatch_app.models.losses import score_weighted_distance  # noqa: E402

C, K, H, W = 6, 4, 3, 5


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


def feats(b: int = 2, c: int = C, h: int = H, w: int = W) -> torch.Tensor:
    return torch.randn(b, c, h, w, dtype=torch.float64)


def l2(v: np.ndarray) -> np.ndarray:
    return v / max(np.sqrt((v**2).sum()), 1e-12)


def softplus(x: float) -> float:
    return math.log1p(math.exp(x))


def vlad_ref(fmap: np.ndarray, conv_w: np.ndarray, conv_b: np.ndarray, cent: np.ndarray,
             weights: np.ndarray | None = None, scale_desc: bool = False) -> np.ndarray:
    """Unnormalised VLAD (K,C) by loops: Σ_i w_i a_k(x_i')(x_i' − c_k), x_i' = w_i x_i if A2."""
    c, h, w = fmap.shape
    v = np.zeros((len(cent), c))
    for i in range(h):
        for j in range(w):
            x = l2(fmap[:, i, j])
            wt = 1.0 if weights is None else weights[i, j]
            if scale_desc:
                x = x * wt
            logits = [conv_w[k] @ x + conv_b[k] for k in range(len(cent))]
            m = max(logits)
            e = [math.exp(z - m) for z in logits]
            a = [z / sum(e) for z in e]
            for k in range(len(cent)):
                v[k] += wt * a[k] * (x - cent[k])
    return v


def finish(v: np.ndarray) -> np.ndarray:
    return l2(np.concatenate([l2(row) for row in v]))


def head_params(head) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return (head.conv.weight.detach()[:, :, 0, 0].numpy(), head.conv.bias.detach().numpy(),
            head.centroids.detach().numpy())


def test_netvlad_matches_loop_reference() -> None:
    head = layers.NetVLAD(C, K).double()
    head.init_from_centroids(torch.randn(K, C, dtype=torch.float64) * 0.3, alpha=2.0)
    x = feats()
    got = head(x).detach().numpy()
    cw, cb, cent = head_params(head)
    for b in range(2):
        np.testing.assert_allclose(got[b], finish(vlad_ref(x[b].numpy(), cw, cb, cent)),
                                   rtol=1e-9, atol=1e-12)
    assert got.shape == (2, K * C) and head.out_dim == K * C


def test_init_from_centroids_sets_conv_as_netvlad() -> None:
    head = layers.NetVLAD(C, K).double()
    c = torch.randn(K, C, dtype=torch.float64)
    head.init_from_centroids(c, alpha=7.0)
    x = torch.randn(C, dtype=torch.float64)
    logits = head.conv(x[None, :, None, None])[0, :, 0, 0]
    # logit_k = −α‖x − c_k‖² + α‖x‖² : the softmax equals a softmin over distances
    ref = -7.0 * ((x - c) ** 2).sum(1) + 7.0 * (x**2).sum()
    torch.testing.assert_close(logits, ref)
    assert bool(head.initialised) and float(head.alpha) == 7.0


@pytest.mark.parametrize("mode", ["a1", "a2", "a1a2"])
def test_attention_netvlad_matches_paper_a_equations(mode: str) -> None:
    head = layers.AttentionNetVLAD(C, K, mode=mode).double()
    head.init_from_centroids(torch.randn(K, C, dtype=torch.float64) * 0.3, alpha=2.0)
    x = feats()
    got = head(x).detach().numpy()
    cw, cb, cent = head_params(head)
    aw = head.attention.conv.weight.detach()[0, :, 0, 0].numpy()
    ab = float(head.attention.conv.bias.detach()[0])
    for b in range(2):
        fmap = x[b].numpy()
        wmap = np.array([[softplus(aw @ np.maximum(fmap[:, i, j], 0) + ab) for j in range(W)]
                         for i in range(H)])
        v1 = vlad_ref(fmap, cw, cb, cent, wmap)  # Eq. 4
        v2 = vlad_ref(fmap, cw, cb, cent, wmap, scale_desc=True)  # Eq. 5
        v = {"a1": v1, "a2": v2, "a1a2": v1 + v2}[mode]  # Eq. 6
        np.testing.assert_allclose(got[b], finish(v), rtol=1e-9, atol=1e-12)


def test_attention_modes_differ() -> None:
    x = feats()
    outs = []
    for mode in ("a1", "a2", "a1a2"):
        torch.manual_seed(1)
        outs.append(layers.AttentionNetVLAD(C, K, mode=mode).double()(x))
    assert not torch.allclose(outs[0], outs[1]) and not torch.allclose(outs[0], outs[2])
    with pytest.raises(ValueError):
        layers.AttentionNetVLAD(C, K, mode="a3")


@pytest.mark.parametrize("kind", ["crn", "crn2"])
def test_crn_reweights_soft_assignment_by_mask(kind: str) -> None:
    head = layers.CRNNetVLAD(C, K, kind=kind).double()
    head.init_from_centroids(torch.randn(K, C, dtype=torch.float64) * 0.3, alpha=2.0)
    x = feats(h=6, w=7)
    mask = head.context(x)
    assert mask.shape == (2, 1, 6, 7) and (mask >= 0).all()
    got = head(x).detach().numpy()
    cw, cb, cent = head_params(head)
    for b in range(2):
        # mask × a_k(x_i) inside Σ_i (x_i − c_k): the mask acts as a per-location weight
        v = vlad_ref(x[b].numpy(), cw, cb, cent, mask[b, 0].detach().numpy())
        np.testing.assert_allclose(got[b], finish(v), rtol=1e-9, atol=1e-12)


def test_crn_mask_matches_manual_convolutions() -> None:
    m = layers.ContextMask(C, "crn").double()
    x = feats(h=6, w=6)
    pooled = torch.nn.functional.avg_pool2d(x, 2)
    ref = torch.cat([torch.nn.functional.conv2d(pooled, b.weight, b.bias, padding=b.padding)
                     for b in m.branches], 1).relu()
    ref = torch.nn.functional.conv2d(ref, m.accumulate.weight, m.accumulate.bias)
    ref = torch.nn.functional.interpolate(ref, size=(6, 6), mode="bilinear").relu()
    torch.testing.assert_close(m(x), ref)


def test_crn_parameter_counts_match_paper_c() -> None:
    # ResNet-18 layer3 has 256 channels; paper C reports ~529K (CRN) and ~245K (CRN2) for the mask
    crn = sum(p.numel() for p in layers.ContextMask(256, "crn").parameters())
    crn2 = sum(p.numel() for p in layers.ContextMask(256, "crn2").parameters())
    assert crn == 529_577
    assert crn2 == 245_641


def test_pooling_baselines() -> None:
    x = feats()
    xn = x.numpy()
    np.testing.assert_allclose(layers.AvgPool()(x).numpy(), xn.mean(axis=(2, 3)))
    np.testing.assert_allclose(layers.MaxPool()(x).numpy(), xn.max(axis=(2, 3)))
    pos = x.abs() + 0.1
    gem = layers.GeM(p=3.0).double()(pos).detach().numpy()
    ref = np.array([[np.mean(pos[b, c].numpy() ** 3) ** (1 / 3) for c in range(C)]
                    for b in range(2)])
    np.testing.assert_allclose(gem, ref, rtol=1e-6)
    fc = layers.GeMFC(C, 3).double()
    out = fc(pos).detach().numpy()
    w, bias = fc.fc.weight.detach().numpy(), fc.fc.bias.detach().numpy()
    np.testing.assert_allclose(out, np.stack([w @ l2(r) + bias for r in ref]), rtol=1e-6)


def test_haf_global_descriptor_and_level_score() -> None:
    head = haf.HAFHead((4, 6, 6), desc_dim=5).double()
    fs = [feats(c=4, h=8, w=8), feats(c=6, h=4, w=4), feats(c=6, h=2, w=2)]
    got = head(fs).detach().numpy()
    assert got.shape == (2, 15)
    np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1.0)
    for lv, (lvl, f, wl) in enumerate(zip(head.levels, fs, (0.1, 0.4, 0.5), strict=True)):
        aw, ab = lvl.attention.weight.detach()[0, :, 0, 0].numpy(), lvl.attention.bias.item()
        pw, pb = lvl.project.weight.detach()[:, :, 0, 0].numpy(), lvl.project.bias.detach().numpy()
        fn = f.numpy()
        for b in range(2):
            descs, dets = [], []
            for i in range(fn.shape[2]):
                for j in range(fn.shape[3]):
                    v = fn[b, :, i, j]
                    m = 1 / (1 + math.exp(-(aw @ v + ab)))
                    att = np.maximum(pw @ v + pb, 0) * m
                    descs.append(l2(att))
                    dets.append(att.sum())
            s = np.array(dets) / sum(dets)
            g = l2(sum(si * d for si, d in zip(s, descs, strict=True)))
            np.testing.assert_allclose(got[b, lv * 5:(lv + 1) * 5], math.sqrt(wl) * g,
                                       rtol=1e-8, atol=1e-12)


def test_haf_distance_is_weighted_level_sum() -> None:
    class Tiny(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.convs = torch.nn.ModuleList(
                torch.nn.Conv2d(3, c, 3, stride=s, padding=1) for c, s in ((4, 1), (6, 2), (6, 4)))

        def forward(self, x):
            return [c(x) for c in self.convs]

    from geomatch_app.models.place import PlaceModel

    model = PlaceModel(Tiny(), haf.HAFHead((4, 6, 6), desc_dim=5), dim=15).double()
    xq, xr = torch.randn(2, 3, 8, 8, dtype=torch.float64), torch.randn(2, 3, 8, 8,
                                                                       dtype=torch.float64)
    levels = haf.haf_level_distances(model, xq, xr)
    oq = model.head.level_outputs(model.features(xq))
    orr = model.head.level_outputs(model.features(xr))
    for d, (sq, kq, _), (sr, kr, _) in zip(levels, oq, orr, strict=True):
        torch.testing.assert_close(d, score_weighted_distance(sq, kq, sr, kr))
    fused = haf.haf_distance(model, xq, xr)
    torch.testing.assert_close(fused, 0.1 * levels[0] + 0.4 * levels[1] + 0.5 * levels[2])
    self_d = haf.haf_distance(model, xq, xq)
    assert torch.all(self_d < 1e-5)


@pytest.mark.parametrize("head_fn", [
    lambda: layers.NetVLAD(C, K),
    lambda: layers.AttentionNetVLAD(C, K, mode="a1"),
    lambda: layers.AttentionNetVLAD(C, K, mode="a2"),
    lambda: layers.AttentionNetVLAD(C, K, mode="a1a2"),
    lambda: layers.CRNNetVLAD(C, K, kind="crn"),
    lambda: layers.CRNNetVLAD(C, K, kind="crn2"),
    lambda: layers.GeM(),
    lambda: layers.GeMFC(C, 3),
], ids=["netvlad", "a1", "a2", "a1a2", "crn", "crn2", "gem", "gemfc"])
def test_gradients_reach_every_parameter(head_fn) -> None:
    head = head_fn()
    x = torch.randn(2, C, 6, 6).abs()
    out = head(x)
    (out * torch.randn_like(out)).sum().backward()
    for name, p in head.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_haf_gradients_reach_every_parameter() -> None:
    head = haf.HAFHead((4, 6, 6), desc_dim=5)
    fs = [torch.randn(2, 4, 8, 8), torch.randn(2, 6, 4, 4), torch.randn(2, 6, 2, 2)]
    out = head(fs)
    (out * torch.randn_like(out)).sum().backward()
    for name, p in head.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name
