"""Gallery import from manifests and folders: splits, reports, wrong CSVs."""

from __future__ import annotations

import shutil

import pytest

from geomatch_app.core.errors import ManifestError
from geomatch_app.data.gallery import load_photos, read_manifest, scan_folder


def test_manifest_roles_use_split(shared_data):
    m = shared_data / "opensfm_berlin_lund" / "manifest.csv"
    gallery = read_manifest(m, "gallery")
    queries = read_manifest(m, "query")
    assert len(gallery.photos) == 24 and len(queries.photos) == 8
    assert all(p.has_location for p in gallery.photos)
    assert queries.photos[0].place_id == "berlin_01"
    assert all(p.path.endswith(".jpg") for p in gallery.photos)


def test_db_split_counts_as_gallery(shared_data):
    rep = read_manifest(shared_data / "arezzo_exif_gps" / "manifest.csv", "gallery")
    assert len(rep.photos) == 9 and not rep.skipped


def test_no_location_is_reported_not_dropped(shared_data):
    rep = read_manifest(shared_data / "fordham_places" / "manifest.csv", "gallery")
    assert len(rep.photos) == 17
    assert len(rep.no_location) == 10  # p3, p7..p10 galleries have place_id but no GPS


def test_manifest_without_split_uses_every_row(tmp_path, shared_data):
    src = shared_data / "arezzo_exif_gps" / "images"
    (tmp_path / "imgs").mkdir()
    shutil.copy(src / "DSCN0010.jpg", tmp_path / "imgs" / "a.jpg")
    shutil.copy(src / "DSCN0012.jpg", tmp_path / "imgs" / "b.jpg")
    (tmp_path / "m.csv").write_text("path,lat,lon\nimgs/a.jpg,43.1,11.2\nimgs/b.jpg,,\n"
                                    "imgs/missing.jpg,1,2\nimgs/a.jpg,95,0\n")
    rep = read_manifest(tmp_path / "m.csv", "gallery")
    assert [p.lat for p in rep.photos] == [43.1, None]
    assert rep.no_location == [str((tmp_path / "imgs" / "b.jpg").resolve())]
    reasons = [r for _, r in rep.skipped]
    assert any("file not found" in r for r in reasons)
    assert any("invalid lat/lon" in r for r in reasons)
    assert len(read_manifest(tmp_path / "m.csv", "query").photos) == 2


@pytest.mark.parametrize("text,words", [("file,lat,lon\na.jpg,1,2\n", "no 'path' column"),
                                        ("path,domain\na.jpg,x\n", "place_id")])
def test_wrong_csv_is_refused_naming_file(tmp_path, text, words):
    (tmp_path / "bad.csv").write_text(text)
    with pytest.raises(ManifestError) as err:
        read_manifest(tmp_path / "bad.csv")
    assert "bad.csv" in str(err.value) and words in str(err.value)


def test_binary_csv_refused(tmp_path):
    (tmp_path / "bin.csv").write_bytes(b"\xff\xfe\x00\x81garbage")
    with pytest.raises(ManifestError):
        read_manifest(tmp_path / "bin.csv")


def test_folder_scan_reads_exif_and_reports(tmp_path, shared_data):
    shutil.copy(shared_data / "exif_gps_originals" / "opensfm_lund_01.jpg", tmp_path / "a.jpg")
    (tmp_path / "sub").mkdir()
    shutil.copy(shared_data / "odd" / "no_exif_xmp_only.jpg", tmp_path / "sub" / "b.jpg")
    shutil.copy(shared_data / "odd" / "not_an_image.jpg", tmp_path / "sub" / "c.jpg")
    shutil.copy(shared_data / "odd" / "sample.heif", tmp_path / "d.heif")
    (tmp_path / "notes.txt").write_text("x")
    rep = scan_folder(tmp_path)
    assert len(rep.photos) == 2
    located = [p for p in rep.photos if p.has_location]
    assert len(located) == 1 and located[0].lat == pytest.approx(55.698, abs=1e-2)
    assert len(rep.no_location) == 1 and rep.no_location[0].endswith("b.jpg")
    skipped = dict(rep.skipped)
    assert any(k.endswith("c.jpg") for k in skipped) and any("HEIF" in v for v in skipped.values())
    assert load_photos(tmp_path).summary().startswith("2 photos")


def test_missing_source(tmp_path):
    with pytest.raises(ManifestError, match="does not exist"):
        load_photos(tmp_path / "nothing")
