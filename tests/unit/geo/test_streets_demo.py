"""The street-level demo basemap (resources/basemaps/helsinki.pmtiles) holds real OSM features at
street zoom, and packaging/build_streets_demo.py builds such a file from an OSM extract."""

import importlib.util
import math

import pytest

from geomatch_app.core.paths import REPO_DIR
from geomatch_app.geo.tiles import open_tiles, streets_demo

mvt = pytest.importorskip("mapbox_vector_tile")

RAUTATIENTORI = (60.1708, 24.9440)  # the railway station square, central Helsinki


def tile_of(lat, lon, z):
    n = 1 << z
    x = int((lon + 180) / 360 * n)
    y = int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n)
    return x, y


def test_demo_basemap_has_streets_buildings_and_names_at_z16():
    src = open_tiles(streets_demo())
    layers = mvt.decode(src.tile(16, *tile_of(*RAUTATIENTORI, 16)))
    assert {"roads", "buildings", "earth"} <= set(layers)
    assert len(layers["buildings"]["features"]) >= 5
    names = {f["properties"].get("name") for f in layers["roads"]["features"]}
    assert names & {"Kaivokatu", "Mikonkatu", "Vilhonkatu", "Keskuskatu"}, names
    kinds = {f["properties"]["kind"] for f in layers["roads"]["features"]}
    assert {"major_road", "path"} <= kinds
    # z12 still draws the main roads, without buildings (small tiles at low zoom)
    low = mvt.decode(src.tile(12, *tile_of(*RAUTATIENTORI, 12)))
    assert "roads" in low and "buildings" not in low


OSM_XML = """<?xml version='1.0' encoding='UTF-8'?>
<osm version="0.6" generator="test">
  <node id="1" lat="55.7000" lon="13.1900" version="1"/>
  <node id="2" lat="55.7000" lon="13.2000" version="1"/>
  <node id="3" lat="55.7040" lon="13.1940" version="1"/>
  <node id="4" lat="55.7040" lon="13.1950" version="1"/>
  <node id="5" lat="55.7045" lon="13.1950" version="1"/>
  <node id="6" lat="55.7045" lon="13.1940" version="1"/>
  <node id="7" lat="55.7050" lon="13.1960" version="1">
    <tag k="place" v="suburb"/><tag k="name" v="Centrum"/></node>
  <way id="10" version="1"><nd ref="1"/><nd ref="2"/>
    <tag k="highway" v="primary"/><tag k="name" v="Storgatan"/></way>
  <way id="11" version="1"><nd ref="3"/><nd ref="4"/><nd ref="5"/><nd ref="6"/><nd ref="3"/>
    <tag k="building" v="yes"/></way>
</osm>
"""


def test_build_script_turns_an_osm_extract_into_vector_pmtiles(tmp_path):
    pytest.importorskip("osmium")
    spec = importlib.util.spec_from_file_location(
        "build_streets_demo", REPO_DIR / "packaging" / "build_streets_demo.py")
    build = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(build)
    osm = tmp_path / "tiny.osm"
    osm.write_text(OSM_XML)
    out = tmp_path / "tiny.pmtiles"
    assert build.main(["--pbf", str(osm), "--out", str(out)]) == 0
    src = open_tiles(out)
    assert src.info.kind == "vector" and (src.info.minzoom, src.info.maxzoom) == (12, 16)
    layers = mvt.decode(src.tile(16, *tile_of(55.7042, 13.1945, 16)))
    assert len(layers["buildings"]["features"]) == 1
    road = mvt.decode(src.tile(14, *tile_of(55.7, 13.195, 14)))["roads"]["features"][0]
    assert road["properties"] == {"kind": "major_road", "kind_detail": "primary",
                                  "name": "Storgatan"}
    assert "OpenStreetMap" in src.info.attribution
