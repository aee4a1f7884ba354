"""Screenshots for the README: the main window on a ranked demo query, the side-by-side view and
the street-level map with a hand placement.

``python -m geomatch_app.gui.screenshot OUT_DIR`` (scripts/screenshot runs it under Xvfb). Uses a
throw-away curation database so the user's own decisions never show up in the pictures.
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import time
from pathlib import Path

log = logging.getLogger(__name__)


def _wait(app, cond, timeout_s: float) -> bool:
    from PySide6.QtTest import QTest

    t0 = time.monotonic()
    while not cond():
        if time.monotonic() - t0 > timeout_s:
            return False
        QTest.qWait(50)
    return True


def _settle(app, seconds: float) -> None:
    _wait(app, lambda: False, seconds)


def take(out_dir: Path, size: tuple[int, int] = (1500, 900)) -> list[Path]:
    from geomatch_app.app import demo
    from geomatch_app.gui.app import ensure_app
    from geomatch_app.gui.main_window import MainWindow
    from geomatch_app.gui.settings import Settings

    app = ensure_app()
    out_dir.mkdir(parents=True, exist_ok=True)
    db = Path(tempfile.mkdtemp(prefix="geomatch-shot-")) / "demo.sqlite"
    win = MainWindow(settings=Settings(k=12, curator="demo"), db_path=str(db))
    win.resize(*size)
    win.show()
    index_dir = demo.ensure_demo_index(workers=0)
    win.open_index(str(index_dir))
    if not _wait(app, lambda: win.index is not None, 120):
        raise RuntimeError(f"index did not open: {win.messages.messages()}")
    queries = demo.demo_queries()
    win.add_photos(queries)
    first = queries[0]
    if not _wait(app, lambda: win.session.result_for(first) is not None, 120):
        raise RuntimeError(f"demo query was not ranked: {win.messages.messages()}")
    _wait(app, lambda: all(win.session.result_for(q) for q in queries), 120)
    _wait(app, lambda: win.map.ready, 30)
    _wait(app, lambda: not win.jobs.workers, 60)
    _settle(app, 3.0)  # tiles and thumbnails
    shots = []
    path = out_dir / "main-window.png"
    win.grab().save(str(path))
    shots.append(path)

    win.select_candidate(1)
    _wait(app, lambda: not win.jobs.workers, 60)
    _settle(app, 2.0)
    path = out_dir / "side-by-side.png"
    win.grab().save(str(path))
    shots.append(path)

    # street level: the shipped Helsinki demo basemap, a camera placed by hand with its
    # direction (what a click and a drag of the handle do), found with the place search
    win.inspect_panel.setCurrentIndex(0)
    win.map.search_place("60.1703, 24.9415")
    _settle(app, 1.0)
    win.map._on_map_clicked(60.16985, 24.94385, 17)  # a click at zoom 17
    win.map.set_heading(305)
    _settle(app, 4.0)  # vector tiles are drawn on canvas after they arrive
    path = out_dir / "street-map.png"
    win.grab().save(str(path))
    shots.append(path)
    path = out_dir / "street-map-panel.png"
    win.map.grab().save(str(path))
    shots.append(path)
    win.close()
    return shots


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("out_dir", nargs="?", default="docs/screenshots")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO)
    for shot in take(Path(args.out_dir)):
        print(shot)
    return 0


if __name__ == "__main__":
    sys.exit(main())
