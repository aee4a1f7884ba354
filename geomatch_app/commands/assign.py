"""``geomatch assign --db DB --to NAME PHOTO...``: give query photos to a curator to decide
(the queue's batch "Assign to…"); ``--to ''`` takes them back. One undoable action
(``geomatch undo`` reverts the whole batch). Photos not yet in the database are added."""

from __future__ import annotations

import argparse


def add_parser(sub) -> None:
    p = sub.add_parser("assign", help="assign query photos to a curator",
                       description="Assign query photos (files or folders) to a curator; the "
                       "queue's curator filter shows 'assigned to me'. --to '' unassigns.")
    p.add_argument("photos", nargs="+", help="query photos or folders of them")
    p.add_argument("--db", required=True, help="curation database")
    p.add_argument("--to", required=True, metavar="NAME", help="curator ('' = nobody)")
    p.add_argument("--curator", default="", help="who assigns (kept in the log)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from geomatch_app.app import curation
    from geomatch_app.core.errors import GeomatchError
    from geomatch_app.data.files import expand_paths
    from geomatch_app.store import Store

    for item in args.photos:
        if not Path(item).exists():
            raise GeomatchError("does not exist", item, "give query photos or folders of them")
    paths = expand_paths(args.photos)
    with Store(args.db) as store:
        changed = curation.assign(store, paths, args.to, curator=args.curator)
    who = args.to.strip()
    print(f"{changed} of {len(paths)} photos {'assigned to ' + who if who else 'unassigned'}")
    return 0
