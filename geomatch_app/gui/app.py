"""Start the desktop app: QApplication, the main window on a project — the last one the curator
used, or the embedded demo the first time — and its queue ranked in the background.

QtWebEngine is imported and the map's URL scheme registered before the QApplication exists
(Qt requires both). Two things keep the event loop from stalling while the window starts
(measured by benchmarks/bench_startup.py, docs/performance.md):

- torch, ONNX Runtime, faiss and OpenCV are imported by a preload thread started first thing
  (index/preload.py), torch's shared libraries dlopened by a call that releases the GIL
  (``import torch`` itself holds it ~230 ms at a stretch). ``GEOMATCH_PRELOAD=join``
  (default): a splash screen shows at once and the window, built meanwhile, once the preload
  is done — shown earlier, beside the import, its event loop stalled 110–150 ms at a time
  (the import's many ~50 ms GIL holds), and its first ranking came ~0.6 s later; ``1``: the
  window shows without waiting; ``0``: no preload, the first job imports torch.
- the cyclic garbage collector is paused until the first ranking, then the start-up's objects
  are frozen (:func:`hold_gc`): one full collection of them held the GIL ~150–250 ms.

gui/pyside_scan.py, imported right after PySide6, also stops PySide6 from reading the source
of every module imported after it (torch alone is ~750 modules).
"""

from __future__ import annotations

import gc
import importlib
import logging
import os
import sys
import time
from typing import TYPE_CHECKING

import PySide6.QtWebEngineWidgets  # noqa: F401 - must precede QApplication
from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QApplication, QProgressDialog, QSplashScreen

import geomatch_app.gui.pyside_scan  # noqa: F401 - before the imports below (see there)
from geomatch_app.gui.mapscheme import register_scheme
from geomatch_app.gui.settings import APP, ORG

if TYPE_CHECKING:  # imported by run_gui once the splash shows (the window's modules: ~1 s)
    from geomatch_app.app.recent import ProjectRef
    from geomatch_app.gui.main_window import MainWindow
    from geomatch_app.gui.worker import Worker

log = logging.getLogger(__name__)


def preload_llvm_users() -> None:
    """Load triton's LLVM before Qt loads Mesa's.

    With Mesa software OpenGL (llvmpipe: VMs, Xvfb, many laptops without GPU drivers) Qt loads
    Mesa's libLLVM for the map view; importing torch later (torchvision.ops pulls in triton,
    which bundles its own LLVM) then segfaults. Importing triton first (0.3 s, unlike torch's
    5 s) avoids the clash and keeps the window fast to appear.
    """
    try:
        importlib.import_module("triton")
    except Exception:  # noqa: BLE001 - absent (CPU-only torch, macOS): nothing to preload
        pass


def webengine_env() -> None:
    """QtWebEngine's settings, before it starts: no GPU compositing, and, as root, no
    Chromium sandbox. Chromium refuses to start as root with its sandbox (the map's page
    would never load and the window would exit), so root gets QTWEBENGINE_DISABLE_SANDBOX
    unless the flags already say --no-sandbox."""
    os.environ.setdefault("QTWEBENGINE_CHROMIUM_FLAGS", "--disable-gpu")
    root = getattr(os, "geteuid", lambda: 1)() == 0
    if root and "--no-sandbox" not in os.environ["QTWEBENGINE_CHROMIUM_FLAGS"] \
            and "QTWEBENGINE_DISABLE_SANDBOX" not in os.environ:
        os.environ["QTWEBENGINE_DISABLE_SANDBOX"] = "1"
        log.warning("running as root: the map's web view runs without Chromium's sandbox")


def ensure_app(argv: list[str] | None = None) -> QApplication:
    webengine_env()
    # torch (imported later, by jobs) must not spin-wait its OpenMP threads: beside Qt's and
    # QtWebEngine's threads on a busy 2-core machine, spinning made the first demo ranking
    # 98 s instead of 18 s (packaging/README.md). Read once, when torch loads libgomp.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    app = QApplication.instance()
    if app is None:
        register_scheme()  # the map's geomatch:// scheme: only before the QApplication
        preload_llvm_users()
        app = QApplication(argv or [sys.argv[0]])
        app.setOrganizationName(ORG)
        app.setApplicationName(APP)
        app.setApplicationDisplayName("geomatch")
    return app  # type: ignore[return-value]


def prepare_demo(win: MainWindow) -> Worker:
    """Open the demo project: build its index first when missing or stale (a progress dialog
    with Cancel says what happens), then queue the demo queries."""
    from geomatch_app.app import demo
    from geomatch_app.gui.worker import Worker

    title = ("Preparing the demo gallery (built once, then reused)…"
             if not demo.demo_index_is_current() else "Opening the demo gallery…")
    dlg = QProgressDialog(title, "Cancel", 0, 0, win)
    dlg.setWindowTitle("geomatch")
    dlg.setWindowModality(Qt.WindowModality.NonModal)
    dlg.setMinimumDuration(300)
    win.open_store(str(demo.demo_db_path()))
    w = Worker(demo.ensure_demo_index, workers=0, label=title)

    def on_progress(done: int, total: int, msg: str) -> None:
        dlg.setMaximum(max(total, 1))
        dlg.setValue(min(done, max(total, 1) - 1) if done < total else done)
        dlg.setLabelText(f"{title}\n{msg}")

    w.signals.progress.connect(on_progress)
    dlg.canceled.connect(w.cancel)
    w.signals.finished.connect(dlg.reset)
    w.signals.result.connect(lambda index_dir: win.open_index(str(index_dir)))
    w.signals.error.connect(win.messages.error)
    w.signals.cancelled.connect(lambda: win.messages.info("Preparation cancelled."))
    win.add_photos(demo.demo_queries())
    win.jobs.start(w)
    return w


PRELOAD_MODES = ("background", "join", "off")


def preload_mode() -> str:
    """``GEOMATCH_PRELOAD``: ``join`` (the default), ``1``/``background`` or ``0``/``off``."""
    raw = os.environ.get("GEOMATCH_PRELOAD", "join").strip().lower()
    mode = {"1": "background", "0": "off", "": "join"}.get(raw, raw)
    if mode not in PRELOAD_MODES:
        log.warning("GEOMATCH_PRELOAD=%r is not one of join, 1, 0; using join", raw)
        return "join"
    return mode


def start_preload(mode: str | None = None):
    """The preload thread, or None when ``mode`` (default: :func:`preload_mode`) is off."""
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before torch loads libgomp
    if (mode or preload_mode()) == "off":
        return None
    from geomatch_app.index.preload import preload_in_background

    return preload_in_background()


SPLASH_TEXT = "Loading the place-recognition runtime (torch, ONNX Runtime, faiss, OpenCV)…"


def show_splash(mode: str | None = None) -> QSplashScreen | None:
    """In ``join`` mode, a splash screen painted at once, while the preload runs."""
    if (mode or preload_mode()) != "join":
        return None
    from PySide6.QtGui import QColor, QFont, QPainter, QPixmap

    pix = QPixmap(560, 180)
    pix.fill(QColor("#1f3b4d"))
    painter = QPainter(pix)
    painter.setPen(QColor("white"))
    font = QFont()
    font.setPointSize(26)
    font.setBold(True)
    painter.setFont(font)
    painter.drawText(28, 70, "geomatch")
    font.setPointSize(11)
    font.setBold(False)
    painter.setFont(font)
    painter.drawText(30, 100, "Where was this photo taken?")
    painter.end()
    splash = QSplashScreen(pix)
    splash.showMessage(SPLASH_TEXT, Qt.AlignmentFlag.AlignBottom | Qt.AlignmentFlag.AlignLeft,
                       QColor("white"))
    splash.show()
    QApplication.processEvents()
    return splash


def show_when_loaded(win: MainWindow, loader, mode: str | None = None,
                     splash: QSplashScreen | None = None) -> None:
    """Show the window; in ``join`` mode (default: :func:`preload_mode`) only once ``loader``
    has finished, repainting ``splash`` meanwhile."""
    if loader is not None and (mode or preload_mode()) == "join":
        deadline = time.monotonic() + JOIN_MAX_S
        while loader.is_alive() and time.monotonic() < deadline:
            QApplication.processEvents()
            loader.join(SPLASH_POLL_S)
        if loader.is_alive():  # never stuck behind the splash: the jobs import what they need
            log.warning("the libraries are still loading after %.0f s; showing the window",
                        JOIN_MAX_S)
    win.show()
    if splash is not None:
        splash.finish(win)


SPLASH_POLL_S = 0.05
JOIN_MAX_S = 60.0  # the window shows by then even if the preload has not finished


GC_HOLD_MAX_MS = 60_000  # collection resumes by then even if nothing gets ranked


def hold_gc() -> None:
    """Pause the cyclic garbage collector for the start-up; :func:`release_gc` resumes it.

    Why: the start-up imports (Qt, torch, faiss, ONNX Runtime, OpenCV, the model) leave ~260k
    long-lived objects, and one full collection of them holds the GIL ~150 ms on the 2-core
    machine (~250 ms while the window starts) — measured by benchmarks/bench_startup.py as the
    longest event-loop stall of a warm launch, on whichever thread's allocation triggered it.
    Reference counting still frees everything that is not in a cycle meanwhile."""
    gc.disable()


def release_gc(*_args) -> None:
    """Resume collection after the start-up: the objects alive now (modules, classes, the
    model) move to the permanent generation (``gc.freeze``), so later collections skip them.
    The few reference cycles that became garbage during the start-up stay allocated."""
    if not gc.isenabled():
        gc.freeze()
        gc.enable()


def run_gui(project: ProjectRef | None = None, photos: list[str] | None = None) -> int:
    """The window on ``project``, or on the demo project when None."""
    hold_gc()
    # a first ONNX export runs in a child process: in-process it froze the event loop
    # 0.4–1.2 s (index/engines.py, _export_in_child); the name is spelled out to keep torch
    # unimported
    os.environ.setdefault("GEOMATCH_EXPORT_PROCESS", "1")
    mode = preload_mode()
    loader = start_preload(mode)
    app = ensure_app()
    splash = show_splash(mode)
    from geomatch_app.app import demo
    from geomatch_app.gui.main_window import MainWindow
    from geomatch_app.gui.mapwidget import NAMES_GATE

    NAMES_GATE.clear()  # opened by the first ranking (below) or after NAMES_GATE_MAX_S
    if project is None:
        win = MainWindow(db_path=str(demo.demo_db_path()))
        show_when_loaded(win, loader, mode, splash)
        prepare_demo(win)
    else:
        win = MainWindow(db_path=project.db, index_dir=project.index or None)
        show_when_loaded(win, loader, mode, splash)
    if photos:
        win.add_photos(photos)
    # The first ranking has imported and built everything a query needs: collect garbage
    # again, and let the map load its place names.
    win.query_ranked.connect(release_gc, Qt.ConnectionType.SingleShotConnection)
    win.query_ranked.connect(lambda *_: NAMES_GATE.set(),
                             Qt.ConnectionType.SingleShotConnection)
    QTimer.singleShot(GC_HOLD_MAX_MS, release_gc)
    return app.exec()
