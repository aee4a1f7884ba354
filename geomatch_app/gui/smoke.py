"""Smoke test of an installed app or desktop bundle: open the window the way ``geomatch demo``
does, wait until the first demo query is ranked, print the timings as JSON, exit 0.

It runs in a throw-away GEOMATCH_HOME and settings file, so it never touches the user's data,
and exits 1 (with the window's messages) if nothing is ranked within the time limit.
``scripts/build-app`` runs it in the built bundle (``geomatch --smoke-test``) and
``tests/e2e/test_wheel.py`` in a fresh virtualenv (``python -m geomatch_app.gui.smoke``).
Set GEOMATCH_LAUNCH_T (seconds since the epoch, taken just before starting the process) to
get the start-up time including interpreter start and imports.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time

T0 = time.time()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="geomatch --smoke-test", description=__doc__.split("\n")[0])
    p.add_argument("--timeout", type=float, default=300, help="seconds to wait for a ranking")
    p.add_argument("--home", help="data folder to use and keep (a second run with the same "
                   "folder measures a start with the demo index already built)")
    args = p.parse_args(argv)
    launch = float(os.environ.get("GEOMATCH_LAUNCH_T") or T0)
    home = args.home or tempfile.mkdtemp(prefix="geomatch-smoke-")
    os.makedirs(home, exist_ok=True)
    os.environ["GEOMATCH_HOME"] = home

    from PySide6.QtCore import QSettings, QTimer

    from geomatch_app.app import demo
    from geomatch_app.core import paths
    from geomatch_app.gui.app import ensure_app, prepare_demo
    from geomatch_app.gui.main_window import MainWindow

    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, home)
    app = ensure_app()
    win = MainWindow(db_path=str(demo.demo_db_path()))  # what `geomatch demo` opens
    win.show()
    app.processEvents()
    out: dict = {"window_s": round(time.time() - launch, 2),
                 "resources": str(paths.resources_dir())}

    def ranked(path: str) -> None:
        if "ranked_s" in out:
            return
        out["ranked_s"] = round(time.time() - launch, 2)
        out["query"] = path
        result = win.session.result_for(path)
        cands = list(result.candidates) if result is not None else []
        out["candidates"] = len(cands)
        if cands:
            out["top"] = cands[0].path
        app.quit()

    def give_up() -> None:
        out["error"] = f"no demo query ranked within {args.timeout:.0f} s"
        out["messages"] = win.messages.messages()
        app.quit()

    def failed(exc: BaseException) -> None:
        out["error"] = f"preparing the demo failed: {exc!r}"
        app.quit()

    job = prepare_demo(win)
    job.signals.error.connect(failed)
    win.query_ranked.connect(ranked)
    QTimer.singleShot(int(args.timeout * 1000), give_up)
    app.exec()
    # the same teardown as the GUI tests: jobs finished, then the window (and its web page)
    # deleted while the QApplication and the web profile still exist
    from PySide6.QtCore import QThreadPool
    from PySide6.QtTest import QTest

    pool = QThreadPool.globalInstance()
    deadline = time.monotonic() + 120  # a forward pass cannot be interrupted
    while time.monotonic() < deadline:  # a finished job may queue the next photo's ranking
        win.jobs.cancel_all()
        pool.waitForDone(1000)
        QTest.qWait(100)
        if pool.activeThreadCount() == 0 and not win.jobs.workers:
            break
    win.close()
    win.deleteLater()
    QTest.qWait(50)
    print(json.dumps(out), flush=True)
    if not args.home:
        shutil.rmtree(home, ignore_errors=True)
    return 0 if "error" not in out and out.get("candidates", 0) > 0 else 1


if __name__ == "__main__":
    sys.exit(main())
