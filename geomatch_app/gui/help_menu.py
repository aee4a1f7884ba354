"""The Help menu: open the log folder (to attach geomatch.log to a bug report), open the data
folder, and an About box that says which version runs and where it keeps its files."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QUrl
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import QMainWindow, QMessageBox

from geomatch_app.core import paths
from geomatch_app.core.logs import log_file


def open_folder(folder: Path) -> bool:
    """Show ``folder`` in the desktop's file manager (created first if needed)."""
    folder.mkdir(parents=True, exist_ok=True)
    return QDesktopServices.openUrl(QUrl.fromLocalFile(str(folder)))


def about_text() -> str:
    from geomatch_app import __version__

    rows = [("Log file", log_file()), ("Data", paths.user_data_dir()),
            ("Cache", paths.user_cache_dir()), ("Resources", paths.resources_dir())]
    table = "".join(f"<tr><td><b>{k}</b></td><td>{v}</td></tr>" for k, v in rows)
    return (f"<h3>geomatch {__version__}</h3><p>Find where a photo was taken by ranking a "
            f"geotagged gallery. Runs offline.</p><table>{table}</table>"
            "<p>Map data © OpenStreetMap contributors (ODbL). Leaflet © its authors "
            "(BSD-2-Clause).</p>")


def add_help_menu(win: QMainWindow, add_action) -> None:
    """Append Help to the window's menu bar; ``add_action(win, menu, text, slot)`` adds items."""
    menu = win.menuBar().addMenu("&Help")
    win.open_log_action = add_action(win, menu, "Open &log folder",
                                     lambda: open_folder(paths.user_log_dir()))
    add_action(win, menu, "Open &data folder", lambda: open_folder(paths.user_data_dir()))
    menu.addSeparator()
    add_action(win, menu, "&About geomatch",
               lambda: QMessageBox.about(win, "About geomatch", about_text()))
