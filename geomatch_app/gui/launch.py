"""``geomatch gui`` and ``geomatch demo``: which project the window opens.

- ``geomatch gui`` (what ``./scripts/run`` starts) reopens the last project the curator used
  (``app.recent``), or the embedded demo the first time; ``--index`` / ``--db`` choose another.
- ``geomatch demo`` opens the demo project (which then is the last project);
  ``--no-gui`` (or no display) prints the suggestions for a demo query instead.

Importing this module does not import Qt: ``geomatch --help`` stays fast, and the terminal
path needs no display.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from geomatch_app.app import recent
from geomatch_app.app.system_check import qt_problem
from geomatch_app.core.paths import user_data_dir
from geomatch_app.data.files import expand_paths


def add_parsers(sub) -> None:
    g = sub.add_parser("gui", help="open the desktop app on the last project",
                       description="Open the desktop app on the project used last (the demo "
                       "the first time), or on the index and database given.")
    g.add_argument("photos", nargs="*", help="query photos or folders to queue")
    g.add_argument("--index", help="index folder (default: the last project's)")
    g.add_argument("--db", help="curation database (default: the last project's)")
    g.set_defaults(func=run_gui)
    d = sub.add_parser("demo", help="open the app on the embedded demo gallery",
                       description="Build the demo index if needed and open the demo project "
                       "with its queries ranked. Without a display (or with --no-gui) print "
                       "the suggestions for a demo query instead.")
    d.add_argument("--no-gui", action="store_true", help="print suggestions, open no window")
    d.add_argument("-k", type=int, default=10, help="candidates to print with --no-gui")
    d.set_defaults(func=run_demo)


def display_available() -> bool:
    """Whether a window can be opened (Qt aborts the process if it cannot reach a display)."""
    if os.environ.get("QT_QPA_PLATFORM", "").split(":")[0] in ("offscreen", "minimal", "vnc"):
        return True
    if sys.platform.startswith("linux"):
        return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
    return True


def choose_project(index: str | None, db: str | None) -> recent.ProjectRef | None:
    """The project ``geomatch gui`` opens: the one named, else the last one, else None (the
    demo). A database named alone keeps the index it was last used with, and vice versa."""
    known = recent.recent_projects()
    if not index and not db:
        return known[0] if known else None
    db_abs = str(Path(db).resolve()) if db else ""
    index_abs = str(Path(index).resolve()) if index else ""
    if not index_abs:
        index_abs = next((p.index for p in known if p.db == db_abs), "")
    if not db_abs:
        db_abs = next((p.db for p in known if p.index == index_abs),
                      str(user_data_dir() / "geomatch.sqlite"))
    return recent.ProjectRef(db_abs, index_abs)


def run_gui(args: argparse.Namespace) -> int:
    if not display_available():
        print("geomatch gui: no display found (DISPLAY / WAYLAND_DISPLAY unset); run it on a "
              "desktop, or use `geomatch query` in the terminal", file=sys.stderr)
        return 2
    if problem := qt_problem():  # Qt would abort the process naming a plugin, not a package
        print(problem, file=sys.stderr)
        return 3
    from geomatch_app.gui.app import run_gui as run

    return run(choose_project(args.index, args.db), expand_paths(args.photos))


def run_demo(args: argparse.Namespace) -> int:
    if args.no_gui or not display_available():
        if not args.no_gui:
            print("geomatch demo: no display available, printing the suggestions instead",
                  file=sys.stderr)
        return print_demo(args.k)
    if problem := qt_problem():
        print(problem, file=sys.stderr)
        return 3
    from geomatch_app.gui.app import run_gui as run

    return run(None)


def print_demo(k: int = 10) -> int:
    """The terminal demo: the same ranking the window shows for the first demo query."""
    from geomatch_app.app import demo
    from geomatch_app.app.ranking import format_result, rank
    from geomatch_app.core.progress import terminal_progress

    project = demo.open_demo(terminal_progress("indexing the demo gallery"))
    try:
        query = demo.demo_rows("query")[0]
        result = rank(project, query["path"], k=k)
    finally:
        project.close()
    print(f"demo query: {query['path']}")
    print(f"true place: {query['place_id']} ({query['lat']}, {query['lon']})")
    print(format_result(result))
    return 0
