"""``geomatch confirm`` / ``geomatch undo`` / ``geomatch redo`` / ``geomatch history``:
curation from scripts, through the same Store the GUI uses."""

from __future__ import annotations

import argparse

from geomatch_app.commands import args as a


def add_parsers(sub) -> None:
    p = sub.add_parser("confirm", help="record where a query photo was taken",
                       description="Confirm a query photo's location as a gallery candidate "
                       "or a map point. The photo is added to the database if it is new.")
    p.add_argument("--db", required=True, help="curation database")
    p.add_argument("--query", required=True, type=a.non_empty, help="the query photo")
    where = p.add_mutually_exclusive_group(required=True)
    where.add_argument("--candidate", type=a.non_empty, help="the matching gallery photo")
    where.add_argument("--lat", type=a.latitude, help="latitude of a map point (WGS84)")
    p.add_argument("--lon", type=a.longitude, help="longitude of the map point")
    p.add_argument("--heading", type=a.heading, help="camera direction, degrees from north")
    p.add_argument("--precision-m", type=a.non_negative_float, default=None, metavar="M",
                   help="radius in metres the curator vouches for (map point)")
    p.add_argument("--placed", choices=["camera", "subject"], default="camera",
                   help="whether the map point is the camera position or the subject shown")
    p.add_argument("--status", default="confirmed",
                   choices=["confirmed", "rejected", "skipped", "unsure"])
    p.add_argument("--curator", default="", help="who decided")
    p.add_argument("--model", default=None, help="model whose suggestion this was")
    p.add_argument("--note", default="")
    p.set_defaults(func=run_confirm)

    u = sub.add_parser("undo", help="undo the last curation action")
    u.add_argument("--db", required=True)
    u.add_argument("--curator", default=None, help="undo only this curator's last action")
    u.set_defaults(func=run_undo)

    r = sub.add_parser("redo", help="redo the last undone curation action")
    r.add_argument("--db", required=True)
    r.add_argument("--curator", default=None)
    r.set_defaults(func=run_redo)

    h = sub.add_parser("history", help="how a query photo's location was decided")
    h.add_argument("--db", required=True)
    h.add_argument("--query", required=True, help="the query photo")
    h.set_defaults(func=run_history)


def run_confirm(args: argparse.Namespace) -> int:
    from geomatch_app.app import curation
    from geomatch_app.app.session import CandidatePick, ManualPick
    from geomatch_app.store import Store
    from geomatch_app.store.errors import StoreError

    if args.lat is not None and args.lon is None:
        raise StoreError("--lat needs --lon", hint="give both, e.g. --lat 52.37 --lon 4.89")
    pick = None
    if args.candidate is not None:
        pick = CandidatePick(None, args.candidate)
    elif args.lat is not None:
        try:
            pick = ManualPick(args.lat, args.lon, args.heading, args.precision_m, args.placed)
        except ValueError as exc:
            raise StoreError(str(exc), hint="--lat is -90..90, --lon -180..180") from None
    with Store(args.db) as store:
        did = curation.decide(store, args.query, args.status, pick, curator=args.curator,
                              note=args.note, model=args.model)
        decision = store.decision(did)
        print(f"decision {did}: {store.history(decision.query_id)[-1].text}")
    return 0


def run_undo(args: argparse.Namespace) -> int:
    from geomatch_app.store import Store

    with Store(args.db, create=False) as store:
        text = store.undo(curator=args.curator)
    print(f"undone: {text}" if text else "nothing to undo")
    return 0 if text else 1


def run_redo(args: argparse.Namespace) -> int:
    from geomatch_app.store import Store

    with Store(args.db, create=False) as store:
        text = store.redo(curator=args.curator)
    print(f"redone: {text}" if text else "nothing to redo")
    return 0 if text else 1


def run_history(args: argparse.Namespace) -> int:
    from geomatch_app.store import Store
    from geomatch_app.store.errors import NotFoundError

    with Store(args.db, create=False) as store:
        q = store.find_query(args.query)
        if q is None:
            raise NotFoundError("is not in the database", args.query, "confirm it first")
        for entry in store.history(q.id):
            print(entry)
        print(f"agreement: {store.agreement(q.id).summary}")
    return 0


add_parser = add_parsers
