"""Marching squares and point-in-polygon: just enough to turn a density grid into GeoJSON.

Hand-written because the stack has no matplotlib/scipy/shapely and the grids are small
(≤ 160² cells), so a plain loop over the boundary cells is fast enough.
"""

from __future__ import annotations

import numpy as np

# Cell corners: 0 = top-left (i, j), 1 = top-right (i, j+1), 2 = bottom-right, 3 = bottom-left.
# Edges: 0 top (0-1), 1 right (1-2), 2 bottom (3-2), 3 left (0-3). Case bit k = corner k above.
_SEGMENTS: dict[int, list[tuple[int, int]]] = {
    1: [(3, 0)], 2: [(0, 1)], 3: [(3, 1)], 4: [(1, 2)], 6: [(0, 2)], 7: [(3, 2)],
    8: [(2, 3)], 9: [(2, 0)], 11: [(2, 1)], 12: [(1, 3)], 13: [(1, 0)], 14: [(0, 3)],
}


def _edge_key(i: int, j: int, e: int) -> tuple[int, int, int, int]:
    """An edge as its two grid vertices, so neighbouring cells agree on it."""
    if e == 0:
        return (i, j, i, j + 1)
    if e == 1:
        return (i, j + 1, i + 1, j + 1)
    if e == 2:
        return (i + 1, j, i + 1, j + 1)
    return (i, j, i + 1, j)


def contour_rings(grid: np.ndarray, level: float) -> list[np.ndarray]:
    """Closed iso-lines of ``grid`` at ``level`` as arrays of (row, col) float coordinates.

    The grid is padded with values below ``level`` so every ring closes; rings enclose the
    region where grid >= level.
    """
    grid = np.asarray(grid, dtype=np.float64)
    low = min(float(grid.min()), level) - max(1.0, abs(level))
    g = np.pad(grid, 1, constant_values=low)
    above = g >= level
    case = (above[:-1, :-1] * 1 + above[:-1, 1:] * 2 + above[1:, 1:] * 4 + above[1:, :-1] * 8)
    nbr: dict[tuple, list[tuple]] = {}

    def link(a: tuple, b: tuple) -> None:
        nbr.setdefault(a, []).append(b)
        nbr.setdefault(b, []).append(a)

    for i, j in zip(*np.nonzero((case > 0) & (case < 15)), strict=True):
        c = int(case[i, j])
        if c in (5, 10):  # saddle: decide by the cell centre
            centre = g[i:i + 2, j:j + 2].mean() >= level
            if c == 5:
                segs = [(3, 2), (1, 0)] if centre else [(3, 0), (1, 2)]
            else:
                segs = [(0, 3), (2, 1)] if centre else [(0, 1), (2, 3)]
        else:
            segs = _SEGMENTS[c]
        for ea, eb in segs:
            link(_edge_key(i, j, ea), _edge_key(i, j, eb))

    def points(keys: list[tuple]) -> np.ndarray:
        """Each edge's crossing, linearly interpolated, in unpadded (row, col) coordinates."""
        i0, j0, i1, j1 = np.array(keys, dtype=np.int64).T
        v0, v1 = g[i0, j0], g[i1, j1]
        with np.errstate(divide="ignore", invalid="ignore"):
            t = np.where(v0 == v1, 0.5, (level - v0) / (v1 - v0))
        t = np.clip(t, 0.0, 1.0)
        return np.column_stack([i0 + t * (i1 - i0) - 1.0, j0 + t * (j1 - j0) - 1.0])

    rings: list[np.ndarray] = []
    seen: set[tuple] = set()
    for start in nbr:
        if start in seen:
            continue
        ring = [start]
        seen.add(start)
        prev, cur = None, start
        while True:
            nxt = [n for n in nbr[cur] if n != prev and n not in seen]
            if not nxt:
                break
            prev, cur = cur, nxt[0]
            seen.add(cur)
            ring.append(cur)
        if len(ring) >= 3:
            pts = points(ring)
            rings.append(np.vstack([pts, pts[:1]]))
    return rings


def ring_area(xy: np.ndarray) -> float:
    """Signed shoelace area (positive = counter-clockwise in x-right, y-up coordinates)."""
    x, y = xy[:, 0], xy[:, 1]
    return 0.5 * float(np.dot(x[:-1], y[1:]) - np.dot(x[1:], y[:-1]))


def points_in_ring(px: np.ndarray, py: np.ndarray, ring: np.ndarray) -> np.ndarray:
    """Even-odd ray casting for many points against one closed ring of (x, y)."""
    px, py = np.asarray(px, np.float64), np.asarray(py, np.float64)
    inside = np.zeros(np.broadcast(px, py).shape, dtype=bool)
    x0, y0 = ring[:-1, 0], ring[:-1, 1]
    x1, y1 = ring[1:, 0], ring[1:, 1]
    for a, b, c, d in zip(x0, y0, x1, y1, strict=True):
        crosses = (b > py) != (d > py)
        with np.errstate(divide="ignore", invalid="ignore"):
            xint = a + (py - b) * (c - a) / (d - b)
        inside ^= crosses & (px < xint)
    return inside


def polygons_from_rings(rings: list[np.ndarray]) -> list[list[np.ndarray]]:
    """Group rings into polygons [outer, hole, ...]: a ring inside an odd number of others is a
    hole of the smallest ring containing it. Outer rings come out counter-clockwise, holes
    clockwise (the GeoJSON right-hand rule)."""
    n = len(rings)
    contains = np.zeros((n, n), dtype=bool)  # contains[a, b]: ring a contains ring b
    for a in range(n):
        for b in range(n):
            if a != b:
                contains[a, b] = bool(points_in_ring(rings[b][0, 0], rings[b][0, 1], rings[a]))
    depth = contains.sum(axis=0)
    polys: dict[int, list[np.ndarray]] = {}
    for r in range(n):
        if depth[r] % 2 == 0:
            ring = rings[r] if ring_area(rings[r]) > 0 else rings[r][::-1]
            polys[r] = [ring]
    for r in range(n):
        if depth[r] % 2 == 1:
            parents = [a for a in range(n) if contains[a, r] and a in polys]
            if not parents:
                continue
            parent = min(parents, key=lambda a: abs(ring_area(rings[a])))
            hole = rings[r] if ring_area(rings[r]) < 0 else rings[r][::-1]
            polys[parent].append(hole)
    return list(polys.values())
