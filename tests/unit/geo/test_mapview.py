"""What the map shows: the static page's local assets, basemap layers, the JSON payload of one
query, and the rules of a hand placement (precision from zoom, rounding, whole degrees)."""

import json
import math

import pytest

from geomatch_app.core.types import Candidate, GeoTag
from geomatch_app.geo.kde import estimate_location
from geomatch_app.geo.mapview import (
    basemap_layers,
    decimals_for,
    leaflet_dir,
    manual_json,
    map_dir,
    map_payload,
    metres_per_pixel,
    nice_metres,
    nonlocal_urls,
    precision_for_zoom,
    round_heading,
    round_to_precision,
    score_colour,
)

LUND = [(55.6981667, 13.1953889), (55.6982417, 13.1952), (55.6983028, 13.1950972)]


def _cands():
    return [Candidate(i + 1, 0.9 - 0.1 * i, f"/g/lund_{i}.jpg", lat, lon,
                      heading=90.0 if i == 0 else None, place_id=f"p{i}")
            for i, (lat, lon) in enumerate(LUND)] + [Candidate(4, 0.5, "/g/none.jpg")]


def test_vendored_scripts_and_page_are_local():
    js = (leaflet_dir() / "leaflet.js").read_text()
    assert "Leaflet 1.9.4" in js[:200] and "window.L" in js
    pm = leaflet_dir().parent / "protomaps-leaflet"
    assert "var protomapsL=" in (pm / "protomaps-leaflet.js").read_text()[:200]
    assert "BSD" in (pm / "SOURCE.txt").read_text()
    assert "Redistribution" in (pm / "LICENSE").read_text()
    page = map_dir() / "index.html"
    assert nonlocal_urls(page) == []
    text = page.read_text()
    assert "Content-Security-Policy" in text and "script-src geomatch:" in text
    assert "<script>" not in text  # no inline script: the CSP forbids it anyway
    js = (map_dir() / "map.js").read_text()
    assert ".innerHTML" not in js and "eval(" not in js and "JSON.parse" in js


def test_nonlocal_urls_flags_cdn_assets(tmp_path):
    page = tmp_path / "p.html"
    page.write_text('<script src="https://cdn.x/leaflet.js"></script>'
                    '<script src="geomatch://map/a.js"></script><script src="local.js"></script>'
                    '<link rel="stylesheet" href="//cdn.y/a.css"/><link href="qrc:///x.css">')
    assert nonlocal_urls(page) == ["https://cdn.x/leaflet.js", "//cdn.y/a.css"]


def test_basemap_layers(tmp_path):
    offline, online = basemap_layers("offline")
    ids = [i for i, _ in offline]
    assert "streets" in ids and online is None
    assert basemap_layers("none") == ([], None)
    offline, online = basemap_layers("osm")
    assert online[0].startswith("https://tile.openstreetmap.org/") and "streets" in \
        [i for i, _ in offline]
    offline, online = basemap_layers(str(tmp_path / "mine.mbtiles"))
    assert offline[-1] == ("user", tmp_path / "mine.mbtiles") and online is None


def test_precision_from_zoom_is_twenty_pixels_rounded_up():
    # Web Mercator: 156543.03 m per pixel at z0 on the equator, halved per zoom level
    assert metres_per_pixel(0.0, 0) == pytest.approx(156_543.03, rel=1e-6)
    assert metres_per_pixel(60.0, 16) == pytest.approx(156_543.03 * 0.5 / 65536, rel=1e-6)
    # at 60° N, z16: 20 px × 1.194 m = 23.9 m → 50 m; z18: 5.97 m → 10 m
    assert precision_for_zoom(60.0, 16) == 50.0
    assert precision_for_zoom(60.0, 18) == 10.0
    assert precision_for_zoom(0.0, 2) == 1_000_000.0  # 782 km → 1000 km
    assert [nice_metres(x) for x in (0.3, 1.0, 1.5, 2.0, 2.1, 7, 10, 11)] == \
        [1, 1, 2, 2, 5, 10, 10, 20]


def test_coordinates_rounded_to_the_precision():
    assert decimals_for(10) == 5 and decimals_for(100) == 4 and decimals_for(12) == 4
    assert decimals_for(1000) == 3 and decimals_for(0.01) == 7
    lat, lon = round_to_precision(55.698123456789, 13.195345678912, 100)
    assert (lat, lon) == (55.6981, 13.1953)
    assert round_to_precision(10.0, 190.0, 1000) == (10.0, -170.0)
    assert round_heading(359.6) == 0.0 and round_heading(44.4) == 44.0
    assert round_heading(None) is None and round_heading(float("nan")) is None


def test_manual_placement_json():
    m = manual_json(55.6981, 13.1953, 45.0, 100.0, "camera", name="Lund, SE")
    assert m["heading"] == 45.0 and m["placed"] == "camera" and m["precision_m"] == 100.0
    assert m["tooltip"][0] == "your camera position: 55.6981, 13.1953 ± 100 m, facing 45°"
    assert "Lund, SE" in m["tooltip"]
    s = manual_json(55.6981, 13.1953, 45.0, 100.0, "subject")
    assert s["heading"] is None and s["tooltip"][0].startswith("your subject")
    with pytest.raises(ValueError):
        manual_json(1, 2, None, 10, "tripod")


def test_payload_carries_data_not_code():
    cands = _cands()
    cands[1] = Candidate(2, 0.8, "/g/a`${alert(1)}<img src=x onerror=alert(2)>.jpg",
                         *LUND[1], place_id="p`</script>")
    est = estimate_location(cands, sigma_km=0.05)
    p = map_payload(cands, est, confirmed=GeoTag(55.6982, 13.1952, 45.0),
                    truth=(55.69824, 13.19521), exif=GeoTag(55.69, 13.2), selected=2,
                    place_names=lambda pts: ["Lund, SE"] * len(pts))
    assert json.loads(json.dumps(p)) == p  # plain JSON all the way down
    assert [c["rank"] for c in p["candidates"]] == [1, 2, 3]  # no location, no marker
    c2 = p["candidates"][1]
    assert c2["tooltip"][0].endswith("a`${alert(1)}<img src=x onerror=alert(2)>.jpg")
    assert c2["tooltip"][1] == "place id p`</script>" and c2["place"] == "Lund, SE"
    assert p["candidates"][0]["heading"] == 90.0 and p["candidates"][0]["colour"] == "#d7191c"
    assert p["estimate"]["regions"]["90"]["type"] == "MultiPolygon"
    assert p["estimate"]["tooltip"][1] == "Lund, SE"
    assert p["confirmed"]["heading"] == 45.0 and p["truth"]["lat"] == 55.69824
    assert p["exif"]["tooltip"][0] == "GPS in the photo's own EXIF"
    assert p["selected"] == 2 and p["fit"] is True and p["legend"]["lo"] == pytest.approx(0.7)
    (s, w), (n, e) = p["bounds"]
    assert s <= 55.69 and n >= 55.6983 and w <= 13.1951 and e >= 13.2


def test_an_untrusted_estimate_says_so():
    cands = _cands()
    est = estimate_location(cands, sigma_km=0.05)
    names = lambda pts: [""] * len(pts)  # noqa: E731
    assert map_payload(cands, est, place_names=names)["estimate"]["trusted"] is True
    grey = map_payload(cands, est, place_names=names, trusted=False)["estimate"]
    assert grey["trusted"] is False and "no confident match" in grey["tooltip"][0]


def test_payload_of_a_confirmed_placement_keeps_precision_and_what():
    p = map_payload([], confirmed={"lat": 55.7, "lon": 13.19, "heading": None,
                                   "precision_m": 20.0, "placed": "subject"}, fit=False,
                    place_names=lambda pts: [""] * len(pts))
    assert p["confirmed"]["precision_m"] == 20.0 and p["fit"] is False
    assert p["confirmed"]["tooltip"] == ["confirmed location ± 20 m (the subject, not the "
                                         "camera)"]
    assert p["legend"] is None and p["candidates"] == []
    assert math.isclose(p["bounds"][0][0], 55.7 - 60 / 111_195.0)


def test_score_colours_run_from_low_to_high():
    assert score_colour(0.1, 0.1, 0.9) == "#2c7bb6"
    assert score_colour(0.9, 0.1, 0.9) == "#d7191c"
    assert score_colour(0.5, 0.5, 0.5) == score_colour(0.5, 0.0, 1.0)
