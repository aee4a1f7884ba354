"""A minimal map page used only while geo.mapview is not installed: the vendored Leaflet,
numbered candidate markers, the estimate circle, no tiles, and the same JS bridge contract
(``bridge.markerClicked``, ``bridge.mapClicked``, ``geomatchHighlight``, ``geomatchSetManual``).
"""

from __future__ import annotations

import json
from pathlib import Path

from geomatch_app.core.paths import leaflet_dir

_PAGE = """<!DOCTYPE html><html><head><meta charset="utf-8">
<link rel="stylesheet" href="{css}"><script src="{js}"></script>
<style>html,body,#map{{height:100%;margin:0;background:#eef}}</style></head>
<body><div id="map"></div><script>
var data = {data};
var map = L.map('map');
L.control.scale().addTo(map);
var markers = {{}}, bounds = [];
data.candidates.forEach(function (c) {{
  if (c.lat === null) return;
  var m = L.circleMarker([c.lat, c.lon], {{radius: 8, color: c.color, fillOpacity: 0.8}})
    .bindTooltip(String(c.rank), {{permanent: true, direction: 'center'}}).addTo(map);
  m.on('click', function () {{ if (window.bridge) bridge.markerClicked(c.rank); }});
  markers[c.rank] = m; bounds.push([c.lat, c.lon]);
}});
if (data.estimate) {{
  L.circle([data.estimate.lat, data.estimate.lon], {{radius: data.estimate.radius_m}}).addTo(map);
  bounds.push([data.estimate.lat, data.estimate.lon]);
}}
if (bounds.length) map.fitBounds(bounds, {{padding: [30, 30], maxZoom: 17}});
else map.setView([20, 0], 2);
map.on('click', function (e) {{
  if (window.bridge) bridge.mapClicked(e.latlng.lat, e.latlng.lng);
}});
var manual = null;
function geomatchHighlight(rank) {{
  Object.keys(markers).forEach(function (r) {{
    markers[r].setStyle({{weight: r == rank ? 5 : 3}});
  }});
}}
function geomatchSetManual(lat, lon, heading) {{
  if (manual) map.removeLayer(manual);
  manual = L.marker([lat, lon]).addTo(map);
}}
if (window.qt && window.qt.webChannelTransport) {{
  var s = document.createElement('script');
  s.src = 'qrc:///qtwebchannel/qwebchannel.js';
  s.onload = function () {{
    new QWebChannel(qt.webChannelTransport, function (ch) {{ window.bridge = ch.objects.bridge; }});
  }};
  document.head.appendChild(s);
}}
</script></body></html>"""


def render_fallback(out_html: str | Path, candidates, estimate=None, **_ignored) -> Path:
    leaflet = leaflet_dir()
    data = {
        "candidates": [{"rank": c.rank, "lat": c.lat, "lon": c.lon, "color": _color(c.score)}
                       for c in candidates],
        "estimate": estimate.to_json() if estimate is not None else None,
    }
    out = Path(out_html)
    out.write_text(_PAGE.format(css=(leaflet / "leaflet.css").as_uri(),
                                js=(leaflet / "leaflet.js").as_uri(), data=json.dumps(data)))
    return out


def _color(score: float) -> str:
    s = max(0.0, min(1.0, float(score)))
    return f"#{int(255 * (1 - s)):02x}{int(200 * s):02x}40"
