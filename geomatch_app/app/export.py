"""Labelled sets out of the store: the same export from `geomatch export` and the window.

Every format (pairs, manifest, GeoJSON, and whatever store.export adds) is written by
``store.export``; on top of it this writes ``labels.csv``: one row per label the curators gave —
the confirmations written by the format (positives), every rejected candidate (a hard negative:
"this gallery photo is not the place") and every "none of these" (the place is not in the
gallery: an open-set negative) — with provenance (curator, the curator the photo was assigned
to, reviewer and verdict, model, rank, p_match, when). The query photos of "none of these"
are copied into ``none/`` so the set can be used without the archive. ``labels.csv`` is
written atomically like the rest.

The manifest format is what ``geomatch eval --queries manifest.csv`` reads back: the export is a
labelled cross-domain test set (archive queries against the gallery they were matched to).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePath

from geomatch_app.core.progress import Progress
from geomatch_app.store import Store
from geomatch_app.store.atomic import FolderWrite
from geomatch_app.store.export import FORMATS as STORE_FORMATS
from geomatch_app.store.export import ExportError, ExportReport, safe_name
from geomatch_app.store.export import export as _export
from geomatch_app.store.records import DecisionRecord, QueryRecord

__all__ = ["FORMATS", "LABEL_COLUMNS", "ExportPreview", "ExportReport", "export", "export_db",
           "offline_place_name", "preview"]

LABEL_COLUMNS = [
    "label", "query", "file", "candidate", "lat", "lon", "place_name", "heading", "precision_m",
    "placed",
    "curator", "assigned_to", "reviewer", "review", "review_note", "model", "rank", "p_match",
    "decided_at",
    "note", "title", "archive_id", "date_text", "date_from", "date_to", "place_text",
]
LABELS = {"confirmed": "match", "rejected": "not this candidate", "none": "none of these"}


@dataclass(frozen=True)
class ExportPreview:
    """What an export with these options would write (the dialog shows it before writing)."""

    confirmed: int  # confirmations in force
    included: int  # ... that the export writes (all, or the reviewed ones)
    map_points: int  # included confirmations placed by hand (no reference photo for pairs)
    unreviewed: int  # confirmations left out because nobody accepted them (require_review)
    rejected_candidates: int
    none_of_these: int

    def text(self, negatives: bool = True) -> str:
        line = f"{self.included} confirmations"
        if self.map_points:
            line += f" ({self.map_points} map points)"
        if self.unreviewed:
            line += f"; {self.unreviewed} not yet accepted by a reviewer are left out"
        if negatives:
            line += (f"; negatives: {self.rejected_candidates} rejected candidates, "
                     f"{self.none_of_these} none of these")
        return line


def preview(store: Store, *, curator: str | None = None,
            require_review: bool = False) -> ExportPreview:
    every = store.confirmed(curator=curator)
    included = store.confirmed(curator=curator, reviewed=True) if require_review else every
    negs = store.negatives(curator=curator)
    return ExportPreview(
        confirmed=len(every), included=len(included),
        map_points=sum(d.is_point for _, d in included),
        unreviewed=len(every) - len(included),
        rejected_candidates=sum(d.status == "rejected" for _, d in negs),
        none_of_these=sum(d.status == "none" for _, d in negs))


def offline_place_name() -> Callable[[float | None, float | None], str]:
    """``place_name(lat, lon)`` from the offline GeoNames gazetteer ("Lund, SE"); its table is
    read on the first call (a second or so; built once per installation)."""
    from geomatch_app.geo.geocode import place_name

    return place_name

FORMATS = (*STORE_FORMATS, "gmberton")


def export(store: Store, out_dir: str | Path, fmt: str, *, force: bool = False,
           curator: str | None = None, progress: Progress | None = None,
           require_review: bool = False, negatives: bool = True,
           place_name: Callable[[float | None, float | None], str] | None = None
           ) -> ExportReport:
    """Write the current confirmations of ``store`` to ``out_dir`` as ``fmt``, and
    ``labels.csv`` with the negatives (unless ``negatives=False``); ``place_name`` (e.g.
    :func:`offline_place_name`) names the places in every file that has coordinates."""
    if fmt == "gmberton":  # the research layout: no labels.csv, names carry the labels
        return export_gmberton(store, out_dir, force=force, curator=curator, progress=progress,
                               require_review=require_review)
    report = _export(store, out_dir, fmt, force=force, curator=curator, progress=progress,
                     require_review=require_review, place_name=place_name)
    if negatives:
        positives = store.confirmed(curator=curator, reviewed=require_review)
        negs = store.negatives(curator=curator)
        report.files += _write_labels(store, Path(report.out_dir), positives, negs, progress,
                                      place_name)
    return report


def export_gmberton(store: Store, out_dir: str | Path, *, force: bool = False,
                    curator: str | None = None, progress: Progress | None = None,
                    require_review: bool = False) -> ExportReport:
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
    items = store.confirmed(curator=curator, reviewed=require_review)
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


def _write_labels(store: Store, out: Path,
                  positives: list[tuple[QueryRecord, DecisionRecord]],
                  negatives: list[tuple[QueryRecord, DecisionRecord]],
                  progress: Progress | None, place_name=None) -> list[Path]:
    plan = FolderWrite(out)
    rows = []
    for q, d in positives + negatives:
        file = ""
        if d.status == "none" and Path(q.path).is_file():
            file = f"none/{len(rows) + 1:05d}_{safe_name(PurePath(q.path).name, 60)}"
            plan.copy(file, q.path)
        row = _label_row(store, q, d, file)
        if place_name is not None and d.lat is not None:
            row["place_name"] = place_name(d.lat, d.lon)
        rows.append(row)
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=LABEL_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: "" if v is None else v for k, v in row.items()})
    plan.text("labels.csv", buf.getvalue())
    return plan.commit(progress)


def _label_row(store: Store, q: QueryRecord, d: DecisionRecord, file: str) -> dict:
    reviews = [r for r in store.reviews(d.id)]
    last = reviews[-1] if reviews else None
    return {
        "label": LABELS.get(d.status, d.status), "query": q.path, "file": file,
        "candidate": d.candidate_path, "lat": d.lat, "lon": d.lon, "heading": d.heading,
        "precision_m": d.precision_m, "placed": d.placed, "curator": d.curator,
        "assigned_to": q.assigned_to,
        "reviewer": last.reviewer if last else "", "review": last.verdict if last else "",
        "review_note": last.note if last else "", "model": d.model_name, "rank": d.rank,
        "p_match": d.p_match, "decided_at": d.created_at, "note": d.note, "title": q.title,
        "archive_id": q.archive_id, "date_text": q.date_text, "date_from": q.date_from,
        "date_to": q.date_to, "place_text": q.place_text,
    }
