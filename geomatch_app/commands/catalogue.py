"""``geomatch catalogue --db DB FILE``: an archive catalogue (CSV or IIIF manifest) becomes
query photos with their title, archive id, date, place and known coordinates."""

from __future__ import annotations

import argparse


def add_parser(sub) -> None:
    p = sub.add_parser("catalogue", help="import an archive catalogue (CSV or IIIF manifest)",
                       description="Registers each record's photo as a query with the "
                       "catalogue's fields (file, title, archive_id, date or date_from/"
                       "date_to, place, lat/lon). Paths are relative to the catalogue.")
    p.add_argument("catalogue", help="catalogue .csv or IIIF manifest .json")
    p.add_argument("--db", required=True, help="curation database (created if new)")
    p.add_argument("--curator", default="", help="who imported it (kept in the log)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from geomatch_app.app.catalogue import import_catalogue
    from geomatch_app.core.progress import terminal_progress
    from geomatch_app.store import Store

    with Store(args.db) as store:
        report = import_catalogue(store, args.catalogue, curator=args.curator,
                                  progress=terminal_progress("importing"))
    print(report.summary())
    for where, reason in report.skipped:
        print(f"  skipped {where}: {reason}")
    return 0
