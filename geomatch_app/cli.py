"""The ``geomatch`` command: one subcommand per module in :mod:`geomatch_app.commands`, plus
``gui`` / ``demo`` from :mod:`geomatch_app.gui.launch`. Each module exposes ``add_parser`` (or
``add_parsers``) and sets ``func``; the modules import torch and Qt lazily, so
``geomatch --help`` is quick.
"""

from __future__ import annotations

import argparse
import importlib.util
import logging
import sys

from geomatch_app import __version__
from geomatch_app.commands import curate, db, eval, export, index, models, query, train
from geomatch_app.core.errors import GeomatchError
from geomatch_app.core.progress import Cancelled
from geomatch_app.gui import launch

COMMANDS = (index, query, eval, models, train, curate, export, db, launch)

# import name → distribution to install, checked at start-up (cheap: no module is imported)
REQUIRED = {"numpy": "numpy", "PIL": "Pillow", "sqlite_utils": "sqlite-utils",
            "faiss": "faiss-cpu", "torch": "torch", "torchvision": "torchvision",
            "safetensors": "safetensors", "folium": "folium"}
GUI_REQUIRED = {"PySide6": "PySide6", "pyqtgraph": "pyqtgraph"}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="geomatch",
        description="Find where a photo was taken by ranking a geotagged gallery.")
    parser.add_argument("--version", action="version", version=f"geomatch {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0,
                        help="more log output (-vv for debug)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for mod in COMMANDS:
        (getattr(mod, "add_parsers", None) or mod.add_parser)(sub)
    return parser


def missing_packages(command: str | None) -> list[str]:
    """Distributions that are not installed but the command needs (named, so the message can
    say what to install instead of failing deep inside with an ImportError)."""
    need = dict(REQUIRED)
    if command in ("gui", "demo"):
        need.update(GUI_REQUIRED)
    return [dist for mod, dist in need.items() if importlib.util.find_spec(mod) is None]


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    level = [logging.WARNING, logging.INFO, logging.DEBUG][min(args.verbose, 2)]
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    missing = missing_packages(args.command)
    if missing:
        print(f"geomatch: error: missing package(s) {', '.join(missing)} — run ./scripts/run "
              f"to set up, or `pip install {' '.join(missing)}`", file=sys.stderr)
        return 1
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
