"""Confirmed locations flow out as labelled test sets and training pairs.

Three formats, one rule set:
- ``pairs``: ``query/`` + ``reference/`` images with the same file name, and ``pairs.csv``
  (AmsterTime style: archive photo next to the gallery photo it was matched to).
- ``manifest``: the ``path,place_id,lat,lon,domain,split`` format of ../shared/data, with the
  images copied beside it, so ``geomatch index`` / ``geomatch eval`` and training read it back.
- ``geojson``: confirmed locations (with headings) for any GIS.

Export never writes outside its folder: every output name is built from a sanitised stem and
checked to resolve inside the folder (a title or file name like ``../../x`` cannot escape, nor
can a symlink planted in the folder). It never overwrites without ``force``.
"""

from __future__ import annotations

import csv
import json
import logging
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path, PurePath

from geomatch_app.core.progress import Progress
from geomatch_app.store.errors import ExportError
from geomatch_app.store.records import DecisionRecord, QueryRecord
from geomatch_app.store.store import Store

log = logging.getLogger(__name__)

FORMATS = ("pairs", "manifest", "geojson")
MANIFEST_COLUMNS = ["path", "place_id", "lat", "lon", "domain", "split"]
PAIRS_COLUMNS = [
    "pair", "query", "reference", "lat", "lon", "heading", "curator", "model", "rank",
    "decided_at", "title", "archive_id", "date_from", "date_to", "query_source",
    "reference_source",
]
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass
class ExportReport:
    out_dir: Path
    format: str
    written: int = 0  # confirmations exported
    files: list[Path] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (query path, reason)

    def summary(self) -> str:
        text = f"exported {self.written} confirmations as {self.format} to {self.out_dir}"
        if self.skipped:
            text += f" ({len(self.skipped)} skipped)"
        return text


def safe_name(name: str, max_len: int = 80) -> str:
    """A file name that is only letters, digits, ``._-``, never hidden, never empty, never a
    path: ``../../etc/passwd`` -> ``passwd``; ``..`` -> ``file``."""
    base = PurePath(str(name).replace("\\", "/")).name
    base = _UNSAFE.sub("_", base).lstrip(".")
    base = base[:max_len].strip("_")
    return base or "file"


def safe_join(root: Path, *parts: str) -> Path:
    """``root / parts`` after sanitising each part; refuses a result outside ``root``."""
    target = root.joinpath(*[safe_name(p) for p in parts])
    resolved_root = root.resolve()
    resolved = target.resolve()
    if not resolved.is_relative_to(resolved_root):
        raise ExportError(f"would write outside the export folder ({resolved})", root,
                          "choose an empty folder without links")
    return target


def export(
    store: Store, out_dir: str | Path, fmt: str, *, force: bool = False,
    curator: str | None = None, progress: Progress | None = None,
) -> ExportReport:
    """Write the current confirmations of ``store`` to ``out_dir`` in ``fmt``."""
    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {FORMATS}, not {fmt!r}")
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise ExportError("is not a folder", out, "give a folder to export into")
    if out.is_dir() and any(out.iterdir()) and not force:
        raise ExportError("is not empty", out, "choose a new folder, or pass --force to "
                          "overwrite files there")
    out.mkdir(parents=True, exist_ok=True)
    items = store.confirmed(curator=curator)
    report = ExportReport(out, fmt)
    writer = {"pairs": _pairs, "manifest": _manifest, "geojson": _geojson}[fmt]
    writer(store, out, items, report, progress)
    log.info(report.summary())
    return report


def _copy(src: str, dest: Path, report: ExportReport) -> None:
    if dest.is_symlink():
        raise ExportError("is a link; refusing to write through it", dest)
    shutil.copyfile(src, dest)
    report.files.append(dest)


def _step(progress: Progress | None, i: int, n: int) -> None:
    if progress is not None:
        progress.step(i, n, "exporting")


def _pairs(store: Store, out: Path, items: list[tuple[QueryRecord, DecisionRecord]],
           report: ExportReport, progress: Progress | None) -> None:
    rows = []
    for i, (q, d) in enumerate(items, start=1):
        _step(progress, i - 1, len(items))
        if not d.candidate_path:
            report.skipped.append((q.path, "confirmed as a map point: no reference image"))
            continue
        missing = [p for p in (q.path, d.candidate_path) if not Path(p).is_file()]
        if missing:
            report.skipped.append((q.path, f"file not found: {missing[0]}"))
            continue
        stem = f"{i:05d}_{safe_name(PurePath(q.path).stem, 60)}"
        qdest = safe_join(out, "query", stem + PurePath(q.path).suffix.lower())
        rdest = safe_join(out, "reference", stem + PurePath(d.candidate_path).suffix.lower())
        qdest.parent.mkdir(exist_ok=True)
        rdest.parent.mkdir(exist_ok=True)
        _copy(q.path, qdest, report)
        _copy(d.candidate_path, rdest, report)
        rows.append({
            "pair": stem, "query": f"query/{qdest.name}", "reference": f"reference/{rdest.name}",
            "lat": d.lat, "lon": d.lon, "heading": d.heading, "curator": d.curator,
            "model": d.model_name, "rank": d.rank, "decided_at": d.created_at, "title": q.title,
            "archive_id": q.archive_id, "date_from": q.date_from, "date_to": q.date_to,
            "query_source": q.path, "reference_source": d.candidate_path,
        })
    _write_csv(safe_join(out, "pairs.csv"), PAIRS_COLUMNS, rows, report)
    report.written = len(rows)
    _step(progress, len(items), len(items))


def _manifest(store: Store, out: Path, items: list[tuple[QueryRecord, DecisionRecord]],
              report: ExportReport, progress: Progress | None) -> None:
    """Query rows (split=query) and the gallery images they were matched to (split=gallery),
    sharing a place_id: the gallery image's own place_id when it has one."""
    rows: list[dict] = []
    refs: dict[str, tuple[str, str]] = {}  # candidate path -> (manifest path, place_id)
    for i, (q, d) in enumerate(items, start=1):
        _step(progress, i - 1, len(items))
        if not Path(q.path).is_file():
            report.skipped.append((q.path, "file not found"))
            continue
        place_id = f"query{q.id}"
        if d.candidate_path:
            if d.candidate_path not in refs:
                if not Path(d.candidate_path).is_file():
                    report.skipped.append((q.path, f"file not found: {d.candidate_path}"))
                    continue
                image = (store.image(d.image_id) if d.image_id is not None
                         else store.find_image(d.candidate_path))
                ref_place = (image.place_id if image and image.place_id else f"query{q.id}")
                name = f"{len(refs) + 1:05d}_{safe_name(PurePath(d.candidate_path).name, 60)}"
                dest = safe_join(out, "gallery", name)
                dest.parent.mkdir(exist_ok=True)
                _copy(d.candidate_path, dest, report)
                refs[d.candidate_path] = (f"gallery/{dest.name}", ref_place)
                rows.append({"path": f"gallery/{dest.name}", "place_id": ref_place,
                             "lat": _num(image.lat if image else d.lat),
                             "lon": _num(image.lon if image else d.lon),
                             "domain": "reference", "split": "gallery"})
            place_id = refs[d.candidate_path][1]
        dest = safe_join(out, "query", f"{i:05d}_{safe_name(PurePath(q.path).name, 60)}")
        dest.parent.mkdir(exist_ok=True)
        _copy(q.path, dest, report)
        rows.append({"path": f"query/{dest.name}", "place_id": place_id, "lat": _num(d.lat),
                     "lon": _num(d.lon), "domain": "archive", "split": "query"})
        report.written += 1
    _write_csv(safe_join(out, "manifest.csv"), MANIFEST_COLUMNS, rows, report)
    _step(progress, len(items), len(items))


def _geojson(store: Store, out: Path, items: list[tuple[QueryRecord, DecisionRecord]],
             report: ExportReport, progress: Progress | None) -> None:
    features = []
    for i, (q, d) in enumerate(items):
        _step(progress, i, len(items))
        if d.lat is None or d.lon is None:
            report.skipped.append((q.path, "confirmed candidate has no location"))
            continue
        features.append({
            "type": "Feature",
            "geometry": {"type": "Point", "coordinates": [d.lon, d.lat]},
            "properties": {
                "query": q.path, "title": q.title, "archive_id": q.archive_id,
                "date": q.date_text, "date_from": q.date_from, "date_to": q.date_to,
                "heading": d.heading, "candidate": d.candidate_path, "curator": d.curator,
                "model": d.model_name, "rank": d.rank, "decided_at": d.created_at,
                "note": d.note, "kind": "map point" if d.is_point else "gallery candidate",
            },
        })
    dest = safe_join(out, "confirmed.geojson")
    if dest.is_symlink():
        raise ExportError("is a link; refusing to write through it", dest)
    dest.write_text(json.dumps({"type": "FeatureCollection", "features": features}, indent=1),
                    encoding="utf-8")
    report.files.append(dest)
    report.written = len(features)
    _step(progress, len(items), len(items))


def _write_csv(dest: Path, columns: list[str], rows: list[dict], report: ExportReport) -> None:
    if dest.is_symlink():
        raise ExportError("is a link; refusing to write through it", dest)
    with dest.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=columns)
        writer.writeheader()
        for row in rows:
            writer.writerow({k: "" if v is None else v for k, v in row.items()})
    report.files.append(dest)


def _num(value: float | None) -> str:
    return "" if value is None else repr(float(value))
