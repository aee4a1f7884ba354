"""Cached-trunk training (training/trunk_cache.py): the cached path must give the model's own
descriptors, and training on it must move only the blocks above the cut."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from geomatch_app.core.errors import GeomatchError
from geomatch_app.training.trunk_cache import TrunkCache, split_trunk


def _photos(tmp_path, n=6):
    rng = np.random.default_rng(0)
    paths = []
    for i in range(n):
        p = tmp_path / f"p{i}.png"
        Image.fromarray(rng.integers(0, 255, (40, 56, 3), dtype=np.uint8)).save(p)
        paths.append(str(p))
    return paths


@pytest.mark.parametrize("name,cut,size", [("tiny", 2, 32), ("effnetlite2-gem", 17, 64),
                                           ("mobilenetv2-gem", 14, 64)])
def test_cached_descriptors_equal_the_uncached_forward(tmp_path, name, cut, size,
                                                       tiny_model_name, one_torch_thread):
    from dataclasses import replace

    from geomatch_app.index.extract import embed_paths
    from geomatch_app.models import get_model

    model = get_model(tiny_model_name if name == "tiny" else name, pretrained=False).eval()
    model.preprocess = replace(model.preprocess, size=size)
    paths = _photos(tmp_path, 4)
    want = embed_paths(model, paths, device="cpu", workers=0, engine="torch")
    cache = TrunkCache(model, cut, directory=tmp_path / "cache")
    got = cache.embed(paths)
    np.testing.assert_allclose(got, want, atol=1e-5)
    x = torch.randn(2, 3, size, size)
    prefix, suffix = split_trunk(model, cut)
    with torch.no_grad():
        torch.testing.assert_close(suffix(prefix(x)), model.features(x))
    # a second cache on the same folder reads the maps instead of running the prefix again
    again = TrunkCache(model, cut, directory=tmp_path / "cache")
    np.testing.assert_allclose(again.embed(paths), want, atol=1e-5)
    assert cache.computed == 4 and again.computed == 0


def test_changed_frozen_weights_never_read_stale_maps(tmp_path, tiny_model_name):
    from geomatch_app.models import get_model

    model = get_model(tiny_model_name).eval()
    paths = _photos(tmp_path, 2)
    TrunkCache(model, 2, directory=tmp_path / "c").embed(paths)
    with torch.no_grad():
        next(model.backbone.parameters()).add_(0.5)  # a block below the cut changed
    cache = TrunkCache(model, 2, directory=tmp_path / "c")
    cache.embed(paths)
    assert cache.computed == 2


def test_a_cut_outside_the_backbone_is_refused(tiny_model_name):
    from geomatch_app.models import get_model

    model = get_model(tiny_model_name)
    with pytest.raises(GeomatchError, match="block"):
        split_trunk(model, 99)


def test_cached_training_moves_only_the_blocks_above_the_cut(tmp_path, tiny_model_name,
                                                             nordland_photos, one_torch_thread):
    """`train(cache_trunk=True)`: validation before training equals the uncached evaluation,
    the blocks below the cut keep their weights, the ones above change, the card says so."""
    from geomatch_app.models import get_model
    from geomatch_app.training.sources import MatchRules, from_photos
    from geomatch_app.training.trainer import TrainConfig, train
    from geomatch_app.training.validation import evaluate_split

    rules = MatchRules(pos_frames=1, neg_frames=2)
    q, g = nordland_photos
    data = from_photos(q, g, rules, val_fraction=0.25)
    base = get_model(tiny_model_name).eval()
    want_before = evaluate_split(base, data.val, device="cpu")
    cfg = TrainConfig(model=tiny_model_name, out_dir=str(tmp_path / "m"), epochs=1,
                      batch_size=4, n_neg=5, neg_cache=30, refresh_every=16, lr=3e-3,
                      train_rules=rules, device="cpu", freeze_below=2, cache_trunk=True,
                      trunk_cache_dir=str(tmp_path / "maps"))
    res = train(data, cfg)
    assert res.before == pytest.approx(want_before, abs=1e-9)
    trained = get_model(str(res.model_dir))
    sb, st = base.state_dict(), trained.state_dict()
    below = [k for k in sb if k.startswith("backbone.0.")]
    above = [k for k in sb if k.startswith("backbone.2.")]
    assert below and above
    assert all(torch.equal(sb[k], st[k]) for k in below)
    assert any(not torch.equal(sb[k], st[k]) for k in above)
    card = (res.model_dir / "README.md").read_text()
    assert "cached trunk" in card
    assert any((tmp_path / "maps").glob("*.npy"))


def test_head_lr_puts_the_head_in_its_own_group(tiny_model_name):
    from geomatch_app.models import get_model
    from geomatch_app.training.trainer import TrainConfig, _param_groups

    model = get_model(tiny_model_name)
    params = [p for p in model.parameters() if p.requires_grad]
    one = _param_groups(model, params, TrainConfig(lr=1e-5))
    assert len(one) == 1 and len(one[0]["params"]) == len(params)
    rest, head = _param_groups(model, params, TrainConfig(lr=1e-5, head_lr=1e-3))
    assert "lr" not in rest and head["lr"] == 1e-3
    assert {id(p) for p in head["params"]} == {id(p) for p in model.head.parameters()}
    assert len(rest["params"]) + len(head["params"]) == len(params)


def test_shipped_weights_round_trip(tmp_path, monkeypatch, tiny_model_name):
    """save_shipped writes only what differs from the base; load_shipped restores the exact
    weights and refuses a file whose weight hash no longer matches."""
    from geomatch_app.core import paths
    from geomatch_app.core.errors import WeightsMissingError
    from geomatch_app.models import get_model
    from geomatch_app.models.zoo import load_shipped, save_shipped, shipped_weights_path

    monkeypatch.setattr(paths, "models_dir", lambda: tmp_path / "cards")
    base = get_model(tiny_model_name)
    trained = get_model(tiny_model_name)
    with torch.no_grad():
        trained.head.p.add_(1.0)
    n = save_shipped(trained, base, shipped_weights_path("tiny-tuned"))
    assert n == 1
    fresh = get_model(tiny_model_name)
    load_shipped(fresh, "tiny-tuned")
    assert fresh.weight_hash() == trained.weight_hash()
    other = get_model(tiny_model_name)
    with torch.no_grad():
        next(other.backbone.parameters()).add_(1.0)  # a different "ImageNet" file
    with pytest.raises(WeightsMissingError, match="weight hash"):
        load_shipped(other, "tiny-tuned")
    with pytest.raises(WeightsMissingError, match="unreadable"):
        load_shipped(get_model(tiny_model_name), "absent")
