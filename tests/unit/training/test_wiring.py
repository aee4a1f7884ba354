"""The trainer's wiring against the papers: p×k batches, data sufficiency, honest promotion,
paper A's freeze, and automatic NetVLAD initialisation when training from a manifest."""

from __future__ import annotations

import csv

import numpy as np
import pytest

from geomatch_app.core.errors import GeomatchError
from geomatch_app.core.types import Photo
from geomatch_app.training.batches import pk_batches
from geomatch_app.training.sources import MatchRules, TrainData, check_sufficient, from_photos
from geomatch_app.training.trainer import recall_improved


def _grid(n_places: int, per_place: int = 3) -> tuple[list[Photo], list[Photo]]:
    """Places 100 m apart on a line; one query and ``per_place`` gallery photos each."""
    q, g = [], []
    for i in range(n_places):
        lat = 52.0 + i * 100 / 111_320
        q.append(Photo(f"q{i}.jpg", lat, 4.0, None, "", "", "query"))
        g += [Photo(f"g{i}_{j}.jpg", lat, 4.0, None, "", "", "gallery") for j in range(per_place)]
    return q, g


def test_pk_batches_hold_mutually_negative_places():
    q, g = _grid(12)
    rules = MatchRules(pos_m=25, neg_m=150)  # neighbouring places (100 m) are not negatives
    split = from_photos(q, g, rules, val_fraction=0).train
    batches = list(pk_batches(split, np.arange(len(split)), p=3, k=3,
                              rng=np.random.default_rng(0)))
    seen = [i for b in batches for kind, i in b.items if kind == "q"]
    assert sorted(seen) == list(range(len(split)))  # every query once
    for b in batches:
        assert 2 <= b.n_places <= 3 and len(b.items) == 3 * b.n_places
        for (kind, i), lab in zip(b.items, b.labels, strict=True):
            qi = next(j for (k2, j), l2 in zip(b.items, b.labels, strict=True)
                      if k2 == "q" and l2 == lab)
            if kind == "g":
                assert i in split.positives[qi]
            for (k2, j), l2 in zip(b.items, b.labels, strict=True):
                if l2 != lab and k2 == "g":  # another place's photo is a true negative
                    assert j not in split.non_negatives[qi]


def test_check_sufficient_refuses_two_pairs_and_says_how_many_are_needed():
    q, g = _grid(3)
    data = from_photos(q, g, MatchRules(), val_fraction=0.34)
    assert data.n_pairs == 2
    with pytest.raises(GeomatchError, match=r"only 3 pairs .*\(2 for training, 1 on held-out "
                       r"places.*at least 10 training pairs and 3 validation.*10 more pairs"):
        check_sufficient(data)
    q, g = _grid(13)
    data = from_photos(q, g, MatchRules(), val_fraction=0.1)  # 12 train, 1 validation query
    with pytest.raises(GeomatchError, match=r"\(12 for training, 1 on held-out.*2 more pairs"):
        check_sufficient(data)
    no_val = TrainData(data.train, data.train.subset([]))
    with pytest.raises(GeomatchError, match="0 on held-out places"):
        check_sufficient(no_val)
    check_sufficient(from_photos(q, g, MatchRules(), val_fraction=0.25))  # 10 + 3: enough


def test_recall_improved_needs_a_real_gain():
    b = {"R@1": 0.5, "R@5": 0.7, "R@10": 0.8, "R@20": 0.9}
    assert recall_improved(b, {**b, "R@1": 0.6})
    assert not recall_improved(b, dict(b))
    assert not recall_improved(b, {**b, "R@1": 0.4, "R@20": 1.0})
    assert recall_improved(b, {**b, "R@5": 0.8})  # same R@1, better elsewhere
    assert not recall_improved({}, b) and not recall_improved({"R@1": 0.0}, {"R@1": 0.0})


def test_command_offers_every_loss():
    from geomatch_app.commands.train import LOSSES as CLI
    from geomatch_app.training.objective import LOSSES

    assert CLI == LOSSES


def test_paper_freeze_keeps_conv1_to_conv3_fixed():
    from geomatch_app.models import get_model
    from geomatch_app.training.trainer import backbone_blocks, freeze_lower

    alex = get_model("alexnet-netvlad", pretrained=False)
    assert freeze_lower(alex, None) == 8  # features[8] = conv4
    names = [n for n, b in backbone_blocks(alex) if any(p.requires_grad for p in b.parameters())]
    assert names == ["features.8", "features.10"]  # conv4, conv5
    res = get_model("resnet18-avg", pretrained=False)
    cut = freeze_lower(res, None)
    assert backbone_blocks(res)[cut][0] == "body.6"  # layer3 (conv4_x) trains; conv1–conv3_x not
    mbv2 = get_model("mobilenetv2-gem", pretrained=False)
    cut = freeze_lower(mbv2, None)
    assert backbone_blocks(mbv2)[cut][0] == "features.7"  # first block at stride 16


@pytest.mark.usefixtures("one_torch_thread")
def test_training_a_netvlad_model_from_a_manifest_initialises_it(tmp_path, nordland_photos,
                                                                  shared_data):
    import torch

    from geomatch_app.models import get_model
    from geomatch_app.training.augment import ImageSource
    from geomatch_app.training.sources import from_manifest
    from geomatch_app.training.trainer import TrainConfig, train

    q, g = nordland_photos
    import shutil

    manifest = tmp_path / "set" / "manifest.csv"
    (tmp_path / "set" / "images").mkdir(parents=True)
    with manifest.open("w", newline="") as fh:  # images beside the manifest, as it requires
        w = csv.writer(fh)
        w.writerow(["path", "place_id", "lat", "lon", "domain", "split"])
        for i, p in enumerate((*q, *g)):
            rel = f"images/{i:03d}.png"
            shutil.copyfile(p.path, manifest.parent / rel)
            w.writerow([rel, p.place_id, "", "", p.domain, p.split])
    rules = MatchRules(pos_frames=1, neg_frames=2)
    data = from_manifest(manifest, rules, val_fraction=0.25)
    others = sorted((shared_data / "fordham_places" / "images").glob("*.jpg"))[:3] + \
        sorted((shared_data / "opensfm_berlin_lund" / "images").glob("*.jpg"))[:3]
    if len(others) < 6:
        pytest.skip("fordham / opensfm photos are not in ../shared/data")

    def cosines(model):
        src = ImageSource(model.preprocess)
        with torch.no_grad():
            d = model.eval()(src.batch([str(p) for p in others], augment=False))
        c = (d @ d.T).numpy()
        return c[~np.eye(len(c), dtype=bool)]

    fresh = get_model("mobilenetv2-netvlad")
    from dataclasses import replace
    fresh.preprocess = replace(fresh.preprocess, size=64)
    assert cosines(fresh).min() > 0.99  # random centroids: every photo looks alike
    cfg = TrainConfig(model="mobilenetv2-netvlad", out_dir=str(tmp_path / "ft"), epochs=1,
                      queries_per_epoch=4, batch_size=4, n_neg=2, neg_cache=8, image_size=64,
                      train_rules=rules, device="cpu", val_max_queries=4)
    res = train(data, cfg)
    assert res.netvlad_init and res.netvlad_init["images"] == len(
        {p.path for p in (*data.train.gallery, *data.train.queries)})
    trained = get_model(str(res.model_dir))
    assert bool(trained.head.initialised)
    assert np.median(cosines(trained)) < 0.9
    card = (res.model_dir / "README.md").read_text()
    assert "was uninitialised, so training first initialised it" in card


def test_merge_data_shifts_gallery_indices():
    from geomatch_app.training.sources import merge_data

    a = from_photos(*_grid(6), MatchRules(), val_fraction=0.34, description="a")
    b = from_photos(*_grid(5, per_place=2), MatchRules(), val_fraction=0.4, description="b")
    m = merge_data([a, b])
    assert len(m.train) == len(a.train) + len(b.train)
    assert len(m.train.gallery) == len(a.train.gallery) + len(b.train.gallery)
    off = len(a.train.gallery)
    for i in range(len(b.train)):
        j = len(a.train) + i
        assert m.train.queries[j] is b.train.queries[i]
        assert [m.train.gallery[k] for k in m.train.positives[j]] == \
            [b.train.gallery[k] for k in b.train.positives[i]]
        assert (m.train.non_negatives[j] >= off).all()
    assert m.n_pairs == a.n_pairs + b.n_pairs and m.source == "a + b"


def test_default_augmentation_is_colour_jitter_only():
    from PIL import Image

    from geomatch_app.models.place import Preprocess
    from geomatch_app.training.augment import AugmentConfig, ImageSource

    cfg = AugmentConfig()
    assert cfg.enabled and not cfg.crop and cfg.erase_p == 0 and not cfg.flip
    src = ImageSource(Preprocess(size=16), cfg)
    img = Image.new("RGB", (32, 32), (0, 0, 0))
    img.paste((255, 255, 255), (0, 0, 16, 32))  # left half white: geometry shows any crop
    src.image = lambda path, center_crop=None: img
    x = src.augmented("x")
    left, right = x[:, :, :7].mean(), x[:, :, 9:].mean()
    assert left > right + 0.5  # still white left, black right: no crop, flip or erase
