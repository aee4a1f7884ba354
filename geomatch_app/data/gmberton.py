"""The gmberton dataset layout of VPR-datasets-downloader / VPR-methods-evaluation.

Why geomatch speaks it: most public VPR test sets are distributed in this layout, and the
research tools read nothing else, so a curator can run geomatch on any of them and hand a
confirmed set back. The layout::

    <root>/images/test/database/@UTM_east@UTM_north@zone@letter@lat@lon@pano@tile@heading@...@.jpg
    <root>/images/test/queries/...

Every label is in the file name, split on ``@``: fields 1–2 are UTM easting/northing in metres,
3–4 the UTM zone number and letter, 5–6 WGS84 latitude/longitude, then pano id, tile number,
heading, pitch, roll, height, timestamp and a free note. VPR-methods-evaluation's ground truth:
the positives of a query are the database images within 25 m, Euclidean in (easting, northing)
(a radius search; zones are not compared), and Recall@N counts every query — one without any
positive is simply never correct. :func:`positives` and :func:`recall_at` compute exactly that.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from geomatch_app.core.types import Photo
from geomatch_app.data.images import IMAGE_SUFFIXES

log = logging.getLogger(__name__)

POSITIVE_DIST_M = 25.0  # VPR-methods-evaluation's default positive_dist_threshold
RECALL_NS = (1, 5, 10, 20)
SPLIT_DIRS = {"gallery": "database", "query": "queries"}
N_FIELDS = 14  # east … note, between the leading "@" and the trailing "@.jpg"


@dataclass
class GmbertonName:
    east: float
    north: float
    zone: int
    letter: str
    lat: float
    lon: float
    heading: float | None = None
    note: str = ""


def _float(text: str) -> float | None:
    try:
        v = float(text)
    except ValueError:
        return None
    return v if math.isfinite(v) else None


def parse_name(name: str | Path) -> GmbertonName | None:
    """The labels in a gmberton file name, or None when the name is not one."""
    fields = Path(name).name.split("@")
    if len(fields) < 7 or fields[0] != "":
        return None
    east, north = _float(fields[1]), _float(fields[2])
    zone = _float(fields[3])
    letter = fields[4].strip().upper()
    if east is None or north is None or zone is None or len(letter) != 1:
        return None
    lat, lon = _float(fields[5]), _float(fields[6])
    if lat is None or lon is None:
        import utm

        try:
            lat, lon = (float(v) for v in utm.to_latlon(east, north, int(zone), letter))
        except (utm.error.OutOfRangeError, ValueError):
            return None
    heading = _float(fields[9]) if len(fields) > 9 else None
    note = fields[14] if len(fields) > 15 else ""
    return GmbertonName(east, north, int(zone), letter, lat, lon, heading, note)


def to_utm(lat: float, lon: float) -> tuple[float, float, int, str]:
    """(easting, northing, zone number, zone letter) of a WGS84 point (PyPI ``utm``)."""
    import utm

    e, n, zone, letter = utm.from_latlon(lat, lon)
    return float(e), float(n), int(zone), str(letter)


def _coord(value: float, left: int, right: int) -> str:
    """Fixed-width number as the downloader writes it: ``left`` integer digits (sign
    included), ``right`` decimals (truncated)."""
    sign = "-" if value < 0 else ""
    scaled = math.floor(abs(value) * 10**right + 1e-6)
    integer, decimal = divmod(scaled, 10**right)
    return f"{sign}{integer:0{left - len(sign)}d}.{decimal:0{right}d}"


def make_name(lat: float, lon: float, heading: float | None = None, note: str = "",
              extension: str = ".jpg") -> str:
    """A gmberton file name for a photo taken at (lat, lon)."""
    e, n, zone, letter = to_utm(lat, lon)
    safe_note = "".join(c if c.isalnum() or c in "-_." else "_" for c in note)[:60]
    fields = [_coord(e, 7, 2), _coord(n, 7, 2), f"{zone:02d}", letter, _coord(lat, 3, 5),
              _coord(lon, 4, 5), "", "", "" if heading is None else f"{heading % 360:.0f}",
              "", "", "", "", safe_note]
    return "@" + "@".join(fields) + "@" + extension


def find_root(folder: str | Path) -> Path | None:
    """The folder holding ``database/`` and ``queries/`` of a gmberton set given its root,
    its ``images/test`` folder or that folder itself; None when ``folder`` is not one."""
    folder = Path(folder)
    for cand in (folder, folder / "images" / "test", folder / "test"):
        if (cand / "database").is_dir() and (cand / "queries").is_dir():
            return cand
    return None


def image_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file()
                  and p.suffix.lower() in IMAGE_SUFFIXES)


def read_split(root: str | Path, role: str = "gallery"):
    """``database/`` (role gallery) or ``queries/`` (role query) as an ImportReport whose
    photos carry the file names' lat/lon; files whose names hold no labels are listed in
    ``skipped`` with the reason."""
    from geomatch_app.data.gallery import ImportReport

    if role not in SPLIT_DIRS:
        raise ValueError(f"role must be 'gallery' or 'query', not {role!r}")
    report = ImportReport()
    split = "gallery" if role == "gallery" else "query"
    for file in image_files(Path(root) / SPLIT_DIRS[role]):
        name = parse_name(file)
        if name is None:
            report.skipped.append((str(file), "not a gmberton file name "
                                   "(@UTM_east@UTM_north@zone@letter@lat@lon@…@.jpg)"))
            continue
        report.photos.append(Photo(str(file.resolve()), name.lat, name.lon, name.heading, "",
                                   "gmberton", split))
    return report


def utm_of(photos: Sequence[Photo]) -> np.ndarray:
    """(N, 2) easting/northing: from the file name when it is a gmberton name (exactly what
    VPR-methods-evaluation reads), else converted from the photo's lat/lon; NaN without."""
    out = np.full((len(photos), 2), np.nan)
    for i, p in enumerate(photos):
        name = parse_name(p.path)
        if name is not None:
            out[i] = name.east, name.north
        elif p.has_location:
            out[i] = to_utm(p.lat, p.lon)[:2]
    return out


def positives(query_utm: np.ndarray, db_utm: np.ndarray,
              radius_m: float = POSITIVE_DIST_M) -> list[np.ndarray]:
    """Per query, the database indices within ``radius_m`` (Euclidean in UTM, ≤ radius),
    sorted by distance as a radius-neighbours search returns them."""
    db = np.asarray(db_utm, dtype=np.float64)
    ok = ~np.isnan(db).any(axis=1)
    out = []
    for q in np.asarray(query_utm, dtype=np.float64):
        if np.isnan(q).any():
            out.append(np.zeros(0, dtype=np.int64))
            continue
        d = np.full(len(db), np.inf)
        d[ok] = np.sqrt(((db[ok] - q) ** 2).sum(axis=1))
        hit = np.flatnonzero(d <= radius_m)
        out.append(hit[np.argsort(d[hit], kind="stable")])
    return out


def recall_at(predictions: Sequence[Sequence[int]], positives_per_query: Sequence[np.ndarray],
              ns: Sequence[int] = RECALL_NS) -> dict[str, float]:
    """VPR-methods-evaluation's Recall@N in percent: a query counts at N when one of its first
    N predictions is a positive; the denominator is every query."""
    ns = list(ns)
    hits = np.zeros(len(ns))
    for preds, pos in zip(predictions, positives_per_query, strict=True):
        pos_set = set(int(i) for i in pos)
        for j, n in enumerate(ns):
            if any(int(p) in pos_set for p in list(preds)[:n]):
                hits[j:] += 1
                break
    total = max(1, len(predictions))
    return {f"R@{n}": float(100.0 * h / total) for n, h in zip(ns, hits, strict=True)}


def write_image(src: str | Path, dest: Path) -> None:
    """Copy a JPEG as it is; convert any other image to JPEG (the tools glob ``*.jpg``)."""
    import shutil

    if dest.is_symlink():
        from geomatch_app.core.errors import GeomatchError

        raise GeomatchError("is a link; refusing to write through it", dest)
    if Path(src).suffix.lower() in (".jpg", ".jpeg"):
        shutil.copyfile(src, dest)
        return
    from geomatch_app.data.images import load_image

    load_image(src).save(dest, "JPEG", quality=95)


def unique_name(folder: Path, lat: float, lon: float, heading: float | None, note: str) -> Path:
    """A new file in ``folder`` named for (lat, lon); the note keeps names of photos taken at
    the same spot apart."""
    base = make_name(lat, lon, heading, note)
    dest = folder / base
    i = 1
    while dest.exists():
        dest = folder / make_name(lat, lon, heading, f"{note}_{i}")
        i += 1
    return dest


def vpr_recall(queries: Sequence[Photo], gallery: Sequence[Photo],
               ranked: dict[str, Sequence[str]], radius_m: float = POSITIVE_DIST_M,
               ns: Sequence[int] = RECALL_NS) -> dict:
    """Recall@N as VPR-methods-evaluation reports it for a ranking given as
    ``{query path: [gallery paths, best first]}``. A query missing from ``ranked`` (e.g. an
    unreadable file) counts as a miss, as does one with no database image within the radius."""
    pos = positives(utm_of(queries), utm_of(gallery), radius_m)
    where = {p.path: i for i, p in enumerate(gallery)}
    preds = [[where[g] for g in ranked.get(q.path, []) if g in where] for q in queries]
    return {"recall": recall_at(preds, pos, ns), "n_queries": len(queries),
            "n_with_positive": int(sum(len(p) > 0 for p in pos)), "radius_m": radius_m}


@dataclass
class Located:
    """A photo to write into the layout, at the location it is labelled with."""

    src: str
    lat: float
    lon: float
    heading: float | None = None


def write_set(out: str | Path, queries: Sequence[Located],
              database: Sequence[Located]) -> list[Path]:
    """Write ``images/test/{queries,database}`` under ``out`` (which must exist and hold no
    links out of it); returns the files written. Names carry the labels, so the research
    tools find each query's positives by the 25 m rule."""
    from geomatch_app.core.errors import GeomatchError

    out = Path(out)
    dirs = {k: out / "images" / "test" / k for k in ("database", "queries")}
    files = []
    for d in dirs.values():
        d.mkdir(parents=True, exist_ok=True)
        if not d.resolve().is_relative_to(out.resolve()):
            raise GeomatchError(f"would write outside the export folder ({d.resolve()})", out,
                                "choose an empty folder without links")
    for kind, items, prefix in (("database", database, ""), ("queries", queries, "q")):
        for i, item in enumerate(items, start=1):
            dest = unique_name(dirs[kind], item.lat, item.lon, item.heading,
                               f"{prefix}{i:05d}")
            write_image(item.src, dest)
            files.append(dest)
    return files
