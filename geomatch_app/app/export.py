"""Labelled sets out of the store: the same export from `geomatch export` and the window."""

from __future__ import annotations

from pathlib import Path

from geomatch_app.core.progress import Progress
from geomatch_app.store import Store
from geomatch_app.store.export import FORMATS as STORE_FORMATS
from geomatch_app.store.export import ExportError, ExportReport
from geomatch_app.store.export import export as _export

__all__ = ["FORMATS", "ExportReport", "export", "export_db"]

FORMATS = (*STORE_FORMATS, "gmberton")


def export(store: Store, out_dir: str | Path, fmt: str, *, force: bool = False,
           curator: str | None = None, progress: Progress | None = None) -> ExportReport:
    """Write the current confirmations of ``store`` to ``out_dir`` as ``fmt``."""
    if fmt == "gmberton":
        return export_gmberton(store, out_dir, force=force, curator=curator, progress=progress)
    return _export(store, out_dir, fmt, force=force, curator=curator, progress=progress)


def export_gmberton(store: Store, out_dir: str | Path, *, force: bool = False,
                    curator: str | None = None,
                    progress: Progress | None = None) -> ExportReport:
    """The confirmed set in the gmberton layout (data.gmberton): each query named by its
    confirmed location, each gallery photo it was matched to by its own location."""
    from geomatch_app.data.gmberton import Located, write_set

    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise ExportError("is not a folder", out, "give a folder to export into")
    if out.is_dir() and any(out.iterdir()) and not force:
        raise ExportError("is not empty", out, "choose a new folder, or pass --force to "
                          "overwrite files there")
    out.mkdir(parents=True, exist_ok=True)
    report = ExportReport(out, "gmberton")
    queries, database, seen = [], [], set()
    items = store.confirmed(curator=curator)
    for i, (q, d) in enumerate(items):
        if progress is not None:
            progress.step(i, len(items), "exporting")
        if d.lat is None or d.lon is None:
            report.skipped.append((q.path, "confirmed without a location"))
            continue
        if not Path(q.path).is_file():
            report.skipped.append((q.path, "file not found"))
            continue
        queries.append(Located(q.path, d.lat, d.lon, d.heading))
        ref = d.candidate_path
        if ref and ref not in seen and Path(ref).is_file():
            image = store.find_image(ref)
            has = image is not None and image.lat is not None and image.lon is not None
            database.append(Located(ref, image.lat if has else d.lat,
                                    image.lon if has else d.lon,
                                    image.heading if image is not None else None))
            seen.add(ref)
    report.files = write_set(out, queries, database)
    report.written = len(queries)
    return report


def export_db(db_path: str | Path, out_dir: str | Path, fmt: str, **kw) -> ExportReport:
    """Open an existing database (never creating one) and export it."""
    with Store(db_path, create=False) as store:
        return export(store, out_dir, fmt, **kw)
