"""``geomatch query PHOTO --index DIR``: rank the gallery for one photo, estimate its location
(``app.ranking.rank``, the same call the window makes). With ``--db`` the run is recorded in
the curation database — or re-used from it when this model and index ranked the photo before."""

from __future__ import annotations

import argparse
import json

from geomatch_app.app.ranking import DEFAULT_K, format_result
from geomatch_app.commands import args as a


def add_parser(sub) -> None:
    p = sub.add_parser("query", help="rank gallery photos for a query photo")
    p.add_argument("photo", help="the query photo")
    p.add_argument("--index", required=True, help="index folder (see `geomatch index`)")
    p.add_argument("--db", help="curation database: record the ranking (or re-use a stored one)")
    p.add_argument("-k", type=a.positive_int, default=DEFAULT_K, help=f"number of candidates "
                   f"(default {DEFAULT_K})")
    p.add_argument("--device", default="auto", type=a.device)
    p.add_argument("--engine", choices=("auto", "torch", "onnx"), default=None,
                   help="descriptor engine: auto (ONNX Runtime on the CPU when installed, else "
                   "torch), torch or onnx; default: $GEOMATCH_ENGINE or auto. Same descriptors, "
                   "so an index may be built with one and queried with the other")
    p.add_argument("--sigma-km", type=a.positive_float, default=None,
                   help="KDE bandwidth in km for the location estimate (default 0.05)")
    p.add_argument("--no-verify", action="store_true",
                   help="skip geometric verification of the top 5 (p_match from descriptors "
                   "only; faster)")
    p.add_argument("--place", default=None, metavar="TEXT",
                   help="free-text place that narrows the ranking (e.g. 'Helsinki, Finland'); "
                   "default: the photo's catalogue place in --db")
    p.add_argument("--no-prior", action="store_true",
                   help="do not narrow the ranking by the place (catalogue or --place)")
    p.add_argument("--sequence", choices=("auto", "on", "off"), default="auto",
                   help="rank a frame of a recording (a folder of numbered frames, e.g. "
                   "frame_0012.jpg) together with up to 40 frames either side when the gallery "
                   "is an image sequence too: auto (default) when the model's calibration has a "
                   "sequence fit, on, or off (the photo alone). JSON: 'sequence_frames'")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table "
                   "(with a 'prior' field: the region used, or why none)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from geomatch_app.app.project import open_project
    from geomatch_app.app.ranking import rank
    from geomatch_app.index.engines import set_default_engine

    set_default_engine(args.engine)  # None: GEOMATCH_ENGINE or auto
    project = open_project(args.db, args.index, device=args.device, remember=False)
    try:
        result = rank(project, args.photo, k=args.k, sigma_km=args.sigma_km,
                      verify=False if args.no_verify else None, place=args.place,
                      use_prior=not args.no_prior,
                      sequence={"auto": None, "on": True, "off": False}[args.sequence])
    finally:
        project.close()
    print(json.dumps(result.to_json(), indent=1) if args.json else format_result(result))
    return 0
