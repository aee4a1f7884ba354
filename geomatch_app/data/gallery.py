"""Gallery and query import: a folder (recursive, EXIF GPS) or a CSV manifest in the
``path,place_id,lat,lon,domain,split`` format of ../shared/data (paths relative to the manifest).

Nothing is dropped silently: photos without a location are listed in ``no_location`` and files
that cannot be read are listed in ``skipped`` with the reason.
"""

from __future__ import annotations

import csv
import logging
import math
from dataclasses import dataclass, field
from pathlib import Path

from geomatch_app.core.errors import ImageError, ManifestError
from geomatch_app.core.types import Photo
from geomatch_app.data.files import walk_images
from geomatch_app.data.images import read_geotag

log = logging.getLogger(__name__)

GALLERY_SPLITS = {"gallery", "db", "database", "reference"}
QUERY_SPLITS = {"query", "queries"}


@dataclass
class ImportReport:
    photos: list[Photo] = field(default_factory=list)
    no_location: list[str] = field(default_factory=list)  # kept, but cannot vote on location
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (path, reason)

    def summary(self) -> str:
        text = f"{len(self.photos)} photos"
        if self.no_location:
            text += f", {len(self.no_location)} without location"
        if self.skipped:
            text += f", {len(self.skipped)} skipped"
        return text


def load_photos(src: str | Path, role: str = "gallery") -> ImportReport:
    """Photos of ``src`` (a folder or a .csv manifest) for the given role (gallery or query).

    A folder in the gmberton layout (``images/test/{database,queries}``) gives its database
    (gallery) or queries with the locations its file names carry."""
    src = Path(src)
    if not src.exists():
        raise ManifestError("does not exist", src, "give a folder of photos or a manifest.csv")
    if src.is_dir():
        from geomatch_app.data import gmberton

        root = gmberton.find_root(src)  # VPR-datasets-downloader layout: labels in file names
        if root is not None:
            return gmberton.read_split(root, role)
        return scan_folder(src)
    return read_manifest(src, role)


def read_manifest(path: str | Path, role: str = "gallery") -> ImportReport:
    path = Path(path)
    if role not in ("gallery", "query"):
        raise ValueError(f"role must be 'gallery' or 'query', not {role!r}")
    try:
        with path.open(newline="", encoding="utf-8-sig") as fh:
            reader = csv.DictReader(fh)
            columns = [c.strip() for c in (reader.fieldnames or [])]
            rows = list(reader)
    except UnicodeDecodeError:
        raise ManifestError("is not a UTF-8 CSV file", path,
                            "save it as CSV (UTF-8) with a header row") from None
    except csv.Error as exc:
        raise ManifestError(f"is not a valid CSV file ({exc})", path,
                            "save it as CSV with a header row") from None
    _check_columns(path, columns)
    has_split = "split" in columns
    wanted = GALLERY_SPLITS if role == "gallery" else QUERY_SPLITS
    if role == "query" and not has_split:
        wanted = None  # a manifest without split: every row is a query
    report = ImportReport()
    base = path.parent.resolve()
    n_fields = len(columns)
    kept: dict[str, tuple[int, Photo]] = {}  # file -> (line, photo) of its first row
    conflicts: dict[str, list[int]] = {}
    for line_no, raw in enumerate(rows, start=2):
        shape = _row_shape(raw, n_fields, line_no)
        if shape:
            report.skipped.append((f"{path}:{line_no}", shape))
            continue
        row = {(k or "").strip(): (v or "").strip() for k, v in raw.items()}
        split = row.get("split", "").lower()
        if has_split and wanted is not None and split not in wanted:
            continue
        rel = row.get("path", "")
        if not rel:
            report.skipped.append((f"{path}:{line_no}", "empty path"))
            continue
        if "\x00" in rel:
            report.skipped.append((f"{path}:{line_no}", "path contains a NUL character"))
            continue
        file = (base / rel).resolve()
        if not file.is_relative_to(base):
            report.skipped.append((f"{path}:{line_no}", f"path {rel!r} points outside the "
                                   "manifest's folder; keep the images in or below it"))
            continue
        if not file.is_file():
            report.skipped.append((str(file), f"file not found (line {line_no} of {path.name})"))
            continue
        try:
            lat = _float_or_none(row.get("lat", ""))
            lon = _float_or_none(row.get("lon", ""))
            heading = _float_or_none(row.get("heading", ""))
        except ValueError as exc:
            report.skipped.append((str(file), f"bad number on line {line_no}: {exc}"))
            continue
        if (lat is None) != (lon is None) or (lat is not None and not _valid_latlon(lat, lon)):
            report.skipped.append((str(file), f"invalid lat/lon on line {line_no}"))
            continue
        photo = Photo(str(file), lat, lon, heading, row.get("place_id", ""),
                      row.get("domain", ""), split or role)
        first = kept.get(str(file))
        if first is not None:
            if _same_place(first[1], photo):
                report.skipped.append((str(file), f"line {line_no} repeats line {first[0]}"))
            else:
                conflicts.setdefault(str(file), [first[0]]).append(line_no)
            continue
        kept[str(file)] = (line_no, photo)
    for file, lines in conflicts.items():
        # Two rows placing one photo in different places: neither can be trusted.
        del kept[file]
        report.skipped.append((file, "listed on lines " + ", ".join(map(str, lines))
                               + " with different locations; keep one row"))
    for _, photo in kept.values():
        if not photo.has_location:
            report.no_location.append(photo.path)
        report.photos.append(photo)
    if not report.photos and not report.skipped:
        log.warning("%s: no %s rows (split column values: %s)", path, role,
                    sorted({(r.get("split") or "").strip() for r in rows}))
    return report


def _row_shape(raw: dict, n_fields: int, line_no: int) -> str:
    """Why a row does not have the header's shape ('' when it does). A longer row usually hides
    an unquoted comma, so its values sit under the wrong columns; a shorter one lacks columns
    (such as split) that decide whether it is used at all."""
    extra = raw.get(None)
    if extra:
        return (f"line {line_no} has {n_fields + len(extra)} fields but the header has "
                f"{n_fields}; quote values that contain commas")
    missing = sum(1 for k, v in raw.items() if k is not None and v is None)
    if missing:
        return (f"line {line_no} has {n_fields - missing} fields but the header has "
                f"{n_fields}; fill in the missing columns")
    return ""


def _same_place(a: Photo, b: Photo) -> bool:
    return (a.lat, a.lon, a.place_id) == (b.lat, b.lon, b.place_id)


def _check_columns(path: Path, columns: list[str]) -> None:
    if "path" not in columns:
        raise ManifestError(
            f"has no 'path' column (columns: {', '.join(columns) or 'none'})", path,
            "expected a header like path,place_id,lat,lon,domain,split",
        )
    if "place_id" not in columns and not {"lat", "lon"} <= set(columns):
        raise ManifestError(
            "needs a 'place_id' column or 'lat' and 'lon' columns", path,
            "expected a header like path,place_id,lat,lon,domain,split",
        )


def _float_or_none(text: str) -> float | None:
    if text == "":
        return None
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(text)
    return value


def _valid_latlon(lat: float, lon: float) -> bool:
    return -90 <= lat <= 90 and -180 <= lon <= 180


def scan_folder(folder: str | Path) -> ImportReport:
    """Every image under ``folder`` (recursive, sorted), located by its EXIF GPS.

    Links to folders, broken links, duplicate links and HEIF files are listed in ``skipped``
    (see :func:`geomatch_app.data.files.walk_images`) so the curator sees what was left out."""
    walk = walk_images(folder)
    report = ImportReport(skipped=list(walk.skipped))
    for file in walk.images:
        try:
            tag = read_geotag(file)
        except ImageError as exc:
            report.skipped.append((str(file), str(exc)))
            continue
        real = str(file.resolve())
        photo = Photo(real, split="gallery")
        if tag is not None:
            photo.lat, photo.lon, photo.heading = tag.lat, tag.lon, tag.heading
        else:
            report.no_location.append(real)
        report.photos.append(photo)
    return report
