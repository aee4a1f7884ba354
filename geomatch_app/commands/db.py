"""``geomatch db init|check|backup``: create, verify and copy a curation database."""

from __future__ import annotations

import argparse
import sys


def add_parser(sub) -> None:
    p = sub.add_parser("db", help="create, check or back up a curation database",
                       description="Manage the SQLite file that holds queries, suggestions and "
                       "the curators' decisions.")
    dsub = p.add_subparsers(dest="db_command", metavar="ACTION", required=True)
    init = dsub.add_parser("init", help="create a database (or migrate an older one)")
    _db_argument(init)
    check = dsub.add_parser("check", help="integrity and orphan checks; non-zero exit on problems")
    _db_argument(check)
    backup = dsub.add_parser("backup", help="consistent copy with SQLite's backup API")
    _db_argument(backup)
    backup.add_argument("out", help="backup file to write")
    backup.add_argument("--force", action="store_true", help="overwrite OUT if it exists")
    p.set_defaults(func=run)


def _db_argument(p: argparse.ArgumentParser) -> None:
    """``db ACTION DB`` or ``db ACTION --db DB`` (as every other command spells it)."""
    p.add_argument("db", nargs="?", help="database file")
    p.add_argument("--db", dest="db_opt", metavar="DB", help="database file (same as DB)")


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from geomatch_app.core.errors import GeomatchError

    if args.db and args.db_opt and args.db != args.db_opt:
        raise GeomatchError(f"two databases given ({args.db} and --db {args.db_opt})",
                            hint="give one")
    args.db = args.db or args.db_opt
    if not args.db:
        raise GeomatchError(f"`geomatch db {args.db_command}` needs a database",
                            hint="give its file: geomatch db ACTION DB (or --db DB)")

    from geomatch_app.store import SCHEMA_VERSION, Store
    from geomatch_app.store.check import check_database
    from geomatch_app.store.errors import StoreError

    if args.db_command == "init":
        existed = Path(args.db).exists()
        with Store(args.db) as store:
            version = store.schema_version
        verb = "opened" if existed else "created"
        print(f"{verb} {args.db} (schema {version})")
        return 0
    if args.db_command == "check":
        report = check_database(args.db)
        for problem in report.problems:
            print(f"problem: {problem}", file=sys.stderr)
        if report.ok:
            counts = ", ".join(f"{n} {t}" for t, n in report.counts.items())
            note = "" if report.schema_version == SCHEMA_VERSION else (
                f" (schema {report.schema_version}; opening it will migrate to {SCHEMA_VERSION})")
            print(f"{args.db}: ok — {counts}{note}")
            return 0
        print(f"{args.db}: {len(report.problems)} problem(s)", file=sys.stderr)
        return 1
    if args.db_command == "backup":
        out = Path(args.out)
        if out.exists() and not args.force:
            raise StoreError("exists", out, "choose another name or pass --force")
        if not Path(args.db).exists():
            raise StoreError("does not exist", args.db, "give the path of a geomatch database")
        if out.exists():
            out.unlink()
        with Store(args.db, create=False) as store:
            store.backup(out)
        print(f"backed up {args.db} to {out}")
        return 0
    return 2
