"""Image loading: orientation, every pixel mode, bad files, EXIF GPS on real photos."""

from __future__ import annotations

import csv

import numpy as np
import pytest
from PIL import Image

from geomatch_app.core.errors import ImageError
from geomatch_app.data import images
from geomatch_app.data.images import load_image, parse_gps_ifd, read_geotag


def test_exif_gps_matches_manifest_on_real_photos(shared_data):
    folder = shared_data / "exif_gps_originals"
    rows = list(csv.DictReader((folder / "manifest.csv").open()))
    assert len(rows) >= 8
    for row in rows:
        tag = read_geotag(folder / row["path"])
        assert tag is not None, row["path"]
        assert tag.lat == pytest.approx(float(row["lat"]), abs=1e-6)
        assert tag.lon == pytest.approx(float(row["lon"]), abs=1e-6)


def test_western_hemisphere_is_negative(shared_data):
    tag = read_geotag(shared_data / "exif_gps_originals" / "fordham_p0_i0_orient6.JPG")
    assert tag is not None and tag.lon < 0 and tag.lat > 0


def test_parse_gps_refs_and_heading():
    gps = {1: "S", 2: (33.0, 52.0, 4.8), 3: "W", 4: (151.0, 12.0, 36.0), 17: 370.5}
    tag = parse_gps_ifd(gps)
    assert tag.lat == pytest.approx(-(33 + 52 / 60 + 4.8 / 3600))
    assert tag.lon == pytest.approx(-(151 + 12 / 60 + 36 / 3600))
    assert tag.heading == pytest.approx(10.5)
    assert parse_gps_ifd({}) is None
    assert parse_gps_ifd({1: "N", 2: (95.0, 0.0, 0.0), 3: "E", 4: (1.0, 0, 0)}) is None
    assert parse_gps_ifd({1: b"N", 2: (float("nan"), 0, 0), 3: "E", 4: (1.0, 0, 0)}) is None


@pytest.mark.parametrize("name,size", [("orientation_6.jpg", (600, 450)),
                                       ("orientation_8.jpg", (600, 450)),
                                       ("orientation_5_transpose.jpg", (600, 450))])
def test_exif_orientation_applied(shared_data, name, size):
    im = load_image(shared_data / "odd" / name)
    assert im.mode == "RGB" and im.size == size


def test_orientation_3_is_rotated_180(shared_data):
    path = shared_data / "odd" / "orientation_3.jpg"
    raw = np.asarray(Image.open(path).convert("RGB"), dtype=np.float32)
    upright = np.asarray(load_image(path), dtype=np.float32)
    assert upright.shape == raw.shape
    assert np.abs(upright - raw[::-1, ::-1]).mean() < 2.0


@pytest.mark.parametrize("name", ["invalid_exif_01551.jpg", "invalid_exif_02206.jpg",
                                  "invalid_exif_01713_49x500.jpg", "no_exif_xmp_only.jpg",
                                  "gps_zero_length_string.jpg", "gps_oserror_case.jpg",
                                  "gps_ifd_without_coords.jpg"])
def test_odd_but_decodable_files_load(shared_data, name):
    im = load_image(shared_data / "odd" / name)
    assert im.mode == "RGB" and min(im.size) > 0


def test_odd_gps_cases(shared_data):
    odd = shared_data / "odd"
    assert read_geotag(odd / "gps_ifd_without_coords.jpg") is None
    assert read_geotag(odd / "no_exif_xmp_only.jpg") is None
    tag = read_geotag(odd / "gps_zero_length_string.jpg")
    assert tag.lat == pytest.approx(51.025, abs=1e-3) and tag.lon == pytest.approx(7.591944, 1e-4)
    tag = read_geotag(odd / "gps_oserror_case.jpg")
    assert tag.lat == pytest.approx(43.785594, abs=1e-5)
    assert tag.lon == pytest.approx(11.234619, abs=1e-5)


@pytest.mark.parametrize("name,words", [("truncated_DSCN0010.jpg", "truncated"),
                                        ("not_an_image.jpg", "not a recognised image"),
                                        ("empty.jpg", "empty"),
                                        ("sample.heif", "HEIF")])
def test_bad_files_give_clear_errors_naming_the_file(shared_data, name, words):
    with pytest.raises(ImageError) as err:
        load_image(shared_data / "odd" / name)
    assert name in str(err.value) and words in str(err.value)
    assert err.value.hint  # says what to do


def test_truncated_file_still_has_gps_header(shared_data):
    tag = read_geotag(shared_data / "odd" / "truncated_DSCN0010.jpg")
    assert tag is not None and tag.lat == pytest.approx(43.4674, abs=1e-3)


def test_missing_file(tmp_path):
    with pytest.raises(ImageError, match="file not found"):
        load_image(tmp_path / "nope.jpg")


def _save(tmp_path, im: Image.Image, name: str):
    path = tmp_path / name
    im.save(path)
    return path


def test_every_mode_becomes_rgb(tmp_path):
    base = Image.linear_gradient("L").resize((40, 30))
    cases = {
        "l.png": base,
        "la.png": Image.merge("LA", [base, base]),
        "p.png": base.convert("P"),
        "rgba.png": Image.merge("RGBA", [base, base, base, base]),
        "cmyk.jpg": Image.merge("CMYK", [base, base, base, base]),
        "one.png": base.convert("1"),
        "cmyk.tif": Image.merge("CMYK", [base, base, base, base]),
    }
    for name, im in cases.items():
        out = load_image(_save(tmp_path, im, name))
        assert out.mode == "RGB" and out.size == (40, 30), name


def test_16bit_is_scaled_not_clipped(tmp_path):
    arr = (np.arange(40 * 30, dtype=np.uint16).reshape(30, 40) * 50).astype(np.uint16)
    path = tmp_path / "sixteen.png"
    Image.fromarray(arr).save(path)
    assert Image.open(path).mode.startswith("I")
    out = np.asarray(load_image(path))
    assert out.shape == (30, 40, 3)
    assert out[..., 0].max() > 150 and out[..., 0].min() == 0  # not all saturated at 255
    assert len(np.unique(out[..., 0])) > 50


def test_transparency_composited_over_white(tmp_path):
    im = Image.new("RGBA", (4, 4), (255, 0, 0, 0))
    out = np.asarray(load_image(_save(tmp_path, im, "clear.png")))
    assert (out == 255).all()


def test_huge_scan_refused_with_message(tmp_path, monkeypatch):
    path = _save(tmp_path, Image.new("RGB", (300, 300)), "scan.png")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 10_000)
    with pytest.raises(ImageError, match="too large") as err:
        images.load_image(path)
    assert "GEOMATCH_MAX_PIXELS" in str(err.value)


def test_huge_jpeg_decoded_reduced(tmp_path):
    path = tmp_path / "big.jpg"
    Image.new("RGB", (4000, 3000), (10, 200, 30)).save(path, quality=70)
    out = load_image(path, max_side=500)
    assert max(out.size) <= 500 and out.mode == "RGB"
