"""Checks of index metadata read from disk: a damaged or hand-edited file gets a one-line
message naming the index folder and what to do, never a KeyError or TypeError later on."""

from __future__ import annotations

import math
from pathlib import Path

from geomatch_app.core.errors import GeomatchError

REBUILD = "rebuild it with `geomatch index SRC --index DIR --rebuild`"


class DamagedIndexError(GeomatchError):
    """Index metadata with the wrong shape (a list for the fingerprint, a record without path)."""


def check_fingerprint(fp, where: str | Path) -> dict:
    """The fingerprint must say which model built the index, with which weights and dim."""
    if not isinstance(fp, dict):
        raise DamagedIndexError(f"the model fingerprint is a {type(fp).__name__}, not an object",
                                where, REBUILD)
    if not isinstance(fp.get("name"), str) or not fp["name"]:
        raise DamagedIndexError("the model fingerprint has no model name", where, REBUILD)
    if not isinstance(fp.get("weight_hash"), str) or not fp["weight_hash"]:
        # without it changed weights would go unnoticed and rank with the wrong descriptors
        raise DamagedIndexError("the model fingerprint has no weight_hash", where, REBUILD)
    dim = fp.get("dim")
    if not isinstance(dim, int) or isinstance(dim, bool) or dim <= 0:
        raise DamagedIndexError(f"the model fingerprint has no valid dim ({dim!r})", where,
                                REBUILD)
    if not isinstance(fp.get("kwargs", {}), dict):
        raise DamagedIndexError("the model fingerprint's kwargs are not an object", where,
                                REBUILD)
    return fp


def _number(value) -> bool:
    return value is None or (isinstance(value, (int, float)) and not isinstance(value, bool)
                             and math.isfinite(value))


def check_record(r, i: int, where: str | Path) -> dict:
    """One photo record: a path, and numbers (or null) where numbers belong."""
    if not isinstance(r, dict):
        raise DamagedIndexError(f"photo record {i} is not an object", where, REBUILD)
    if not isinstance(r.get("path"), str) or not r["path"]:
        raise DamagedIndexError(f"photo record {i} has no path", where, REBUILD)
    for key in ("lat", "lon", "heading"):
        if not _number(r.get(key)):
            raise DamagedIndexError(f"photo record {i} ({r['path']}) has a non-numeric {key} "
                                    f"({r.get(key)!r})", where, REBUILD)
    lat, lon = r.get("lat"), r.get("lon")
    if (lat is not None and not -90 <= lat <= 90) or (lon is not None and not -180 <= lon <= 180):
        raise DamagedIndexError(f"photo record {i} ({r['path']}) has coordinates out of range",
                                where, REBUILD)
    for key in ("size", "mtime_ns"):
        v = r.get(key)
        if v is not None and (not isinstance(v, int) or isinstance(v, bool)):
            raise DamagedIndexError(f"photo record {i} ({r['path']}) has a non-integer {key}",
                                    where, REBUILD)
    for key in ("place_id", "domain"):
        v = r.get(key)
        if v is not None and not isinstance(v, str):
            raise DamagedIndexError(f"photo record {i} ({r['path']}) has a non-text {key}",
                                    where, REBUILD)
    return r
