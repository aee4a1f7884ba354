"""Export writes the three formats, reads back through the manifest reader, and never writes
outside its folder or over existing files."""

from __future__ import annotations

import csv
import json
import os

import pytest
from store_helpers import candidates_for, gallery_photos

from geomatch_app.data.gallery import read_manifest
from geomatch_app.store import ExportError, Store
from geomatch_app.store.export import export, safe_join, safe_name


@pytest.fixture
def curated(store: Store, fordham):
    """Two confirmed queries (one via a gallery candidate, one as a map point), one rejected."""
    gid = store.add_gallery("fordham")
    photos = gallery_photos(fordham)
    store.add_images(gid, photos)
    q1 = store.add_query(fordham / "images/p0_i0.jpg", title="Keating Hall", archive_id="A-17",
                         date="c. 1920-1925")
    store.record_suggestions(q1, candidates_for(photos), model="effnetlite2-gem")
    store.decide(q1, "confirmed", candidate_path=photos[1].path, curator="Ann")
    q2 = store.add_query(fordham / "images/p1_i0.jpg")
    store.decide(q2, "confirmed", lat=40.8611, lon=-73.8855, heading=200, curator="Bob")
    q3 = store.add_query(fordham / "images/p2_i0.jpg")
    store.decide(q3, "rejected", curator="Ann")
    return store


def test_pairs(curated: Store, tmp_path):
    out = tmp_path / "pairs"
    report = export(curated, out, "pairs")
    assert report.written == 1 and len(report.skipped) == 1  # the map point has no reference
    rows = list(csv.DictReader((out / "pairs.csv").open()))
    (row,) = rows
    assert row["query"] == "query/00001_p0_i0.jpg"
    assert row["reference"] == "reference/00001_p0_i0.jpg"
    assert (row["curator"], row["model"], row["rank"], row["heading"]) == (
        "Ann", "effnetlite2-gem", "2", "80.0")
    assert (row["title"], row["date_from"]) == ("Keating Hall", "1920-01-01")
    assert (out / row["query"]).read_bytes() == open(row["query_source"], "rb").read()
    assert (out / row["reference"]).read_bytes() == open(row["reference_source"], "rb").read()


def test_manifest_reads_back(curated: Store, tmp_path):
    out = tmp_path / "m"
    report = export(curated, out, "manifest")
    assert report.written == 2
    queries = read_manifest(out / "manifest.csv", role="query").photos
    gallery = read_manifest(out / "manifest.csv", role="gallery").photos
    assert len(queries) == 2 and len(gallery) == 1
    assert all(os.path.isfile(p.path) for p in queries + gallery)
    # the candidate-confirmed query shares the gallery image's place id
    assert queries[0].place_id == gallery[0].place_id == "fordham_p0"
    assert gallery[0].lat == pytest.approx(40.8620028)
    assert (queries[1].lat, queries[1].lon) == (40.8611, -73.8855)
    header = (out / "manifest.csv").read_text().splitlines()[0]
    assert header == "path,place_id,lat,lon,domain,split"


def test_geojson(curated: Store, tmp_path):
    export(curated, tmp_path / "g", "geojson")
    data = json.loads((tmp_path / "g" / "confirmed.geojson").read_text())
    feats = data["features"]
    assert [f["geometry"]["coordinates"] for f in feats] == [
        [-73.8845972, 40.8620028], [-73.8855, 40.8611]]
    assert [f["properties"]["heading"] for f in feats] == [80.0, 200.0]
    assert [f["properties"]["kind"] for f in feats] == ["gallery candidate", "map point"]


def test_curator_filter(curated: Store, tmp_path):
    assert export(curated, tmp_path / "a", "geojson", curator="Bob").written == 1


def test_never_overwrites_without_force(curated: Store, tmp_path):
    out = tmp_path / "x"
    export(curated, out, "geojson")
    (out / "confirmed.geojson").write_text("mine")
    with pytest.raises(ExportError, match="not empty"):
        export(curated, out, "geojson")
    assert (out / "confirmed.geojson").read_text() == "mine"
    export(curated, out, "geojson", force=True)
    assert (out / "confirmed.geojson").read_text() != "mine"
    with pytest.raises(ExportError, match="not a folder"):
        export(curated, out / "confirmed.geojson", "geojson")


@pytest.mark.parametrize("name,want", [
    ("../../x", "x"), ("..", "file"), ("/etc/passwd", "passwd"), ("..\\..\\win.jpg", "win.jpg"),
    (".hidden", "hidden"), ("a b/c d.jpg", "c_d.jpg"), ("", "file"), ("Zoë ü.jpg", "Zo_.jpg"),
])
def test_safe_name(name, want):
    assert safe_name(name) == want


def test_traversal_names_stay_inside(tmp_path):
    root = tmp_path / "out"
    root.mkdir()
    assert safe_join(root, "../../x") == root / "x"
    assert safe_join(root, "..", "..", "etc", "passwd") == root / "file" / "file" / "etc" / "passwd"


def test_symlink_out_of_folder_refused(curated: Store, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    out = tmp_path / "out"
    out.mkdir()
    (out / "query").symlink_to(outside, target_is_directory=True)
    with pytest.raises(ExportError, match="outside the export folder"):
        export(curated, out, "pairs", force=True)
    assert list(outside.iterdir()) == []


def test_hostile_candidate_path(store: Store, fordham, tmp_path):
    """A candidate recorded with a '../..' path (e.g. from a manifest) lands inside DIR."""
    work = tmp_path / "a" / "b"
    work.mkdir(parents=True)
    evil = tmp_path / "evil..jpg"
    evil.write_bytes((fordham / "images/p0_i1.jpg").read_bytes())
    q = store.add_query(fordham / "images/p0_i0.jpg")
    store.decide(q, "confirmed", candidate_path=str(work / ".." / ".." / "evil..jpg"))
    out = tmp_path / "a" / "out"
    report = export(store, out, "pairs")
    assert report.written == 1
    for f in report.files:
        assert f.resolve().is_relative_to(out.resolve())
