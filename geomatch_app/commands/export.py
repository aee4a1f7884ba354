"""``geomatch export --db DB --out DIR --format pairs|manifest|geojson|gmberton``: confirmed
locations as labelled test sets, training pairs, GIS points or a VPR research test set."""

from __future__ import annotations

import argparse

from geomatch_app.commands import args as a


def add_parser(sub) -> None:
    p = sub.add_parser("export", help="export confirmed locations",
                       description="pairs: query/ + reference/ images with pairs.csv "
                       "(AmsterTime style); manifest: manifest.csv + images, readable by "
                       "`geomatch index` and `geomatch eval`; geojson: confirmed points; gmberton: "
                       "images/test/{database,queries} named @UTM_east@UTM_north@…@.jpg, as "
                       "VPR-datasets-downloader writes and VPR-methods-evaluation reads.")
    p.add_argument("--db", required=True, help="curation database")
    p.add_argument("--out", required=True, type=a.non_empty,
                   help="folder to write (must be new or empty)")
    p.add_argument("--format", required=True, choices=["pairs", "manifest", "geojson", "gmberton"])
    p.add_argument("--curator", default=None, help="only this curator's confirmations")
    p.add_argument("--force", action="store_true", help="write into a non-empty folder")
    p.add_argument("--require-review", action="store_true",
                   help="only confirmations a second curator accepted (and nobody disputes)")
    p.add_argument("--no-negatives", dest="negatives", action="store_false",
                   help="leave out labels.csv (rejected candidates, none of these, provenance)")
    p.add_argument("--no-place-names", dest="place_names", action="store_false",
                   help="leave the place_name columns empty (skips reading the offline "
                   "GeoNames table)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from geomatch_app.app.export import export_db, offline_place_name
    from geomatch_app.core.progress import terminal_progress

    report = export_db(args.db, args.out, args.format, force=args.force, curator=args.curator,
                       progress=terminal_progress("exporting"),
                       require_review=args.require_review, negatives=args.negatives,
                       place_name=offline_place_name() if args.place_names else None)
    print(report.summary())
    for path, reason in report.skipped:
        print(f"  skipped {path}: {reason}")
    return 0
