"""How fast the map gets its data (issue 14): tiles served straight from the file versus the old
extract-everything-to-PNGs-first, tile throughput from MBTiles and PMTiles, the JSON payload of
one query, and the offline gazetteer's load.

    .venv/bin/python benchmarks/map_tiles.py [--json benchmarks/results/map_tiles.json]

The ratio compares two ways of doing the same job in one process, so it stays meaningful on a
loaded machine; absolute times are for orientation only.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from geomatch_app.core.types import Candidate  # noqa: E402
from geomatch_app.geo import geocode  # noqa: E402
from geomatch_app.geo.kde import estimate_location  # noqa: E402
from geomatch_app.geo.mapview import map_payload  # noqa: E402
from geomatch_app.geo.tiles import (  # noqa: E402
    TileServer,
    iter_tiles,
    open_tiles,
    streets_demo,
    world_basemap,
)


def first_view_tiles(z: int = 3) -> list[str]:
    """The tiles a 900 × 700 px map around Lund at zoom z asks for (what a first map needs)."""
    x0, y0 = 4, 2
    return [f"/tiles/world/{z}/{x}/{y}" for x in range(x0 - 2, x0 + 3)
            for y in range(max(0, y0 - 2), y0 + 2)]


def bench_first_view(world: Path) -> dict:
    t0 = time.perf_counter()
    out = Path(tempfile.mkdtemp(prefix="gm-extract-"))
    n = 0
    for z, x, y, data in iter_tiles(world):  # the old code path: every tile to a file first
        f = out / str(z) / str(x) / f"{y}.png"
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_bytes(data)
        n += 1
    extract_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    server = TileServer()
    server.set_layer("world", open_tiles(world))
    served = sum(1 for p in first_view_tiles() if server.respond(p))
    direct_s = time.perf_counter() - t0
    return {"tiles_in_file": n, "extract_all_s": round(extract_s, 3),
            "first_view_tiles": served, "serve_first_view_s": round(direct_s, 4),
            "speedup": round(extract_s / direct_s, 1)}


def bench_throughput(path: Path, layer: str, n: int = 2000) -> dict:
    src = open_tiles(path)
    server = TileServer()
    server.set_layer(layer, src)
    i = src.info
    rng = random.Random(0)
    # tiles that exist: for the world map every tile of z0-6; for the street demo its range
    paths = []
    for _ in range(n):
        z = rng.randint(i.minzoom, i.maxzoom)
        if i.bounds and i.bounds != (-180.0, -90.0, 180.0, 90.0):
            import math

            w, s, e, nn = i.bounds
            lon, lat = rng.uniform(w, e), rng.uniform(s, nn)
            x = int((lon + 180) / 360 * (1 << z))
            y = int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * (1 << z))
        else:
            x, y = rng.randrange(1 << z), rng.randrange(1 << z)
        paths.append(f"/tiles/{layer}/{z}/{x}/{y}")
    t0 = time.perf_counter()
    nbytes = sum(len(r[1]) for r in map(server.respond, paths) if r)
    dt = time.perf_counter() - t0
    return {"file": path.name, "kind": i.kind, "requests": n,
            "tiles_per_s": round(n / dt), "mean_kib": round(nbytes / n / 1024, 1)}


def bench_payload() -> dict:
    rng = random.Random(1)
    cands = [Candidate(r + 1, 0.9 - 0.01 * r, f"/g/photo_{r}.jpg", 55.70 + rng.gauss(0, 0.002),
                       13.19 + rng.gauss(0, 0.003), heading=rng.uniform(0, 360),
                       place_id=f"p{r}") for r in range(20)]
    est = estimate_location(cands, sigma_km=0.05)
    geocode.gazetteer()
    t0 = time.perf_counter()
    reps = 20
    for _ in range(reps):
        text = json.dumps(map_payload(cands, est, selected=1))
    dt = (time.perf_counter() - t0) / reps
    t0 = time.perf_counter()
    for _ in range(reps):
        json.dumps(map_payload(cands, est, selected=1, place_names=lambda pts: [""] * len(pts)))
    dt_nonames = (time.perf_counter() - t0) / reps
    return {"candidates": 20, "payload_ms": round(dt * 1000, 1),
            "payload_without_names_ms": round(dt_nonames * 1000, 1),
            "payload_kib": round(len(text) / 1024, 1)}


def bench_gazetteer() -> dict:
    src = geocode._source_json()
    cache = Path(tempfile.mkdtemp(prefix="gm-geonames-")) / "cities.names"
    t0 = time.perf_counter()
    g = geocode.load_gazetteer(src, cache)
    cold = time.perf_counter() - t0
    t0 = time.perf_counter()
    geocode.load_gazetteer(src, cache)
    warm = time.perf_counter() - t0
    t0 = time.perf_counter()
    for i in range(200):
        g.nearest(55.0 + i * 0.01, 13.0)
    near_ms = (time.perf_counter() - t0) / 200 * 1000
    t0 = time.perf_counter()
    for q in ("Lund", "Helsinki", "Arezzo", "Malmo", "Berlin"):
        g.search(q)
    search_ms = (time.perf_counter() - t0) / 5 * 1000
    return {"places": len(g), "first_build_s": round(cold, 2), "cached_load_s": round(warm, 2),
            "nearest_ms": round(near_ms, 2), "search_ms": round(search_ms, 1),
            "cache_mib": round(cache.stat().st_size / 2**20, 1)}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--json", type=Path, default=REPO / "benchmarks" / "results" /
                   "map_tiles.json")
    args = p.parse_args(argv)
    out: dict = {"note": "2-core CPU shared by several engineers while measured"}
    world = world_basemap()
    if world is not None:
        out["first_view"] = bench_first_view(world)
        out["world_mbtiles"] = bench_throughput(world, "world")
    out["streets_pmtiles"] = bench_throughput(streets_demo(), "streets")
    out["payload"] = bench_payload()
    out["gazetteer"] = bench_gazetteer()
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(out, indent=2) + "\n")
    print(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
