"""Geocell baseline (paper D, §2.3.1): an adaptive partition of the gallery into cells.

Starting from one cell for the whole world, a cell is halved across its longer side (in metres)
until it holds at most ``max_photos`` photos or is smaller than ``min_size_m``; empty halves are
dropped. A query is then placed in the cell whose members look most like it — by the retrieved
members' similarity votes or by the cell's mean descriptor — and located at the cell's centre
of photos. It is the "classification" counterpart the thesis compares the kNN density with.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from geomatch_app.core.types import Candidate
from geomatch_app.geo.distance import EARTH_RADIUS_M, spherical_mean
from geomatch_app.geo.kde import DEFAULT_M, similarity_weights

_M_PER_DEG = EARTH_RADIUS_M * math.pi / 180


@dataclass
class GeoCell:
    id: int
    south: float
    west: float
    north: float
    east: float
    members: np.ndarray  # gallery indices
    lat: float = 0.0  # centre of the member photos
    lon: float = 0.0

    def size_m(self) -> tuple[float, float]:
        """(north-south, east-west) extent; east-west measured at the widest latitude."""
        widest = 0.0 if self.south <= 0 <= self.north else min(abs(self.south), abs(self.north))
        return ((self.north - self.south) * _M_PER_DEG,
                (self.east - self.west) * _M_PER_DEG * math.cos(math.radians(widest)))


def build_geocells(lat, lon, max_photos: int = 5, min_size_m: float = 25.0) -> list[GeoCell]:
    """Partition located gallery photos (arrays of lat/lon; NaN = no location, left out)."""
    if max_photos < 1:
        raise ValueError("max_photos must be at least 1")
    lat, lon = np.asarray(lat, np.float64), np.asarray(lon, np.float64)
    ok = np.nonzero(np.isfinite(lat) & np.isfinite(lon))[0]
    todo = [GeoCell(0, -90.0, -180.0, 90.0, 180.0, ok)]
    done: list[GeoCell] = []
    while todo:
        cell = todo.pop()
        if len(cell.members) == 0:
            continue
        ns, ew = cell.size_m()
        if len(cell.members) <= max_photos or max(ns, ew) < min_size_m:
            done.append(cell)
            continue
        if ns >= ew:
            mid = (cell.south + cell.north) / 2
            low = lat[cell.members] < mid
            todo += [GeoCell(0, cell.south, cell.west, mid, cell.east, cell.members[low]),
                     GeoCell(0, mid, cell.west, cell.north, cell.east, cell.members[~low])]
        else:
            mid = (cell.west + cell.east) / 2
            low = lon[cell.members] < mid
            todo += [GeoCell(0, cell.south, cell.west, cell.north, mid, cell.members[low]),
                     GeoCell(0, cell.south, mid, cell.north, cell.east, cell.members[~low])]
    done.sort(key=lambda c: (c.south, c.west))
    for i, cell in enumerate(done):
        cell.id = i
        cell.lat, cell.lon = spherical_mean(lat[cell.members], lon[cell.members])
    return done


def cell_of(cells: list[GeoCell], n_gallery: int) -> np.ndarray:
    """Gallery index → cell id (-1 for photos without location)."""
    out = np.full(n_gallery, -1, dtype=np.int64)
    for c in cells:
        out[c.members] = c.id
    return out


def predict_by_members(candidates: list[Candidate], cells: list[GeoCell],
                       gallery_cell: dict[str, int], m: float = DEFAULT_M) -> GeoCell | None:
    """The cell whose retrieved members carry the most similarity weight (s^m votes).

    ``gallery_cell`` maps a gallery path to its cell id."""
    votes: dict[int, float] = {}
    located = [c for c in candidates if gallery_cell.get(c.path, -1) >= 0]
    if not located:
        return None
    w = similarity_weights(np.array([c.score for c in located]), m)
    for c, wi in zip(located, w, strict=True):
        cid = gallery_cell[c.path]
        votes[cid] = votes.get(cid, 0.0) + float(wi)
    best = max(votes, key=lambda cid: votes[cid])
    return cells[best]


def cell_descriptors(gallery_descs: np.ndarray, cells: list[GeoCell]) -> np.ndarray:
    """L2-normalised mean descriptor of each cell (C × D)."""
    out = np.stack([gallery_descs[c.members].mean(axis=0) for c in cells])
    return out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)


def predict_by_centroid(query_descs: np.ndarray, cell_descs: np.ndarray) -> np.ndarray:
    """Cell index with the highest cosine similarity to each query descriptor."""
    q = np.asarray(query_descs, np.float64)
    q = q / np.maximum(np.linalg.norm(q, axis=1, keepdims=True), 1e-12)
    return np.argmax(q @ cell_descs.T, axis=1)
