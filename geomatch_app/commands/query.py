"""``geomatch query PHOTO --index DIR``: rank the gallery for one photo, estimate its location."""

from __future__ import annotations

import argparse
import json


def add_parser(sub) -> None:
    p = sub.add_parser("query", help="rank gallery photos for a query photo")
    p.add_argument("photo", help="the query photo")
    p.add_argument("--index", required=True, help="index folder (see `geomatch index`)")
    p.add_argument("-k", type=int, default=20, help="number of candidates (default 20)")
    p.add_argument("--device", default="auto")
    p.add_argument("--engine", choices=("auto", "torch", "onnx"), default=None,
                   help="descriptor engine: auto (ONNX Runtime on the CPU when installed, else "
                   "torch), torch or onnx; default: $GEOMATCH_ENGINE or auto. Same descriptors, "
                   "so an index may be built with one and queried with the other")
    p.add_argument("--sigma-km", type=float, default=None,
                   help="KDE bandwidth in km for the location estimate")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from geomatch_app.index import Index

    idx = Index.open(args.index, device=args.device)
    cands = idx.search_paths([args.photo], k=args.k)[0]
    estimate = _estimate(cands, args.sigma_km)
    if args.json:
        out = {"query": args.photo, "model": idx.model_name,
               "candidates": [c.to_json() for c in cands],
               "estimate": estimate.to_json() if estimate else None}
        print(json.dumps(out, indent=1))
        return 0
    print(format_table(cands))
    if estimate:
        print(f"estimate: {estimate.lat:.6f}, {estimate.lon:.6f}  ±{estimate.radius_m:.0f} m  "
              f"confidence {estimate.confidence:.2f}")
    return 0


def _estimate(cands, sigma_km):
    from geomatch_app.geo.kde import estimate_location

    kw = {} if sigma_km is None else {"sigma_km": sigma_km}
    return estimate_location(cands, **kw)


def format_table(cands) -> str:
    lines = [f"{'rank':>4}  {'score':>6}  {'lat':>10}  {'lon':>11}  path"]
    for c in cands:
        lat = f"{c.lat:.6f}" if c.lat is not None else "-"
        lon = f"{c.lon:.6f}" if c.lon is not None else "-"
        lines.append(f"{c.rank:>4}  {c.score:6.3f}  {lat:>10}  {lon:>11}  {c.path}")
    return "\n".join(lines)
