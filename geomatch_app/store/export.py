"""Confirmed locations flow out as labelled test sets and training pairs.

Three formats, one rule set:
- ``pairs``: ``query/`` + ``reference/`` images with the same file name, and ``pairs.csv``
  (AmsterTime style: archive photo next to the gallery photo it was matched to).
- ``manifest``: the ``path,place_id,lat,lon,domain,split`` format of ../shared/data, with the
  images copied beside it, so ``geomatch index`` / ``geomatch eval`` and training read it back.
- ``geojson``: confirmed locations (with headings) for any GIS.

Export never writes outside its folder: every output name is built from a sanitised stem and
checked to resolve inside the folder (a title or file name like ``../../x`` cannot escape, nor
can a symlink planted in the folder), and all targets are checked before the first byte is
written. It never overwrites without ``force``, and even then an export that fails half-way
(full disk, read-only folder) leaves the previous export intact (see ``store.atomic``).
"""

from __future__ import annotations

import csv
import functools
import io
import json
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path, PurePath

from geomatch_app.core.progress import Progress
from geomatch_app.store import atomic
from geomatch_app.store.errors import ExportError
from geomatch_app.store.records import DecisionRecord, QueryRecord
from geomatch_app.store.store import Store

log = logging.getLogger(__name__)

FORMATS = ("pairs", "manifest", "geojson")
MANIFEST_COLUMNS = ["path", "place_id", "lat", "lon", "domain", "split"]
PAIRS_COLUMNS = [
    "pair", "query", "reference", "lat", "lon", "heading", "curator", "model", "rank",
    "decided_at", "title", "archive_id", "date_from", "date_to", "query_source",
    "reference_source", "precision_m", "placed", "p_match", "place_name",
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
    curator: str | None = None, progress: Progress | None = None, require_review: bool = False,
    place_name: Callable[[float | None, float | None], str] | None = None,
) -> ExportReport:
    """Write the current confirmations of ``store`` to ``out_dir`` in ``fmt`` (only those a
    second curator accepted, with ``require_review``). ``place_name(lat, lon)`` names each
    confirmed location in pairs.csv and the GeoJSON (the caller passes the offline gazetteer;
    the store does not import geo).

    Three phases: plan every output file (nothing is written), check every target (inside the
    folder, not a link), then write them all through :class:`~geomatch_app.store.atomic.
    FolderWrite` — so a refusal comes before any image is copied, and a full disk or a
    read-only folder leaves the earlier export as it was."""
    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {FORMATS}, not {fmt!r}")
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise ExportError("is not a folder", out, "give a folder to export into")
    if out.is_dir() and not force and any(not atomic.is_staging(p) for p in out.iterdir()):
        raise ExportError("is not empty", out, "choose a new folder, or pass --force to "
                          "overwrite files there")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ExportError(f"cannot be created ({exc.strerror or exc})", out,
                          "choose a folder you can write to") from None
    items = store.confirmed(curator=curator, reviewed=require_review)
    report = ExportReport(out, fmt)
    planner = {"pairs": _pairs, "manifest": _manifest, "geojson": _geojson}[fmt]
    if fmt in ("pairs", "geojson"):
        planner = functools.partial(planner, place_name=place_name)
    plan = atomic.FolderWrite(out)
    planner(store, out, items, report, progress, plan)
    for item in plan.items:
        _check_target(out, item.rel)
    report.files = plan.commit(progress)
    if progress is not None:
        progress.step(len(plan.items), len(plan.items), "exported")
    log.info(report.summary())
    return report


def _check_target(root: Path, rel: PurePath) -> None:
    """Refuse a target outside ``root`` or one that is (or sits below) a link."""
    target = safe_join(root, *rel.parts)
    for p in [target, *target.parents]:
        if p == root:
            break
        if p.is_symlink():
            raise ExportError("is a link; refusing to write through it", p,
                              "remove the link or choose an empty folder")
    if target.is_dir():
        raise ExportError("is a folder where the export puts a file", target,
                          "move it away or choose an empty folder")


def _step(progress: Progress | None, i: int, n: int) -> None:
    if progress is not None:
        progress.step(i, n, "exporting")


def _pairs(store: Store, out: Path, items: list[tuple[QueryRecord, DecisionRecord]],
           report: ExportReport, progress: Progress | None, plan: atomic.FolderWrite,
           place_name=None) -> None:
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
        qname = safe_name(stem + PurePath(q.path).suffix.lower())
        rname = safe_name(stem + PurePath(d.candidate_path).suffix.lower())
        plan.copy(f"query/{qname}", q.path)
        plan.copy(f"reference/{rname}", d.candidate_path)
        rows.append({
            "pair": stem, "query": f"query/{qname}", "reference": f"reference/{rname}",
            "lat": d.lat, "lon": d.lon, "heading": d.heading, "curator": d.curator,
            "model": d.model_name, "rank": d.rank, "decided_at": d.created_at, "title": q.title,
            "archive_id": q.archive_id, "date_from": q.date_from, "date_to": q.date_to,
            "query_source": q.path, "reference_source": d.candidate_path,
            "precision_m": d.precision_m, "placed": d.placed, "p_match": d.p_match,
            "place_name": place_name(d.lat, d.lon) if place_name else "",
        })
    plan.text("pairs.csv", _csv_text(PAIRS_COLUMNS, rows))
    report.written = len(rows)


def _manifest(store: Store, out: Path, items: list[tuple[QueryRecord, DecisionRecord]],
              report: ExportReport, progress: Progress | None,
              plan: atomic.FolderWrite) -> None:
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
                name = safe_name(f"{len(refs) + 1:05d}_"
                                 f"{safe_name(PurePath(d.candidate_path).name, 60)}")
                plan.copy(f"gallery/{name}", d.candidate_path)
                refs[d.candidate_path] = (f"gallery/{name}", ref_place)
                rows.append({"path": f"gallery/{name}", "place_id": ref_place,
                             "lat": _num(image.lat if image else d.lat),
                             "lon": _num(image.lon if image else d.lon),
                             "domain": "reference", "split": "gallery"})
            place_id = refs[d.candidate_path][1]
        name = safe_name(f"{i:05d}_{safe_name(PurePath(q.path).name, 60)}")
        plan.copy(f"query/{name}", q.path)
        rows.append({"path": f"query/{name}", "place_id": place_id, "lat": _num(d.lat),
                     "lon": _num(d.lon), "domain": "archive", "split": "query"})
        report.written += 1
    plan.text("manifest.csv", _csv_text(MANIFEST_COLUMNS, rows))


def _geojson(store: Store, out: Path, items: list[tuple[QueryRecord, DecisionRecord]],
             report: ExportReport, progress: Progress | None,
             plan: atomic.FolderWrite, place_name=None) -> None:
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
                "precision_m": d.precision_m, "placed": d.placed, "p_match": d.p_match,
                "place_name": place_name(d.lat, d.lon) if place_name else "",
            },
        })
    plan.text("confirmed.geojson",
              json.dumps({"type": "FeatureCollection", "features": features}, indent=1))
    report.written = len(features)


def _csv_text(columns: list[str], rows: list[dict]) -> str:
    buf = io.StringIO(newline="")
    writer = csv.DictWriter(buf, fieldnames=columns)
    writer.writeheader()
    for row in rows:
        writer.writerow({k: "" if v is None else v for k, v in row.items()})
    return buf.getvalue()


def _num(value: float | None) -> str:
    return "" if value is None else repr(float(value))
