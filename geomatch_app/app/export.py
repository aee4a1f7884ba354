"""Labelled sets out of the store: the same export from `geomatch export` and the window."""

from __future__ import annotations

from pathlib import Path

from geomatch_app.core.progress import Progress
from geomatch_app.store import Store
from geomatch_app.store.export import FORMATS, ExportReport
from geomatch_app.store.export import export as _export

__all__ = ["FORMATS", "ExportReport", "export", "export_db"]


def export(store: Store, out_dir: str | Path, fmt: str, *, force: bool = False,
           curator: str | None = None, progress: Progress | None = None) -> ExportReport:
    """Write the current confirmations of ``store`` to ``out_dir`` as ``fmt``."""
    return _export(store, out_dir, fmt, force=force, curator=curator, progress=progress)


def export_db(db_path: str | Path, out_dir: str | Path, fmt: str, **kw) -> ExportReport:
    """Open an existing database (never creating one) and export it."""
    with Store(db_path, create=False) as store:
        return export(store, out_dir, fmt, **kw)
