"""File → Import catalogue: an archive's CSV or IIIF manifest becomes queue photos with their
catalogue fields (``app.catalogue``), imported in a job; what was skipped, and why, is said."""

from __future__ import annotations

from PySide6.QtWidgets import QFileDialog

from geomatch_app.gui.worker import Worker


def import_catalogue_dialog(win) -> None:
    path, _ = QFileDialog.getOpenFileName(
        win, "Import an archive catalogue", "",
        "Catalogue (*.csv *.json);;CSV (*.csv);;IIIF manifest (*.json);;All files (*)")
    if path:
        start_import(win, path)


def start_import(win, path: str) -> Worker | None:
    """Import ``path`` into the open database, then queue its photos."""
    from geomatch_app.app.catalogue import import_catalogue

    if win.store is None:
        return None
    w = Worker(import_catalogue, win.store, path, curator=win.settings.curator,
               label="Importing catalogue")
    w.signals.result.connect(lambda report: _done(win, report))
    w.signals.error.connect(win._error)
    return win.jobs.start(w)


def _done(win, report) -> None:
    from geomatch_app.gui import decide_flow

    new = win.add_photos(report.paths)
    decide_flow.refresh(win, report.paths)  # photos already queued get their fields too
    if report.paths and not new:
        win.queue.select_path(report.paths[0])
    win._refresh_history()
    win.statusBar().showMessage(report.summary(), 8000)
    if report.skipped:
        shown = "; ".join(f"{w}: {r}" for w, r in report.skipped[:5])
        more = f" (and {len(report.skipped) - 5} more)" if len(report.skipped) > 5 else ""
        win._error(f"{report.source}: {len(report.skipped)} records skipped — {shown}{more}")
