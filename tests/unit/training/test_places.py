"""The ground-truth rule: image sequences count neighbouring frames as one place."""

from __future__ import annotations

import csv

import numpy as np
import pytest

from geomatch_app.core.types import Candidate, Photo
from geomatch_app.training.calibration import (
    GalleryStats,
    candidate_features,
    gallery_stats,
    unrelated_neighbour_sims,
    without_place,
)
from geomatch_app.training.evaluation import is_match
from geomatch_app.training.places import PlaceRule, detect_sequences, rule_for

NORDLAND = [f"nordland_{n:05d}" for n in range(10, 410, 10)]  # 40 frames, step 10


def test_sequences_are_detected_from_the_place_ids_only() -> None:
    assert detect_sequences(NORDLAND) == (("nordland", 10),)
    assert detect_sequences([f"corridor_{i:03d}" for i in range(111)]) == (("corridor", 1),)
    assert detect_sequences(NORDLAND[:19]) == ()  # too short to call a sequence
    # a photo gallery: several photos per place id, or ids that are not name_<number>
    assert detect_sequences([f"berlin_{i // 4:02d}" for i in range(80)]) == ()
    assert detect_sequences([f"fordham_p{i}" for i in range(40)]) == ()
    # irregular numbers (most gaps differ) are ids, not frames
    assert detect_sequences([f"site_{i * i}" for i in range(1, 40)]) == ()


def test_neighbouring_frames_are_the_same_place_within_two_steps() -> None:
    rule = rule_for(NORDLAND)
    assert rule.same(None, None, "nordland_00100", None, None, "nordland_00120") is True
    assert rule.same(None, None, "nordland_00100", None, None, "nordland_00130") is False
    assert rule.same(None, None, "nordland_00100", None, None, "other_00100") is False
    assert rule.same(None, None, "nordland_00100", None, None, "") is None
    # coordinates decide when both photos have them, whatever the ids say
    assert rule.same(50.0, 8.0, "nordland_00100", 50.01, 8.0, "nordland_00100") is False
    exact = PlaceRule()
    assert exact.same(None, None, "nordland_00100", None, None, "nordland_00110") is False
    q = Photo("q.png", place_id="nordland_00100")
    assert is_match(q, Candidate(1, 0.9, "g.png", place_id="nordland_00110"), rule=rule)
    assert not is_match(q, Candidate(1, 0.9, "g.png", place_id="nordland_00110"))
    # folds keep runs of 10 frames together, so tolerant neighbours rarely straddle folds
    assert rule.group("nordland_00100") == rule.group("nordland_00190") != \
        rule.group("nordland_00200")
    assert PlaceRule.from_json(rule.to_json()) == rule


def test_the_rule_reproduces_the_corridor_tolerant_ground_truth(shared_data) -> None:
    root = shared_data / "corridor_vprbench"
    with open(root / "manifest.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    place = {r["path"]: r["place_id"] for r in rows}
    gallery = [r["path"] for r in rows if r["split"] == "gallery"]
    rule = rule_for(place[g] for g in gallery)
    with open(root / "gt_positives.csv", newline="") as f:
        for r in csv.DictReader(f):
            want = set(r["positive_gallery_paths"].split(";"))
            got = {g for g in gallery
                   if rule.same(None, None, place[r["query_path"]], None, None, place[g])}
            assert got == want, r["query_path"]


def test_calibration_features_and_open_set_use_the_sequence_rule() -> None:
    photos = [Photo(f"{i}.png", place_id=f"seq_{i:03d}") for i in range(30)]
    rule = rule_for(p.place_id for p in photos)
    d = np.eye(30, dtype=np.float32)
    d[1, 0] = d[2, 0] = 0.99  # frames 1 and 2 look like frame 0 (the same place)
    d[4, 0] = 0.7             # frame 4: another place, but within the ±5 window
    d[8, 0] = 0.5             # frame 8: unrelated, looks a bit like frame 0
    d /= np.linalg.norm(d, axis=1, keepdims=True)
    assert rule.related(None, None, "seq_000", None, None, "seq_004") is True
    assert rule.same(None, None, "seq_000", None, None, "seq_004") is False
    assert rule.related(None, None, "seq_000", None, None, "seq_006") is False
    sims = unrelated_neighbour_sims(d, photos, rule=rule)
    # frame 0's nearest *unrelated* photo is frame 8, not frames 1, 2 (same) or 4 (window)
    want0 = float(d[0] @ d[8])
    assert sims[0] == pytest.approx(want0, abs=1e-6)
    st = gallery_stats(d, photos)
    assert st is not None and st.place_rule() == rule
    assert GalleryStats.from_json(st.to_json()).rule == st.rule
    cands = [Candidate(r, s, f"{i}.png", place_id=f"seq_{i:03d}")
             for r, (s, i) in enumerate([(0.9, 1), (0.88, 2), (0.6, 9)], start=1)]
    f = candidate_features(cands, st)
    assert f[0, 1] == pytest.approx(0.9 - 0.6)  # frame 2 is the same place: margin over 9
    near = cands[:2] + [Candidate(3, 0.8, "5.png", place_id="seq_005"), cands[2]]
    assert candidate_features(near, st)[0, 1] == pytest.approx(0.9 - 0.6)  # 5: in the window
    q = Photo("q.png", place_id="seq_000")
    assert [c.place_id for c in without_place(q, cands, rule=rule)] == ["seq_009"]


def test_the_pair_matrix_agrees_with_the_pairwise_rule() -> None:
    rng = np.random.default_rng(0)
    rule = rule_for(NORDLAND)
    ids = ["nordland_00100", "nordland_00120", "nordland_00160", "nordland_00500", "other_1",
           "other_1", "", "x_2"]
    lats = [None, None, 50.0, 50.0001, None, 50.2, 50.0, None]
    lons = [None, None, 8.0, 8.0, None, 8.0, 8.0, None]
    for _ in range(20):
        order = rng.permutation(len(ids))
        a = [ids[i] for i in order]
        la = [lats[i] for i in order]
        lo = [lons[i] for i in order]
        m = rule.related_matrix(la, lo, a)
        for i in range(len(a)):
            for j in range(len(a)):
                want = rule.related(la[i], lo[i], a[i], la[j], lo[j], a[j])
                assert m[i, j] == (-1 if want is None else int(want)), (a[i], a[j])
