"""Regression tests for the hostile inputs of issue 17 that reach the data package: each test
builds the exact input class that used to crash, hang, read too much or vanish silently."""

from __future__ import annotations

import os
import shutil
import struct
import threading
from pathlib import Path

import pytest
from exif_bytes import ASCII, RATIONAL, SHORT, good_gps, jpeg_with_gps, rational
from PIL import Image, TiffImagePlugin

from geomatch_app.core.errors import ImageError
from geomatch_app.data import images
from geomatch_app.data.gallery import read_manifest, scan_folder
from geomatch_app.data.images import load_image, parse_gps_ifd, read_geotag

R = TiffImagePlugin.IFDRational


# ---- EXIF GPS reference stored as a number ----------------------------------------------------

@pytest.mark.parametrize("lat_ref", [R(1, 1), 1, 0, 3.0])
def test_numeric_gps_reference_is_invalid_not_a_crash(lat_ref):
    gps = {1: lat_ref, 2: (43.0, 28.0, 0.0), 3: "E", 4: (11.0, 53.0, 0.0)}
    assert parse_gps_ifd(gps, "x.jpg") is None  # hemisphere unknown: never guess it


def test_unknown_reference_letter_is_invalid():
    assert parse_gps_ifd({1: "X", 2: (43.0, 0.0, 0.0), 3: "E", 4: (11.0, 0.0, 0.0)}) is None


def test_text_references_still_work():
    tag = parse_gps_ifd({1: b"S\x00", 2: (43.0, 30.0, 0.0), 3: "w ", 4: (11.0, 0.0, 0.0)})
    assert tag.lat == pytest.approx(-43.5) and tag.lon == pytest.approx(-11.0)


def test_folder_with_numeric_reference_photo_indexes_the_rest(tmp_path, shared_data):
    """The reported crash: one photo with GPSLatitudeRef stored as RATIONAL and
    GPSLongitudeRef as SHORT aborted the whole folder with AttributeError."""
    jpeg_with_gps(tmp_path / "numeric_ref.jpg", [
        (1, RATIONAL, 1, rational(1)), (2, RATIONAL, 3, rational(43, 28, 0)),
        (3, SHORT, 1, struct.pack("<HH", 1, 0)), (4, RATIONAL, 3, rational(11, 53, 0))])
    jpeg_with_gps(tmp_path / "good.jpg", good_gps())
    shutil.copy(shared_data / "exif_gps_originals" / "opensfm_lund_01.jpg", tmp_path / "c.jpg")
    with Image.open(tmp_path / "numeric_ref.jpg") as im:  # the file really has the odd types
        gps = im.getexif().get_ifd(0x8825)
        assert isinstance(gps[1], R) and isinstance(gps[3], int)
    assert read_geotag(tmp_path / "numeric_ref.jpg") is None
    rep = scan_folder(tmp_path)
    assert len(rep.photos) == 3
    assert rep.no_location == [str((tmp_path / "numeric_ref.jpg").resolve())]
    good = next(p for p in rep.photos if p.path.endswith("good.jpg"))
    assert (good.lat, good.lon) == (pytest.approx(43 + 28 / 60), pytest.approx(11 + 53 / 60))


def test_ascii_reference_with_count_mismatch(tmp_path):
    jpeg_with_gps(tmp_path / "a.jpg", [(1, ASCII, 5, b"S\0\0\0\0"),
                                       *good_gps()[1:]])
    tag = read_geotag(tmp_path / "a.jpg")
    assert tag is not None and tag.lat < 0


# ---- manifests: rows of the wrong shape, duplicates, paths that escape -------------------------

def _images(tmp_path: Path, shared_data: Path, names: list[str]) -> None:
    (tmp_path / "imgs").mkdir(exist_ok=True)
    src = shared_data / "arezzo_exif_gps" / "images" / "DSCN0010.jpg"
    for i, name in enumerate(names):
        (tmp_path / "imgs" / name).write_bytes(src.read_bytes() + bytes([i]))


HEADER = "path,place_id,lat,lon,domain,split\n"


def test_row_with_more_fields_than_header_is_listed(tmp_path, shared_data):
    _images(tmp_path, shared_data, ["a.jpg", "b.jpg"])
    (tmp_path / "m.csv").write_text(HEADER + "imgs/a.jpg,p1,43.1,11.2,day,gallery\n"
                                    "imgs/b.jpg,Rome, Italy,41.9,12.5,day,gallery\n")
    rep = read_manifest(tmp_path / "m.csv", "gallery")
    assert [Path(p.path).name for p in rep.photos] == ["a.jpg"]
    (where, reason), = rep.skipped
    assert where.endswith("m.csv:3") and "7 fields but the header has 6" in reason
    assert "quote" in reason


def test_short_rows_are_listed_not_dropped(tmp_path, shared_data):
    _images(tmp_path, shared_data, ["a.jpg", "b.jpg"])
    (tmp_path / "m.csv").write_text(HEADER + "imgs/a.jpg,p1,43.1,11.2,day,gallery\n"
                                    "imgs/b.jpg,p2,43.2,11.3\n")
    for role in ("gallery", "query"):
        rep = read_manifest(tmp_path / "m.csv", role)
        assert any(w.endswith("m.csv:3") and "4 fields but the header has 6" in r
                   for w, r in rep.skipped), role


def test_duplicate_rows_same_place_kept_once(tmp_path, shared_data):
    _images(tmp_path, shared_data, ["a.jpg"])
    (tmp_path / "m.csv").write_text(HEADER + "imgs/a.jpg,p1,43.1,11.2,day,gallery\n"
                                    "./imgs/a.jpg,p1,43.1,11.2,day,gallery\n")
    rep = read_manifest(tmp_path / "m.csv")
    assert len(rep.photos) == 1
    assert rep.skipped == [(rep.photos[0].path, "line 3 repeats line 2")]


def test_duplicate_rows_with_conflicting_coordinates_index_neither(tmp_path, shared_data):
    _images(tmp_path, shared_data, ["a.jpg", "b.jpg"])
    (tmp_path / "m.csv").write_text(HEADER + "imgs/a.jpg,p1,43.1,11.2,day,gallery\n"
                                    "imgs/b.jpg,p2,43.3,11.4,day,gallery\n"
                                    "imgs/a.jpg,p1,48.8,2.35,day,gallery\n")
    rep = read_manifest(tmp_path / "m.csv")
    assert [Path(p.path).name for p in rep.photos] == ["b.jpg"]
    (where, reason), = rep.skipped
    assert where.endswith("a.jpg") and "lines 2, 4 with different locations" in reason


@pytest.mark.parametrize("rel", ["../outside.jpg", "imgs/../../outside.jpg", "ABS"])
def test_paths_outside_the_manifest_folder_are_refused(tmp_path, shared_data, rel):
    root = tmp_path / "set"
    root.mkdir()
    _images(root, shared_data, ["a.jpg"])
    outside = tmp_path / "outside.jpg"
    shutil.copy(root / "imgs" / "a.jpg", outside)  # exists: only the rule keeps it out
    rel = str(outside) if rel == "ABS" else rel
    (root / "m.csv").write_text(HEADER + f"{rel},p9,43.1,11.2,day,gallery\n"
                                "imgs/a.jpg,p1,43.1,11.2,day,gallery\n")
    rep = read_manifest(root / "m.csv")
    assert [Path(p.path).name for p in rep.photos] == ["a.jpg"]
    (_, reason), = rep.skipped
    assert "outside the manifest's folder" in reason


def test_absolute_path_inside_the_folder_is_fine(tmp_path, shared_data):
    _images(tmp_path, shared_data, ["a.jpg"])
    (tmp_path / "m.csv").write_text(HEADER + f"{tmp_path / 'imgs' / 'a.jpg'},p1,1,2,d,gallery\n")
    assert len(read_manifest(tmp_path / "m.csv").photos) == 1


def test_symlink_out_of_the_manifest_folder_is_refused(tmp_path, shared_data):
    root = tmp_path / "set"
    root.mkdir()
    secret = tmp_path / "secret.jpg"
    shutil.copy(shared_data / "arezzo_exif_gps" / "images" / "DSCN0010.jpg", secret)
    os.symlink(secret, root / "link.jpg")
    (root / "m.csv").write_text(HEADER + "link.jpg,p1,1,2,d,gallery\n")
    rep = read_manifest(root / "m.csv")
    assert not rep.photos and "outside" in rep.skipped[0][1]


# ---- files that are not files ----------------------------------------------------------------

def _finishes(fn, timeout: float = 10.0):
    """Run fn in a thread; fail (instead of hanging the suite) if it blocks."""
    result: dict = {}

    def target():
        try:
            result["value"] = fn()
        except BaseException as exc:  # noqa: BLE001 - handed back to the test
            result["error"] = exc

    t = threading.Thread(target=target, daemon=True)
    t.start()
    t.join(timeout)
    return t.is_alive(), result


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this platform")
@pytest.mark.parametrize("reader", [load_image, read_geotag])
def test_fifo_as_query_is_refused_without_blocking(tmp_path, reader):
    fifo = tmp_path / "query.jpg"
    os.mkfifo(fifo)
    hung, result = _finishes(lambda: reader(fifo))
    if hung:  # unblock the reader so the thread can end, then fail
        fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
        os.close(fd)
        pytest.fail(f"{reader.__name__} blocked on a FIFO")
    err = result.get("error")
    assert isinstance(err, ImageError) and "pipe (FIFO)" in str(err) and "query.jpg" in str(err)


def test_folder_as_image_is_refused(tmp_path):
    with pytest.raises(ImageError, match="is a folder"):
        load_image(tmp_path)


def test_fifo_in_gallery_folder_is_listed(tmp_path, shared_data):
    jpeg_with_gps(tmp_path / "good.jpg", good_gps())
    os.mkfifo(tmp_path / "pipe.jpg")
    hung, result = _finishes(lambda: scan_folder(tmp_path))
    assert not hung
    rep = result["value"]
    assert len(rep.photos) == 1 and "pipe (FIFO)" in dict(rep.skipped)[str(tmp_path / "pipe.jpg")]


def test_unidentified_junk_reads_only_its_head(tmp_path, monkeypatch):
    """A 400 MB junk file: the reason needs 32 bytes, not the whole file in memory."""
    junk = tmp_path / "scan.jpg"
    with junk.open("wb") as fh:
        fh.write(b"\x13\x37 not an image at all" * 4)
        fh.truncate(400 * 1024 * 1024)  # sparse: costs no disk
    reads: list[int] = []
    real_open = Path.open

    def counting_open(self, mode="r", *args, **kwargs):
        fh = real_open(self, mode, *args, **kwargs)
        if self == junk and "b" in mode:
            real_read = fh.read
            fh.read = lambda n=-1: reads.append(n) or real_read(n)  # type: ignore[method-assign]
        return fh

    monkeypatch.setattr(Path, "open", counting_open)
    monkeypatch.setattr(Path, "read_bytes", lambda self: pytest.fail("read the whole file"))
    with pytest.raises(ImageError, match="not a recognised image"):
        load_image(junk)
    assert reads and all(0 <= n <= 32 for n in reads)


# ---- the pixel limit is the setting, not twice the setting -------------------------------------

def test_pixel_limit_is_exact(tmp_path, monkeypatch):
    path = tmp_path / "scan.png"
    Image.new("RGB", (150, 100)).save(path)  # 15 000 px: between 1× and 2× the limit
    monkeypatch.setattr(images, "MAX_PIXELS", 10_000)
    with pytest.raises(ImageError, match="too large") as err:
        load_image(path)
    assert "150×100" in str(err.value) and "limit 10,000" in str(err.value)
    monkeypatch.setattr(images, "MAX_PIXELS", 15_000)
    assert load_image(path).size == (150, 100)  # at the limit: allowed


# ---- links in a gallery folder ---------------------------------------------------------------

def test_dangling_links_and_linked_folders_are_listed(tmp_path):
    gallery = tmp_path / "gallery"
    (gallery / "real").mkdir(parents=True)
    jpeg_with_gps(gallery / "real" / "a.jpg", good_gps())
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    jpeg_with_gps(elsewhere / "b.jpg", good_gps())
    os.symlink(elsewhere, gallery / "linked_folder")
    os.symlink(tmp_path / "gone.jpg", gallery / "dangling.jpg")
    os.symlink(gallery, gallery / "real" / "loop")  # a loop must not hang the scan
    os.symlink(gallery / "real" / "a.jpg", gallery / "alias.jpg")  # a link to a file is read
    rep = scan_folder(gallery)
    assert [Path(p.path).name for p in rep.photos] == ["a.jpg"]
    skipped = dict(rep.skipped)
    assert "link to a folder, not followed" in skipped[str(gallery / "linked_folder")]
    assert "link to a folder" in skipped[str(gallery / "real" / "loop")]
    assert "broken link" in skipped[str(gallery / "dangling.jpg")]
    assert "same file as" in skipped[str(gallery / "alias.jpg")]
