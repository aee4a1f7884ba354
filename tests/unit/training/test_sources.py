"""Positives, non-negatives and place-wise validation splits."""

from __future__ import annotations

import numpy as np

from geomatch_app.core.types import Photo
from geomatch_app.training.sources import (
    MatchRules,
    from_manifest,
    from_photos,
    match_sets,
    place_key,
    split_places,
    target_paths,
)


def test_match_sets_by_distance():
    # 0.0001° of latitude ≈ 11.1 m
    q = [Photo("q", 45.0, 7.0)]
    g = [Photo(f"g{i}", 45.0 + i * 0.0001, 7.0) for i in range(6)]
    pos, near = match_sets(q, g, MatchRules(pos_m=5, neg_m=25))
    assert pos[0].tolist() == [0]
    assert near[0].tolist() == [0, 1, 2]  # 0, 11.1, 22.2 m ≤ 25 m


def test_match_sets_by_sequence_counts_places_not_frame_numbers():
    q = [Photo("q", place_id="nordland_00100")]
    g = [Photo(f"g{n}", place_id=f"nordland_{n:05d}") for n in range(0, 200, 10)]
    pos, near = match_sets(q, g, MatchRules(pos_frames=1, neg_frames=3))
    assert [g[i].place_id for i in pos[0]] == ["nordland_00090", "nordland_00100",
                                                "nordland_00110"]
    assert len(near[0]) == 7
    strict, _ = match_sets(q, g, MatchRules())
    assert [g[i].place_id for i in strict[0]] == ["nordland_00100"]


def test_split_holds_out_places_never_images():
    qs = [Photo(f"q{i}_{k}", place_id=f"seq_{i:03d}") for i in range(20) for k in range(2)]
    train, val = split_places(qs, val_fraction=0.2, gap=2)
    assert val == {f"seq_{i:03d}" for i in range(16, 20)}
    assert train == {f"seq_{i:03d}" for i in range(14)}  # 14, 15 are the gap
    assert not train & val


def test_from_photos_keeps_validation_gallery_out_of_training():
    qs = [Photo(f"q{i}", place_id=f"p_{i:02d}") for i in range(10)]
    gs = [Photo(f"g{i}", place_id=f"p_{i:02d}") for i in range(10)]
    data = from_photos(qs, gs, MatchRules(neg_frames=1), val_fraction=0.3)
    val_places = {place_key(q) for q in data.val.queries}
    assert val_places == {"p_07", "p_08", "p_09"}
    assert not {g.place_id for g in data.train.gallery} & val_places
    assert "p_06" not in {q.place_id for q in data.train.queries}  # the gap
    for q, pos in zip(data.val.queries, data.val.positives, strict=True):
        assert [data.val.gallery[i].place_id for i in pos] == [q.place_id]


def test_nordland_manifest_split(shared_data):
    data = from_manifest(shared_data / "nordland_seqslam" / "manifest.csv",
                         MatchRules(pos_frames=1, neg_frames=5))
    train_q = {q.place_id for q in data.train.queries}
    val_q = {q.place_id for q in data.val.queries}
    assert not train_q & val_q
    assert len(val_q) == round(0.2 * 3576)
    assert data.n_pairs == len(data.train.queries) > 2500
    assert all(len(p) >= 1 for p in data.train.positives)
    assert all(np.all(np.isin(p, n)) for p, n in zip(data.train.positives,
                                                     data.train.non_negatives, strict=True))


def test_target_paths_of_old_photos(shared_data):
    paths = target_paths(shared_data / "old_photos" / "manifest.csv")
    assert len(paths) == 40
    assert target_paths(None) == []


def test_from_store_uses_confirmed_candidates_and_map_points(tmp_path):
    from geomatch_app.store import Store
    from geomatch_app.training.sources import from_store

    store = Store(tmp_path / "c.sqlite")
    gid = store.add_gallery("street")
    # ten gallery photos 50 m apart along a meridian, each its own place
    gallery = [Photo(f"/g/{i}.jpg", 45.0 + i * 0.00045, 7.0, place_id=f"s_{i}")
               for i in range(10)]
    store.add_images(gid, gallery, hash_files=False)
    for i in range(8):
        qid = store.add_query(f"/q/{i}.jpg", sha256="")
        if i == 3:  # a free map point 5 m north of gallery photo 3
            store.decide(qid, "confirmed", lat=45.0 + 3 * 0.00045 + 0.000045, lon=7.0)
        else:
            store.decide(qid, "confirmed", candidate_path=f"/g/{i}.jpg")
    store.decide(store.add_query("/q/rejected.jpg", sha256=""), "rejected")
    data = from_store(store, rules=MatchRules(pos_m=10, neg_m=25), val_fraction=0.25)
    assert len(data.train) + len(data.val) == 8
    for split in (data.train, data.val):
        for q, pos in zip(split.queries, split.positives, strict=True):
            n = q.path.split("/")[-1].split(".")[0]
            assert [split.gallery[i].path for i in pos] == [f"/g/{n}.jpg"]
    assert sorted(q.path for q in data.val.queries) == ["/q/6.jpg", "/q/7.jpg"]  # northmost
    assert "/q/rejected.jpg" not in {q.path for q in data.train.queries + data.val.queries}
