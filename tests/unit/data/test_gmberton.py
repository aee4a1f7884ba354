"""The gmberton layout (VPR-datasets-downloader / VPR-methods-evaluation): names round-trip, UTM
matches the textbook values, positives and Recall@N match a hand-computed case, the folder is
read by load_photos, `geomatch eval` reports the tools' recall, and an export reads back."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from geomatch_app.core.types import Photo
from geomatch_app.data import gmberton
from geomatch_app.data.gallery import load_photos


def test_utm_on_the_central_meridian_matches_the_textbook():
    # On a zone's central meridian the easting is the false easting 500 000 m; at 45° N the
    # WGS84 northing is 4 982 950.40 m (k0 = 0.9996), at the equator 0.
    e, n, zone, letter = gmberton.to_utm(45.0, 3.0)
    assert (zone, letter) == (31, "T")
    assert e == pytest.approx(500_000.0, abs=1e-3) and n == pytest.approx(4_982_950.40, abs=0.05)
    e, n, zone, _ = gmberton.to_utm(0.0, 9.0)
    assert zone == 32 and e == pytest.approx(500_000.0, abs=1e-3)
    assert n == pytest.approx(0, abs=1e-3)


def test_names_round_trip():
    name = gmberton.make_name(52.3702157, 4.8951679, heading=271.4, note="Dam square")
    assert name.startswith("@") and name.endswith("@.jpg") and name.count("@") == 15
    parsed = gmberton.parse_name(name)
    assert (parsed.zone, parsed.letter) == (31, "U")
    assert parsed.lat == pytest.approx(52.37021, abs=1e-5)
    assert parsed.lon == pytest.approx(4.89516, abs=1e-5)
    assert parsed.heading == 271 and parsed.note == "Dam_square"
    e, n, _, _ = gmberton.to_utm(52.3702157, 4.8951679)
    assert parsed.east == pytest.approx(e, abs=0.01) and parsed.north == pytest.approx(n, abs=0.01)
    assert gmberton.parse_name("IMG_0001.jpg") is None
    # a name with UTM but no lat/lon gets them from the UTM fields
    bare = gmberton.parse_name(f"@{e:.2f}@{n:.2f}@31@U@@@@@@@@@@@.jpg")
    assert bare.lat == pytest.approx(52.3702157, abs=1e-6)


def test_positives_and_recall_match_a_hand_computed_case():
    db = np.array([[0.0, 0.0], [10.0, 0.0], [100.0, 0.0], [0.0, 25.0], [0.0, 25.5]])
    queries = np.array([[0.0, 0.0], [100.0, 10.0], [50.0, 50.0], [0.0, 50.0]])
    pos = gmberton.positives(queries, db, radius_m=25.0)
    # q0: db0 (0 m), db1 (10 m), db3 (25.0 m, inclusive); q1: db2 (10 m); q2: none;
    # q3: db3 (25.0 m) and db4 (24.5 m), nearest first
    assert [p.tolist() for p in pos] == [[0, 1, 3], [2], [], [4, 3]]
    preds = [[1, 2, 0], [0, 1, 3, 4, 2], [0, 1, 2], [2, 0, 1, 2, 2, 2, 2, 2, 2, 2, 2, 3]]
    rec = gmberton.recall_at(preds, pos, ns=(1, 5, 10, 20))
    # q0 hit at rank 1; q1 at rank 5; q2 never (no positive, still counted); q3 at rank 12
    assert rec == {"R@1": 25.0, "R@5": 50.0, "R@10": 50.0, "R@20": 75.0}


def _write_set(root, rng, place_offsets_m, query_offsets_m, copies):
    """A gmberton set near Amsterdam: database photo i at (east + offset_i); query j copies
    database photo copies[j] but is named at query_offsets_m[j]."""
    test = root / "images" / "test"
    (test / "database").mkdir(parents=True)
    (test / "queries").mkdir()
    e0, n0, zone, letter = gmberton.to_utm(52.37, 4.89)
    db_imgs = []
    for i, off in enumerate(place_offsets_m):
        arr = (rng.random((40, 56, 3)) * 255).astype("uint8")
        name = f"@{e0 + off:.2f}@{n0:.2f}@{zone}@{letter}@@@@@@@@@@db{i}@.jpg"
        Image.fromarray(arr).save(test / "database" / name, quality=95)
        db_imgs.append(test / "database" / name)
    for j, (off, src) in enumerate(zip(query_offsets_m, copies, strict=True)):
        name = f"@{e0 + off:.2f}@{n0:.2f}@{zone}@{letter}@@@@@@@@@@q{j}@.jpg"
        (test / "queries" / name).write_bytes(db_imgs[src].read_bytes())
    (test / "queries" / "README.txt").write_text("not an image")
    (test / "queries" / "holiday.jpg").write_bytes(db_imgs[0].read_bytes())  # no labels
    return test


def test_folder_reads_through_load_photos(tmp_path):
    test = _write_set(tmp_path / "set", np.random.default_rng(0), [0, 100], [3], [0])
    for src in (tmp_path / "set", test):
        gal = load_photos(src, role="gallery")
        qs = load_photos(src, role="query")
        assert len(gal.photos) == 2 and all(p.split == "gallery" for p in gal.photos)
        assert len(qs.photos) == 1 and qs.photos[0].lat == pytest.approx(52.37, abs=1e-4)
        assert [p for p, _ in qs.skipped] == [str(test / "queries" / "holiday.jpg")]


@pytest.mark.usefixtures("one_torch_thread")
def test_eval_on_a_gmberton_folder_reports_the_tools_recall(tmp_path, tiny_model_name, capsys):
    from geomatch_app.cli import main

    # database photos 200 m apart; queries 0–2 are copies of photos 0–2 named 5 m away (a
    # positive within 25 m, retrieved first); query 3 copies photo 3 but is named 60 m away
    # (no positive in 25 m: never correct); hand-computed recall: 3 of 4 queries at every N
    rng = np.random.default_rng(1)
    _write_set(tmp_path / "set", rng, [0, 200, 400, 600, 800, 1000], [5, 205, 405, 660],
               [0, 1, 2, 3])
    assert main(["index", str(tmp_path / "set"), "--index", str(tmp_path / "idx"),
                 "--model", tiny_model_name, "--device", "cpu"]) == 0
    out = tmp_path / "m.json"
    assert main(["eval", "--queries", str(tmp_path / "set"), "--index", str(tmp_path / "idx"),
                 "--json", str(out), "--device", "cpu"]) == 0
    text = capsys.readouterr().out
    assert "VPR-methods-evaluation recall" in text and "R@1 75.0" in text
    vpr = json.loads(out.read_text())["runs"][0]["vpr_methods_evaluation"]
    assert vpr["recall"] == {"R@1": 75.0, "R@5": 75.0, "R@10": 75.0, "R@20": 75.0}
    assert vpr["n_queries"] == 4 and vpr["n_with_positive"] == 3


def test_vpr_recall_counts_unranked_queries_as_misses():
    qs = [Photo(gmberton.make_name(52.37, 4.89)), Photo(gmberton.make_name(52.38, 4.89))]
    gal = [Photo(gmberton.make_name(52.37, 4.89, note="a"))]
    got = gmberton.vpr_recall(qs, gal, {qs[0].path: [gal[0].path]})
    assert got["recall"]["R@1"] == 50.0 and got["n_with_positive"] == 1


def test_export_round_trips(tmp_path):
    from geomatch_app.app.export import export
    from geomatch_app.core.paths import shared_data_dir
    from geomatch_app.store import Store

    data = shared_data_dir()
    if data is None or not (data / "fordham_places").is_dir():
        pytest.skip("../shared/data/fordham_places is not present")
    fordham = data / "fordham_places"
    gallery = [p for p in load_photos(fordham / "manifest.csv", "gallery").photos
               if p.has_location][:3]
    store = Store(tmp_path / "c.sqlite")
    gid = store.add_gallery("fordham")
    store.add_images(gid, gallery)
    q1 = store.add_query(fordham / "images/p0_i0.jpg")
    store.decide(q1, "confirmed", candidate_path=gallery[1].path, curator="Ann")
    q2 = store.add_query(fordham / "images/p1_i0.jpg")
    store.decide(q2, "confirmed", lat=40.8611, lon=-73.8855, heading=200, curator="Bob")
    report = export(store, tmp_path / "out", "gmberton")
    assert report.written == 2
    qs = load_photos(tmp_path / "out", role="query").photos
    db = load_photos(tmp_path / "out", role="gallery").photos
    assert len(qs) == 2 and len(db) == 1
    assert db[0].lat == pytest.approx(gallery[1].lat, abs=1e-5)
    by_lat = sorted(qs, key=lambda p: p.lat)
    assert by_lat[0].lat == pytest.approx(40.8611, abs=1e-5) and by_lat[0].heading == 200
    pos = gmberton.positives(gmberton.utm_of(qs), gmberton.utm_of(db))
    confirmed = next(i for i, p in enumerate(qs) if abs(p.lat - gallery[1].lat) < 1e-5)
    assert pos[confirmed].tolist() == [0]  # the matched gallery photo is the query's positive
    store.close()
