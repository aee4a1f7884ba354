"""``geomatch doctor``: can the window open here (the Qt library check of
:mod:`geomatch_app.app.system_check`), and where this install keeps its resources, data, cache
and log file, so a bug report can include them."""

from __future__ import annotations

import argparse
import sys

from geomatch_app.app.system_check import qt_problem


# ---------------------------------------------------------------------- command
def add_parser(sub) -> None:
    p = sub.add_parser("doctor", help="check that the app can start here; show its folders",
                       description="Check the system libraries Qt needs (Linux) and list where "
                       "geomatch keeps its resources, data, cache and logs.")
    p.add_argument("--qt", action="store_true",
                   help="only the Qt library check: print the fix and exit 3 if it fails")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    problem = qt_problem()
    if args.qt:
        if problem:
            print(problem, file=sys.stderr)
            return 3
        return 0
    from geomatch_app import __version__
    from geomatch_app.core import paths

    basemap = paths.basemap_file()
    rows = [
        ("version", __version__),
        ("resources", str(paths.resources_dir())),
        ("basemap", str(basemap) if basemap else "none installed (map without tiles)"),
        ("data", str(paths.user_data_dir())),
        ("config", str(paths.user_config_dir())),
        ("cache", str(paths.user_cache_dir())),
        ("logs", str(paths.user_log_dir())),
        ("Qt libraries", "ok" if not problem else "missing (see below)"),
    ]
    for key, value in rows:
        print(f"{key:>13}: {value}")
    if problem:
        print(problem)
        return 3
    return 0
