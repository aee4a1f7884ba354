"""The shipped calibration on a real gallery: a place the gallery lacks gets no_match; a true
day→night pair stays match.

The calibration in geomatch_app/resources/models/calibration/ was fitted on the shared sets, these
photos included:
this guards the whole path (index → gallery statistics → verification → p_match → verdict);
benchmarks/calibrate.py measures generalisation with place-disjoint folds.
"""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def triplets(shared_data):
    from geomatch_app.data.gallery import load_photos

    manifest = shared_data / "vprtutorial_triplets" / "manifest.csv"
    return load_photos(manifest, "query").photos, load_photos(manifest, "gallery").photos


def _judge(tmp_path, gallery, query):
    from geomatch_app.index import build_index
    from geomatch_app.training.calibration import judge

    idx = build_index(gallery, tmp_path / "idx", model_name="effnetlite2-gem", device="cpu")
    return judge(idx, query.path, idx.search_paths([query.path], k=20)[0])


def test_night_query_of_a_day_gallery_stays_match(tmp_path, triplets) -> None:
    queries, gallery = triplets
    q = next(p for p in queries if p.place_id == "triplet_gardenspoint_p2")
    assert q.domain == "night"
    j = _judge(tmp_path, gallery, q)
    assert j.candidates[0].place_id == q.place_id
    assert j.verdict == "match" and j.candidates[0].p_match >= 0.65
    assert j.inliers[j.candidates[0].path] > 0


def test_query_whose_place_was_removed_gets_no_match(tmp_path, triplets) -> None:
    queries, gallery = triplets
    q = next(p for p in queries if p.place_id == "triplet_gardenspoint_p0")
    j = _judge(tmp_path, [p for p in gallery if p.place_id != q.place_id], q)
    assert j.verdict == "no_match"
    assert all(c.p_match < 0.5 for c in j.candidates)
