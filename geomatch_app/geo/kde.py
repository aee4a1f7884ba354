"""kNN kernel-density geolocation (paper D, Vo thesis, eq. 2.1).

The top-k retrieved gallery photos vote for a location: each is a Gaussian kernel of bandwidth
σ on the sphere, weighted w = s^m by its similarity s. The densest point is the estimate. Beyond
the thesis, a curator needs to know how sure that is, so we also return the highest-density
regions (50 % / 90 % of the mass) as GeoJSON, an uncertainty radius and a confidence.

Why these definitions:
- ``radius_m``: radius of the circle around the estimate that holds 90 % of the density mass of
  the estimate's own cluster (the kernels within reach of it) — "here, within r".
- ``confidence``: share of all the weight that lies in that cluster — low when the top matches
  point to several distant places.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from geomatch_app.core.types import Candidate, Estimate
from geomatch_app.geo.contour import contour_rings, points_in_ring, polygons_from_rings
from geomatch_app.geo.distance import (
    EARTH_RADIUS_M,
    from_local_xy,
    from_unit,
    haversine_m,
    local_xy,
    spherical_mean,
    to_unit,
    unwrap_lon,
)

log = logging.getLogger(__name__)

DEFAULT_SIGMA_KM = 0.05  # street scale: gallery photos of one place lie tens of metres apart
DEFAULT_M = 10
DEFAULT_K = 100
LEVELS = (50, 90)
_LINK_SIGMAS = 6.0  # kernels closer than this (in σ) share one grid
_PAD_SIGMAS = 4.0  # grid margin: a 2-D Gaussian keeps exp(-8) ≈ 0.03 % beyond 4σ
_MAX_CELLS = 200


def inverse_distance(scores: np.ndarray) -> np.ndarray:
    """Paper D's similarity: the inverse of the descriptor distance. Index scores are inner
    products of L2-normalised descriptors, so ||a - b|| = sqrt(2 - 2·score).

    Why not the raw cosine: GeM/NetVLAD cosines of one city cluster around 0.8–0.95, so cos^10
    barely separates a true match from a crowd of look-alikes, and a big cluster of mediocre
    matches outvotes one excellent match. 1/distance stretches exactly that top range.
    """
    s = np.clip(np.asarray(scores, dtype=np.float64), -1.0, 1.0)
    return 1.0 / np.sqrt(np.maximum(2.0 - 2.0 * s, 1e-6))


def similarity_weights(scores: np.ndarray, m: float = DEFAULT_M) -> np.ndarray:
    """w = s^m, normalised to sum 1. Negative similarities count as 0; scores are divided by the
    largest first so s^m cannot overflow or underflow (the ratio of weights is unchanged). If no
    score is positive every photo gets the same weight."""
    s = np.clip(np.asarray(scores, dtype=np.float64), 0.0, None)
    top = s.max() if s.size else 0.0
    if top <= 0:
        return np.full(s.shape, 1.0 / max(s.size, 1))
    w = (s / top) ** m
    return w / w.sum()


@dataclass
class Density:
    """A fitted kNN kernel density over (lat, lon); ``weights`` sum to 1."""

    lat: np.ndarray
    lon: np.ndarray
    weights: np.ndarray
    sigma_m: float

    def __call__(self, lat, lon) -> np.ndarray:
        """Density (peak-normalised kernels: a lone kernel of weight 1 gives 1 at its centre)."""
        lat, lon = np.asarray(lat, np.float64), np.asarray(lon, np.float64)
        d = haversine_m(lat[..., None], lon[..., None], self.lat, self.lon)
        return (self.weights * np.exp(-0.5 * (d / self.sigma_m) ** 2)).sum(axis=-1)

    def mode(self) -> tuple[float, float]:
        """Highest-density point by mean shift on the sphere, started from every kernel centre.

        Mean shift on unit vectors (re-normalised weighted mean) needs no projection, so it is
        exact across the date line and at the poles.
        """
        v = to_unit(self.lat, self.lon)
        x = v.copy()
        for _ in range(200):
            # chord² = |x − v|² = 2 − 2 x·v for unit vectors: one (n, n) matrix product
            # instead of an (n, n, 3) difference (an error of ~1 mm at metre distances)
            chord = np.sqrt(np.clip(2.0 - 2.0 * (x @ v.T), 0.0, 4.0))
            d = 2 * EARTH_RADIUS_M * np.arcsin(np.clip(chord / 2, 0, 1))
            k = self.weights * np.exp(-0.5 * (d / self.sigma_m) ** 2)
            new = k @ v
            new /= np.linalg.norm(new, axis=1, keepdims=True)
            moved = np.linalg.norm(new - x, axis=1).max() * EARTH_RADIUS_M
            x = new
            if moved < 1e-4 * self.sigma_m:
                break
        lat, lon = from_unit(x)
        dens = self(lat, lon)
        best = int(np.argmax(dens))
        return float(lat[best]), float(lon[best])


def fit_density(candidates: list[Candidate], sigma_km: float = DEFAULT_SIGMA_KM,
                m: float = DEFAULT_M, k: int = DEFAULT_K,
                similarity: str = "inverse_distance") -> Density | None:
    """The density of the top-k located candidates, or None when none has a location.

    ``similarity``: "inverse_distance" (paper D, scores are cosines) or "score" (use the
    candidate scores as they are)."""
    if sigma_km <= 0:
        raise ValueError("sigma_km must be positive")
    top = sorted(candidates, key=lambda c: c.rank)[:k]
    located = [c for c in top if c.lat is not None and c.lon is not None]
    if not located:
        return None
    lat = np.array([c.lat for c in located], dtype=np.float64)
    lon = np.array([c.lon for c in located], dtype=np.float64)
    scores = np.array([c.score for c in located], dtype=np.float64)
    if similarity == "inverse_distance":
        scores = inverse_distance(scores)
    elif similarity != "score":
        raise ValueError(f"unknown similarity {similarity!r}")
    w = similarity_weights(scores, m)
    keep = w > 1e-12  # negligible kernels only cost grid area
    return Density(lat[keep], lon[keep], w[keep] / w[keep].sum(), sigma_km * 1000.0)


def _clusters(lat: np.ndarray, lon: np.ndarray, link_m: float) -> list[np.ndarray]:
    """Single-linkage groups of kernel centres closer than ``link_m`` (union-find)."""
    n = len(lat)
    d = haversine_m(lat[:, None], lon[:, None], lat[None, :], lon[None, :])
    parent = list(range(n))

    def find(a: int) -> int:
        while parent[a] != a:
            parent[a] = parent[parent[a]]
            a = parent[a]
        return a

    for a, b in zip(*np.nonzero(np.triu(d <= link_m, 1)), strict=True):
        parent[find(int(a))] = find(int(b))
    groups: dict[int, list[int]] = {}
    for i in range(n):
        groups.setdefault(find(i), []).append(i)
    return [np.array(g) for g in groups.values()]


@dataclass
class _Grid:
    """Density of one cluster sampled on a local azimuthal-equidistant grid (metres)."""

    members: np.ndarray
    clat: float
    clon: float
    xs: np.ndarray
    ys: np.ndarray
    values: np.ndarray  # (len(ys), len(xs))
    cell_area: float

    def to_latlon(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        lat, lon = from_local_xy(self.clat, self.clon, x, y)
        return lat, unwrap_lon(lon, self.clon)


def _cluster_grid(dens: Density, members: np.ndarray) -> _Grid:
    """The cluster's density on a grid of its azimuthal-equidistant plane.

    Kernel distances are measured in that plane, not by haversine between grid cells and
    kernels: it needs no per-cell inverse projection (this was most of a query's KDE time),
    and within a cluster (kernels linked at ≤ 6σ) the plane distance differs from the
    great-circle one by a relative ~(r/R)² — below 1e-6 for clusters up to 6 km across."""
    sig = dens.sigma_m
    clat, clon = spherical_mean(dens.lat[members], dens.lon[members], dens.weights[members])
    px, py = local_xy(clat, clon, dens.lat[members], dens.lon[members])
    pad = _PAD_SIGMAS * sig
    x0, x1, y0, y1 = px.min() - pad, px.max() + pad, py.min() - pad, py.max() + pad
    step = max(sig / 5.0, max(x1 - x0, y1 - y0) / _MAX_CELLS)
    xs = np.arange(x0, x1 + step, step)
    ys = np.arange(y0, y1 + step, step)
    # separable: exp(-(dx²+dy²)/2σ²) = ey·ex, so the sum over kernels is one matrix product
    ex = np.exp(-0.5 * ((xs[None, :] - px[:, None]) / sig) ** 2)  # (kernels, len(xs))
    ey = np.exp(-0.5 * ((ys[None, :] - py[:, None]) / sig) ** 2)  # (kernels, len(ys))
    values = (ey * dens.weights[members][:, None]).T @ ex
    return _Grid(members, clat, clon, xs, ys, values, step * step)


def _region_geojson(grids: list[_Grid], level: float) -> dict:
    polygons = []
    for g in grids:
        rings = []
        for ring in contour_rings(g.values, level):
            y = np.interp(ring[:, 0], np.arange(len(g.ys)), g.ys)
            x = np.interp(ring[:, 1], np.arange(len(g.xs)), g.xs)
            lat, lon = g.to_latlon(x, y)
            rings.append(np.column_stack([lon, lat]))
        for poly in polygons_from_rings(rings):
            polygons.append([np.round(np.asarray(ring, np.float64), 7).tolist()
                             for ring in poly])
    return {"type": "MultiPolygon", "coordinates": polygons}


def estimate_location(candidates: list[Candidate], sigma_km: float = DEFAULT_SIGMA_KM,
                      m: float = DEFAULT_M, k: int = DEFAULT_K,
                      similarity: str = "inverse_distance") -> Estimate | None:
    """Where the top-k candidates agree the photo was taken; None when none has a location.

    ``regions`` holds {"50": GeoJSON MultiPolygon, "90": ...}: the highest-density regions that
    contain 50 % / 90 % of the estimated probability mass (several polygons when the matches
    split between places).
    """
    dens = fit_density(candidates, sigma_km, m, k, similarity)
    if dens is None:
        return None
    lat, lon = dens.mode()
    grids = [_cluster_grid(dens, g) for g in _clusters(dens.lat, dens.lon,
                                                        _LINK_SIGMAS * dens.sigma_m)]
    values = np.concatenate([g.values.ravel() for g in grids])
    mass = np.concatenate([g.values.ravel() * g.cell_area for g in grids])
    order = np.argsort(values)[::-1]
    cum = np.cumsum(mass[order]) / mass.sum()
    regions = {}
    for p in LEVELS:
        level = float(values[order][min(np.searchsorted(cum, p / 100.0), len(cum) - 1)])
        regions[str(p)] = _region_geojson(grids, level)

    near = int(np.argmin(haversine_m(lat, lon, dens.lat, dens.lon)))
    own = next(g for g in grids if near in g.members)
    ex, ey = local_xy(own.clat, own.clon, lat, lon)
    dist = np.hypot(own.xs[None, :] - ex, own.ys[:, None] - ey).ravel()
    cell_mass = own.values.ravel()
    by_dist = np.argsort(dist)
    cum_own = np.cumsum(cell_mass[by_dist]) / cell_mass.sum()
    radius = float(dist[by_dist][min(np.searchsorted(cum_own, 0.9), len(dist) - 1)])
    confidence = float(dens.weights[own.members].sum())
    return Estimate(lat=lat, lon=lon, radius_m=round(radius, 1), confidence=round(confidence, 4),
                    regions=regions)


def region_contains(region: dict, lat: float, lon: float) -> bool:
    """Whether (lat, lon) lies inside a GeoJSON (Multi)Polygon from :func:`estimate_location`.

    Each ring is tested in an azimuthal-equidistant plane centred on the ring, not in lon/lat,
    so rings around a pole or across the date line give the right answer; even-odd over all
    rings, so holes count.
    """
    polys = region.get("coordinates", [])
    if region.get("type") == "Polygon":
        polys = [polys]
    inside = False
    for poly in polys:
        for ring in poly:
            r = np.asarray(ring, dtype=np.float64)
            clat, clon = spherical_mean(r[:, 1], r[:, 0])
            plane = np.column_stack(local_xy(clat, clon, r[:, 1], r[:, 0]))
            qx, qy = local_xy(clat, clon, lat, lon)
            inside ^= bool(points_in_ring(qx, qy, plane))
    return inside


def with_distances(candidates: list[Candidate], estimate: Estimate | None) -> list[Candidate]:
    """Copies of the candidates with ``distance_m`` to the estimate filled in (headings kept)."""
    from dataclasses import replace

    out = []
    for c in candidates:
        d = None
        if estimate is not None and c.lat is not None and c.lon is not None:
            d = round(float(haversine_m(estimate.lat, estimate.lon, c.lat, c.lon)), 1)
        out.append(replace(c, distance_m=d))
    return out
