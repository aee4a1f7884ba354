"""Start the desktop app: QApplication, the main window, optional preparation work (building
the demo index) in the Worker with a progress dialog, then queries queued and ranked.

QtWebEngine is imported and the map's URL scheme registered before the QApplication exists
(Qt requires both);
torch is imported only by the Worker, so the window appears at once.
"""

from __future__ import annotations

import importlib
import logging
import os
import sys
from collections.abc import Callable

import PySide6.QtWebEngineWidgets  # noqa: F401 - must precede QApplication
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QProgressDialog

from geomatch_app.core.progress import Progress
from geomatch_app.gui.main_window import MainWindow
from geomatch_app.gui.mapscheme import register_scheme
from geomatch_app.gui.settings import APP, ORG
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


def ensure_app(argv: list[str] | None = None) -> QApplication:
    os.environ.setdefault("QTWEBENGINE_CHROMIUM_FLAGS", "--disable-gpu")
    app = QApplication.instance()
    if app is None:
        register_scheme()  # the map's geomatch:// scheme: only before the QApplication
        preload_llvm_users()
        app = QApplication(argv or [sys.argv[0]])
        app.setOrganizationName(ORG)
        app.setApplicationName(APP)
        app.setApplicationDisplayName("geomatch")
    return app  # type: ignore[return-value]


def prepare_then_open(win: MainWindow, prepare: Callable[..., str], title: str,
                      photos: list[str]) -> Worker:
    """Run ``prepare(progress=...) -> index_dir`` in the Worker behind a progress dialog with
    Cancel, then open that index and queue ``photos`` (ranked as soon as the index is open)."""
    dlg = QProgressDialog(title, "Cancel", 0, 0, win)
    dlg.setWindowTitle("geomatch")
    dlg.setWindowModality(Qt.WindowModality.NonModal)
    dlg.setMinimumDuration(300)
    w = Worker(prepare, label=title)

    def on_progress(done: int, total: int, msg: str) -> None:
        dlg.setMaximum(max(total, 1))
        dlg.setValue(min(done, max(total, 1) - 1) if done < total else done)
        dlg.setLabelText(f"{title}\n{msg}")

    w.signals.progress.connect(on_progress)
    dlg.canceled.connect(w.cancel)
    w.signals.finished.connect(dlg.reset)
    w.signals.result.connect(lambda index_dir: win.open_index(index_dir))
    w.signals.error.connect(win.messages.error)
    w.signals.cancelled.connect(lambda: win.messages.info("Preparation cancelled."))
    if photos:
        win.add_photos(photos)
    win.jobs.start(w)
    return w


def run_gui(index_dir: str | None = None, db_path: str | None = None,
            photos: list[str] | None = None,
            prepare: Callable[[Progress], str] | None = None,
            prepare_title: str = "Preparing…") -> int:
    app = ensure_app()
    win = MainWindow(index_dir=None if prepare else index_dir, db_path=db_path,
                     remember_paths=prepare is None)
    win.show()
    if prepare is not None:
        prepare_then_open(win, prepare, prepare_title, photos or [])
    elif index_dir is None:
        win.reopen_last_index()
    if prepare is None and photos:
        win.add_photos(photos)
    return app.exec()
