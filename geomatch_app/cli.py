"""The ``geomatch`` command: one subcommand per module in :mod:`geomatch_app.commands`.

Each command module exposes ``add_parsers(subparsers)`` (or ``add_parser``) and sets
``func`` on its parsers. Modules are imported here, but they import torch lazily, so
``geomatch --help`` is quick.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from geomatch_app import __version__
from geomatch_app.core.errors import GeomatchError
from geomatch_app.core.logs import setup_logging
from geomatch_app.core.progress import Cancelled

# module name → the subcommands it provides (used for a clear message if a module is absent)
COMMAND_MODULES = {
    "index": ["index"],
    "query": ["query"],
    "eval": ["eval"],
    "models": ["models"],
    "train": ["train"],
    "curate": ["confirm", "undo"],
    "export": ["export"],
    "db": ["db"],
    "gui": ["gui", "demo"],
    "doctor": ["doctor"],
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="geomatch",
        description="Find where a photo was taken by ranking a geotagged gallery.")
    parser.add_argument("--version", action="version", version=f"geomatch {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0,
                        help="more log output (-vv for debug)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module, names in COMMAND_MODULES.items():
        try:
            mod = importlib.import_module(f"geomatch_app.commands.{module}")
        except ModuleNotFoundError as exc:
            if exc.name != f"geomatch_app.commands.{module}":
                raise
            for name in names:
                p = sub.add_parser(name, help="(not available in this build)")
                p.set_defaults(func=_unavailable(name))
            continue
        register = getattr(mod, "add_parsers", None) or mod.add_parser
        register(sub)
    return parser


def _unavailable(name: str):
    def run(args: argparse.Namespace) -> int:
        print(f"geomatch {name}: not available in this build yet", file=sys.stderr)
        return 2

    return run


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    # the terminal, and the log file users attach to bug reports (core/logs.py)
    setup_logging(args.verbose, command=sys.argv[1:] if argv is None else argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    try:
        return int(args.func(args) or 0)
    except GeomatchError as exc:
        print(f"geomatch: error: {exc}", file=sys.stderr)
        return 1
    except Cancelled:
        print("geomatch: cancelled", file=sys.stderr)
        return 130
    except KeyboardInterrupt:
        print("\ngeomatch: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
