"""Archive catalogues in: the records an archive already has about its photos (file, title,
archive id, date or date range, free-text place, known coordinates) become queries with those
fields, so the curator sees them next to the photo and the export carries them out again.

Two inputs:
- a CSV with a header row; column names are matched loosely (``file``/``path``/``filename``,
  ``archive_id``/``id``/``identifier``, ``date`` or ``date_from`` + ``date_to``,
  ``place``/``place_text``/``location``, ``lat``/``latitude``, ``lon``/``lng``/``longitude``);
  file paths are relative to the CSV;
- a IIIF Presentation manifest (v2 or v3 JSON) whose canvases point at *local* image files
  (relative paths or ``file://`` URIs: the app never downloads). Canvas label -> title, and the
  metadata pairs named like the CSV columns fill the other fields.

Nothing is dropped silently: a record whose file is missing or whose coordinates are not a
position is listed in ``skipped`` with the reason.
"""

from __future__ import annotations

import csv
import json
import logging
import math
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlparse

from geomatch_app.core.errors import ManifestError
from geomatch_app.core.progress import Progress
from geomatch_app.store import Store

log = logging.getLogger(__name__)

ALIASES = {
    "path": ("file", "path", "filename", "file_name", "image", "photo"),
    "title": ("title", "caption", "label"),
    "archive_id": ("archive_id", "id", "identifier", "inventory", "inventory_number",
                   "call_number", "shelfmark"),
    "date": ("date", "date_text", "year", "dated"),
    "date_from": ("date_from", "from", "earliest", "date_start"),
    "date_to": ("date_to", "to", "latest", "date_end"),
    "place_text": ("place", "place_text", "location", "where", "spatial"),
    "lat": ("lat", "latitude"),
    "lon": ("lon", "lng", "long", "longitude"),
    "notes": ("notes", "note", "description", "remarks"),
}


@dataclass(frozen=True)
class CatalogueRecord:
    path: str
    title: str = ""
    archive_id: str = ""
    date: str = ""  # "1923", "c. 1920-1925", or "from–to" built from a date range
    place_text: str = ""
    lat: float | None = None
    lon: float | None = None
    notes: str = ""


@dataclass
class CatalogueReport:
    source: Path
    records: list[CatalogueRecord] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (row or file, reason)
    query_ids: list[int] = field(default_factory=list)  # filled by import_catalogue

    @property
    def paths(self) -> list[str]:
        return [r.path for r in self.records]

    def summary(self) -> str:
        located = sum(r.lat is not None for r in self.records)
        text = f"{len(self.records)} catalogue records from {self.source.name}"
        text += f" ({located} with known coordinates)"
        if self.skipped:
            text += f", {len(self.skipped)} skipped"
        return text


def read_catalogue(path: str | Path) -> CatalogueReport:
    """The records of a catalogue CSV or IIIF manifest (nothing is written)."""
    path = Path(path)
    if not path.is_file():
        raise ManifestError("does not exist", path, "choose a catalogue .csv or a IIIF "
                            "manifest .json")
    if path.suffix.lower() == ".json":
        return _read_iiif(path)
    return _read_csv(path)


def import_catalogue(store: Store, path: str | Path, *, curator: str = "",
                     progress: Progress | None = None) -> CatalogueReport:
    """Register every record of the catalogue as a query with its fields (empty fields of a
    photo already in the store are filled in, filled ones are kept). Returns the report with
    the query ids, in catalogue order."""
    report = read_catalogue(path)
    n = len(report.records)
    for i, r in enumerate(report.records):
        if progress is not None:
            progress.step(i, n, "importing catalogue")
        report.query_ids.append(store.add_query(
            r.path, title=r.title, archive_id=r.archive_id, date=r.date, notes=r.notes,
            place_text=r.place_text, lat=r.lat, lon=r.lon, curator=curator))
    if progress is not None:
        progress.step(n, n, "catalogue imported")
    log.info("%s", report.summary())
    return report


# ---- CSV -----------------------------------------------------------------------------------

def _read_csv(path: Path) -> CatalogueReport:
    try:
        with path.open(newline="", encoding="utf-8-sig") as fh:
            reader = csv.DictReader(fh)
            columns = {_key(c): c for c in reader.fieldnames or []}
            rows = list(reader)
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise ManifestError(f"cannot be read as CSV ({exc})", path,
                            "save it as UTF-8 CSV with a header row") from None
    names = {field_: next((columns[a] for a in aliases if a in columns), None)
             for field_, aliases in ALIASES.items()}
    if names["path"] is None:
        raise ManifestError("has no file column", path,
                            "name the column with the photo's file 'file' or 'path'")
    report = CatalogueReport(path)
    for n, row in enumerate(rows, start=2):
        values = {f: (row.get(c) or "").strip() if c else "" for f, c in names.items()}
        _add(report, values, path.parent, f"line {n}")
    return report


def _key(column: str) -> str:
    return column.strip().lower().replace(" ", "_").replace("-", "_")


def _add(report: CatalogueReport, v: dict[str, str], root: Path, where: str) -> None:
    if not v["path"]:
        report.skipped.append((where, "no file named"))
        return
    file = _local_path(v["path"], root)
    if file is None or not file.is_file():
        report.skipped.append((v["path"], "file not found (the catalogue names a photo that "
                               "is not in its folder)"))
        return
    try:
        lat, lon = _coords(v["lat"], v["lon"])
    except ValueError as exc:
        report.skipped.append((v["path"], str(exc)))
        return
    date = v["date"]
    if not date and (v["date_from"] or v["date_to"]):
        date = "–".join(d for d in (v["date_from"], v["date_to"]) if d)
    report.records.append(CatalogueRecord(
        str(file.resolve()), v["title"], v["archive_id"], date, v["place_text"], lat, lon,
        v["notes"]))


def _local_path(ref: str, root: Path) -> Path | None:
    if ref.startswith("file://"):
        return Path(unquote(urlparse(ref).path))
    if "://" in ref:
        return None  # a web address: geomatch works offline and never downloads
    p = Path(ref).expanduser()
    return p if p.is_absolute() else root / p


def _coords(lat_s: str, lon_s: str) -> tuple[float | None, float | None]:
    if not lat_s and not lon_s:
        return None, None
    try:
        lat, lon = float(lat_s), float(lon_s)
    except ValueError:
        raise ValueError(f"coordinates {lat_s!r}, {lon_s!r} are not numbers") from None
    if not (math.isfinite(lat) and math.isfinite(lon) and -90 <= lat <= 90
            and -180 <= lon <= 180):
        raise ValueError(f"coordinates {lat}, {lon} are not a WGS84 position")
    return lat, lon


# ---- IIIF ----------------------------------------------------------------------------------

def _read_iiif(path: Path) -> CatalogueReport:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise ManifestError(f"is not a IIIF manifest ({exc})", path) from None
    if not isinstance(doc, dict):
        raise ManifestError("is not a IIIF manifest (no JSON object)", path)
    if "sequences" in doc:  # Presentation 2
        canvases = [c for s in doc.get("sequences") or [] for c in s.get("canvases") or []]
    else:  # Presentation 3
        canvases = list(doc.get("items") or [])
    if not canvases:
        raise ManifestError("has no canvases", path, "export the manifest with its images")
    report = CatalogueReport(path)
    for n, canvas in enumerate(canvases, start=1):
        meta = {_key(_text(m.get("label"))): _text(m.get("value"))
                for m in canvas.get("metadata") or [] if isinstance(m, dict)}
        values = {f: next((meta[a] for a in aliases if a in meta), "")
                  for f, aliases in ALIASES.items()}
        values["title"] = values["title"] or _text(canvas.get("label"))
        values["path"] = _canvas_image(canvas)
        _add(report, values, path.parent, f"canvas {n}")
    return report


def _canvas_image(canvas: dict) -> str:
    for image in canvas.get("images") or []:  # v2
        resource = image.get("resource") or {}
        return str(resource.get("@id") or resource.get("id") or "")
    for page in canvas.get("items") or []:  # v3: canvas -> annotation page -> annotation
        for anno in page.get("items") or []:
            body = anno.get("body") or {}
            if isinstance(body, list):
                body = body[0] if body else {}
            return str(body.get("id") or body.get("@id") or "")
    return ""


def _text(value: object) -> str:
    """A IIIF label/value: a string, a v3 language map {"en": ["..."]}, or a v2 list."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, dict):
        if "@value" in value:
            return str(value["@value"]).strip()
        for texts in value.values():
            return _text(texts)
        return ""
    if isinstance(value, list):
        return "; ".join(t for t in (_text(v) for v in value) if t)
    return str(value)
