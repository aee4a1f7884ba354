"""``geomatch gui`` opens the desktop app; ``geomatch demo`` opens it on the embedded demo
gallery with a demo query already ranked (the README run command).

The Qt side is loaded with importlib only when a window is really opened: commands stay
importable without PySide6 (``cli -> everything but gui``), and ``geomatch demo --no-gui`` (or
no display) prints the suggestions in the terminal instead.
"""

from __future__ import annotations

import argparse
import csv
import functools
import importlib
import os
import sys
from pathlib import Path

from geomatch_app.commands import args as a
from geomatch_app.core.paths import demo_manifest, user_data_dir
from geomatch_app.core.progress import Progress, terminal_progress


def add_parser(sub) -> None:
    g = sub.add_parser("gui", help="open the desktop app",
                       description="Open the desktop app, optionally on an index and database.")
    g.add_argument("photos", nargs="*", help="query photos or folders to queue")
    g.add_argument("--index", help="index folder (default: the last one used)")
    g.add_argument("--db", help="curation database (default: the last one used)")
    g.set_defaults(func=run_gui)
    d = sub.add_parser("demo", help="open the app on the embedded demo gallery",
                       description="Build the demo index if needed and open the app with a demo "
                       "query ranked. Without a display (or with --no-gui) print the "
                       "suggestions for a demo query instead.")
    d.add_argument("--no-gui", action="store_true", help="print suggestions, open no window")
    d.add_argument("--db", help="curation database (default: demo.sqlite in the data folder)")
    d.add_argument("-k", type=a.positive_int, default=10, help="candidates to print with --no-gui")
    d.set_defaults(func=run_demo)


# ---------------------------------------------------------------------- demo data (no Qt)
def demo_index_dir() -> Path:
    return user_data_dir() / "demo-index"


def demo_rows(split: str) -> list[dict]:
    manifest = demo_manifest()
    with manifest.open(newline="", encoding="utf-8") as fh:
        rows = [r for r in csv.DictReader(fh) if r.get("split", "").strip() == split]
    for r in rows:
        r["path"] = str((manifest.parent / r["path"]).resolve())
    return rows


def demo_queries() -> list[str]:
    return [r["path"] for r in demo_rows("query")]


def demo_index_is_current(index_dir: Path | None = None) -> bool:
    """True when the demo index exists and holds exactly the demo gallery files, unchanged."""
    import json

    index_dir = index_dir or demo_index_dir()
    try:
        records = json.loads((index_dir / "photos.json").read_text())
        if not (index_dir / "index.faiss").is_file():
            return False
    except (OSError, ValueError):
        return False
    want = {r["path"] for r in demo_rows("gallery")}
    have = {r["path"]: (r.get("size"), r.get("mtime_ns")) for r in records}
    if set(have) != want:
        return False
    for path, key in have.items():
        try:
            st = os.stat(path)
        except OSError:
            return False
        if key != (st.st_size, st.st_mtime_ns):
            return False
    return True


def ensure_demo_index(progress: Progress | None = None, workers: int | None = None) -> str:
    """Build (or update) the demo index when missing or stale; returns its folder.

    The GUI passes ``workers=0`` (no decoding processes forked from a threaded Qt process)."""
    index_dir = demo_index_dir()
    if not demo_index_is_current(index_dir):
        from geomatch_app.index import build_index

        build_index(demo_manifest(), index_dir, progress=progress, workers=workers)
    return str(index_dir)


# ---------------------------------------------------------------------- commands
def display_available() -> bool:
    """Whether a window can be opened (Qt aborts the process if it cannot reach a display)."""
    if os.environ.get("QT_QPA_PLATFORM", "").split(":")[0] in ("offscreen", "minimal", "vnc"):
        return True
    if sys.platform.startswith("linux"):
        return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
    return True


def _qt_available() -> bool:
    try:
        importlib.import_module("PySide6.QtWebEngineWidgets")
    except ImportError:
        return False
    return True


def run_gui(args: argparse.Namespace) -> int:
    if not display_available():
        print("geomatch gui: no display found (DISPLAY / WAYLAND_DISPLAY unset); run it on a "
              "desktop, or use `geomatch query` in the terminal", file=sys.stderr)
        return 2
    app = importlib.import_module("geomatch_app.gui.app")
    photos = _expand(args.photos)
    return app.run_gui(index_dir=args.index, db_path=args.db, photos=photos)


def run_demo(args: argparse.Namespace) -> int:
    db = args.db or str(user_data_dir() / "demo.sqlite")
    if args.no_gui or not display_available() or not _qt_available():
        if not args.no_gui:
            print("geomatch demo: no display available, printing the suggestions instead",
                  file=sys.stderr)
        return print_demo(args.k)
    app = importlib.import_module("geomatch_app.gui.app")
    prepare = functools.partial(ensure_demo_index, workers=0)
    return app.run_gui(db_path=db, photos=demo_queries(), prepare=prepare,
                       prepare_title="Preparing the demo gallery (first run only)…")


def print_demo(k: int = 10) -> int:
    from geomatch_app.commands.query import format_table
    from geomatch_app.index import Index

    index_dir = ensure_demo_index(terminal_progress("indexing the demo gallery"))
    idx = Index.open(index_dir)
    query = demo_rows("query")[0]
    cands = idx.search_paths([query["path"]], k=k)[0]
    print(f"demo query: {query['path']}")
    print(f"true place: {query['place_id']} ({query['lat']}, {query['lon']})")
    try:
        from geomatch_app.geo.kde import estimate_location, with_distances

        est = estimate_location(cands)
        if est is not None:
            cands = with_distances(cands, est)
    except ImportError:
        est = None
    print(format_table(cands))
    if est is not None:
        print(f"estimate: {est.lat:.6f}, {est.lon:.6f}  ±{est.radius_m:.0f} m  "
              f"confidence {est.confidence:.2f}")
    return 0


def _expand(items: list[str]) -> list[str]:
    from geomatch_app.data.images import IMAGE_SUFFIXES

    out = []
    for item in items:
        p = Path(item)
        if p.is_dir():
            out += [str(f.resolve()) for f in sorted(p.rglob("*"))
                    if f.suffix.lower() in IMAGE_SUFFIXES]
        else:
            out.append(str(p.resolve()))
    return out
