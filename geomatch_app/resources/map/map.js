/* The geomatch map page: loaded once per session from geomatch://map/app/index.html.
 *
 * Everything it shows arrives as JSON strings through the QWebChannel object `bridge`
 * (signals layersChanged, payloadChanged, command; slot state() for the first picture) and is
 * parsed with JSON.parse; text is put into the DOM with textContent only, so no name, place id
 * or attribution can ever become script or markup (issue 17). What the curator does goes back
 * as calls: markerClicked(rank), mapClicked(lat, lon, zoom), manualMoved(lat, lon),
 * headingDragged(degrees). Python rounds and records; this page only draws.
 */
(function () {
  'use strict';

  var map = L.map('map', {zoomControl: true, maxZoom: 20, worldCopyJump: true})
    .setView([30, 10], 2);
  L.control.scale({imperial: false}).addTo(map);
  map.attributionControl.setPrefix('Leaflet');

  var G = {map: map, markers: {}, ready: false, layers: {}, online: null, onlineLoads: 0,
           onlineErrors: 0, manual: null, manualPoint: null, manualHandle: null, payload: null,
           loads: 0};
  window.geomatch = G;
  var bridge = null;
  var baseSpecs = [];

  // -- safe DOM helpers ------------------------------------------------------------------
  function esc(s) {  // for the attribution control, which Leaflet writes as HTML
    return String(s === null || s === undefined ? '' : s).replace(/[&<>"'`]/g, function (c) {
      return '&#' + c.charCodeAt(0) + ';';
    });
  }
  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) { e.className = cls; }
    if (text !== undefined && text !== null) { e.textContent = String(text); }
    return e;
  }
  function lines(list) {  // a tooltip: one text line per entry
    var box = el('div');
    (list || []).forEach(function (t, i) {
      box.appendChild(el('div', i === 0 ? '' : 'gm-tip-place', t));
    });
    return box;
  }
  function icon(node, size) {
    return L.divIcon({className: 'gm-icon', html: node, iconSize: [size, size],
                      iconAnchor: [size / 2, size / 2]});
  }
  function colour(c) { return /^#[0-9a-fA-F]{6}$/.test(c || '') ? c : '#999999'; }
  function num(v) { return typeof v === 'number' && isFinite(v); }
  function call(name) {
    var args = Array.prototype.slice.call(arguments, 1);
    if (bridge && typeof bridge[name] === 'function') { bridge[name].apply(bridge, args); }
  }

  // -- notes on the map ------------------------------------------------------------------
  var noteEl = document.getElementById('gm-note');
  var messageEl = document.getElementById('gm-message');
  function show(node, text) { node.textContent = text || ''; node.hidden = !text; }

  function boundsOf(spec) {
    var b = spec.bounds;
    return b ? L.latLngBounds([[b[1], b[0]], [b[3], b[2]]]) : null;
  }
  function covered(spec, z, view) {
    var b = boundsOf(spec);
    if (b && !b.intersects(view)) { return false; }
    if (spec.kind === 'vector') { return z >= spec.minzoom + 1; }  // levelDiff 1 below
    return z >= spec.minzoom && z <= spec.maxzoom;
  }
  function updateNote() {
    var z = map.getZoom(), view = map.getBounds(), msgs = [];
    var ok = baseSpecs.some(function (s) { return covered(s, z, view); });
    var onlineOk = G.online && !(G.onlineErrors > 0 && G.onlineLoads === 0) && z <= 19;
    if (G.online && G.onlineErrors > 0 && G.onlineLoads === 0) {
      msgs.push('Online tiles failed to load (no network, or the server refused) — ' +
                'showing the offline map');
    }
    if (!ok && !onlineOk) {
      if (!baseSpecs.length && !G.online) {
        msgs.push('No basemap: the grid shows latitude and longitude');
      } else {
        var ends = baseSpecs.filter(function (s) { return s.kind === 'raster'; })
          .map(function (s) { return s.maxzoom; });
        var top = ends.length ? Math.max.apply(null, ends) : null;
        msgs.push('No map data at this zoom here' +
                  (top !== null && z > top ? ' (basemap ends at z' + top + ')' : ''));
      }
    }
    G.covered = ok || !!onlineOk;
    show(noteEl, msgs.join(' · '));
    drawGrid(!G.covered);
  }

  // -- lat/lon grid: the only reference where there are no tiles ---------------------------
  var grid = L.layerGroup().addTo(map);
  function drawGrid(visible) {
    grid.clearLayers();
    if (!visible) { return; }
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
    function label(ll, text) {
      L.marker(ll, {interactive: false, keyboard: false, icon: L.divIcon({
        className: 'gm-grid-label', html: el('span', '', text), iconSize: null,
        iconAnchor: [-2, -2]})}).addTo(grid);
    }
    for (var la = Math.ceil(s / step) * step; la <= n; la += step) {
      L.polyline([[la, w], [la, e]], style).addTo(grid);
      label([la, w], la.toFixed(dec) + '°');
    }
    for (var lo = Math.ceil(w / step) * step; lo <= e; lo += step) {
      L.polyline([[s, lo], [n, lo]], style).addTo(grid);
      label([n, lo], (((lo + 540) % 360) - 180).toFixed(dec) + '°');
    }
  }
  map.on('moveend zoomend', updateNote);

  // -- tile layers -----------------------------------------------------------------------
  function makeLayer(spec, opacity) {
    var opts = {attribution: esc(spec.attribution), opacity: opacity};
    var b = boundsOf(spec);
    if (b) { opts.bounds = b; }
    if (spec.kind === 'vector') {
      opts.url = spec.url;
      opts.flavor = 'light';
      opts.lang = 'en';
      opts.maxDataZoom = spec.maxzoom;
      opts.minZoom = spec.minzoom + 1;  // 512 px data tiles: display z shows data z − 1
      opts.maxZoom = 20;
      return protomapsL.leafletLayer(opts);
    }
    // no maxNativeZoom beyond the data: past its last zoom a raster layer hides itself and
    // the note says so, instead of stretching one pixel over the screen (issue 14)
    opts.minZoom = spec.minzoom;
    opts.maxZoom = spec.maxzoom;
    opts.maxNativeZoom = spec.maxzoom;
    return L.tileLayer(spec.url, opts);
  }
  function applyLayers(cfg) {
    cfg = cfg || {};
    Object.keys(G.layers).forEach(function (k) { map.removeLayer(G.layers[k]); });
    G.layers = {};
    baseSpecs = cfg.base || [];
    baseSpecs.forEach(function (spec, i) {
      var layer = makeLayer(spec, 1.0);
      layer.setZIndex(1 + i);
      G.layers['base:' + spec.id] = layer.addTo(map);
    });
    G.online = null;
    G.onlineLoads = G.onlineErrors = 0;
    if (cfg.online) {
      var on = L.tileLayer(cfg.online.url, {maxZoom: 19, maxNativeZoom: 19,
                                            attribution: esc(cfg.online.attribution)});
      on.on('tileload', function () { G.onlineLoads += 1; updateNote(); });
      on.on('tileerror', function () { G.onlineErrors += 1; updateNote(); });
      on.setZIndex(50);
      G.layers.online = G.online = on.addTo(map);
    }
    if (cfg.overlay) {
      var ov = makeLayer(cfg.overlay, num(cfg.overlay_opacity) ? cfg.overlay_opacity : 0.7);
      ov.setZIndex(100);
      G.layers.overlay = ov.addTo(map);
    }
    updateNote();
  }

  // -- the query's data ------------------------------------------------------------------
  var data = L.layerGroup().addTo(map);
  var legend = L.control({position: 'bottomright'});
  legend.onAdd = function () { return el('div', 'gm-legend'); };
  legend.addTo(map);

  function cone(ll, heading, lenPx, halfDeg) {
    var p = map.latLngToLayerPoint(ll), pts = [ll];
    for (var a = -halfDeg; a <= halfDeg + 1e-9; a += halfDeg / 4) {
      var r = (heading + a) * Math.PI / 180;
      pts.push(map.layerPointToLatLng(L.point(p.x + lenPx * Math.sin(r),
                                               p.y - lenPx * Math.cos(r))));
    }
    return pts;
  }
  function tipOf(ll, heading, lenPx) {
    var p = map.latLngToLayerPoint(ll), r = heading * Math.PI / 180;
    return map.layerPointToLatLng(L.point(p.x + lenPx * Math.sin(r), p.y - lenPx * Math.cos(r)));
  }

  function applyPayload(p) {
    G.payload = p = p || {};
    data.clearLayers();
    G.markers = {};
    show(messageEl, p.message || '');
    // a photo without a map (unreadable): neutral and empty, nothing of the previous photo
    document.getElementById('map').classList.toggle('gm-blank', !!p.blank);
    if (p.blank) { map.setView([30, 10], 2, {animate: false}); }
    var pr = p.prior;  // the catalogue place's region the ranking was narrowed to
    if (pr && num(pr.lat) && num(pr.lon) && num(pr.radius_m)) {
      L.circle([pr.lat, pr.lon], {radius: pr.radius_m, color: '#d95f02', weight: 2,
                                  dashArray: '8,6', fill: true, fillOpacity: 0.04,
                                  className: 'gm-prior'})
        .bindTooltip(lines(pr.tooltip)).addTo(data);
    }
    var est = p.estimate;
    if (est) {
      var grey = est.trusted === false;  // "no match": drawn, but not as an estimate
      var rings = grey ? [['90', '#bbbbbb', 0.12], ['50', '#999999', 0.18]]
        : [['90', '#9e9ac8', 0.18], ['50', '#6a51a3', 0.28]];
      rings.forEach(function (r) {
        var g = est.regions && est.regions[r[0]];
        if (g && g.coordinates && g.coordinates.length) {
          L.geoJSON(g, {style: {color: r[1], weight: 1, fillColor: r[1], fillOpacity: r[2]}})
            .bindTooltip(el('span', '', r[0] + ' % region')).addTo(data);
        }
      });
      L.circle([est.lat, est.lon], {radius: est.radius_m, color: grey ? '#999999' : '#6a00a8',
                                    weight: 1.5,
                                    dashArray: '5,4', fill: false, interactive: false})
        .addTo(data);
      L.marker([est.lat, est.lon], {icon: icon(el('div', grey ? 'gm-est gm-untrusted' : 'gm-est',
                                                  '✛'), 22),
                                    zIndexOffset: 500})
        .bindTooltip(lines(est.tooltip)).addTo(data);
    }
    (p.candidates || []).forEach(function (c) {
      var node = el('div', 'gm-num', c.rank);
      node.style.background = colour(c.colour);
      if (num(c.heading)) {
        var d = el('div', 'gm-dir');
        d.style.transform = 'rotate(' + c.heading + 'deg)';
        node.appendChild(d);
      }
      var m = L.marker([c.lat, c.lon], {icon: icon(node, 22), zIndexOffset: 100 - c.rank})
        .bindTooltip(lines(c.tooltip)).addTo(data);
      m.on('click', function () { highlight(c.rank); call('markerClicked', c.rank); });
      G.markers[c.rank] = m;
    });
    if (p.exif) {
      L.marker([p.exif.lat, p.exif.lon], {icon: icon(el('div', 'gm-exif'), 16),
                                          zIndexOffset: 550})
        .bindTooltip(lines(p.exif.tooltip)).addTo(data);
    }
    if (p.truth) {
      L.marker([p.truth.lat, p.truth.lon], {icon: icon(el('div', 'gm-truth', '★'), 22),
                                            zIndexOffset: 600})
        .bindTooltip(lines(p.truth.tooltip)).addTo(data);
    }
    var conf = p.confirmed;
    if (conf) {
      if (num(conf.precision_m)) {
        L.circle([conf.lat, conf.lon], {radius: conf.precision_m, color: '#1a9850', weight: 1,
                                        fillOpacity: 0.08, interactive: false}).addTo(data);
      }
      if (num(conf.heading)) {
        G.confirmedCone = L.polygon(cone(L.latLng(conf.lat, conf.lon), conf.heading, 60, 25),
          {color: '#1a9850', weight: 1.5, fillOpacity: 0.2, interactive: false}).addTo(data);
      }
      L.marker([conf.lat, conf.lon], {icon: icon(el('div', 'gm-confirmed', '✓'), 18),
                                      zIndexOffset: 700})
        .bindTooltip(lines(conf.tooltip)).addTo(data);
    }
    var box = legend.getContainer();
    box.textContent = '';
    if (p.legend) {
      box.appendChild(document.createTextNode('score ' + p.legend.lo.toFixed(2) + ' '));
      p.legend.colours.forEach(function (c) {
        var s = el('span');
        s.style.background = colour(c);
        box.appendChild(s);
      });
      box.appendChild(document.createTextNode(' ' + p.legend.hi.toFixed(2)));
    }
    box.hidden = !p.legend;
    if (p.fit && p.bounds) { map.fitBounds(p.bounds, {maxZoom: 18, animate: false}); }
    highlight(p.selected);
    setManual(p.manual || null);
    updateNote();
  }

  function highlight(rank) {
    Object.keys(G.markers).forEach(function (r) {
      var e = G.markers[r].getElement && G.markers[r].getElement();
      if (e) { e.classList.toggle('gm-selected', parseInt(r, 10) === rank); }
    });
    var m = G.markers[rank];
    if (m) {
      m.setZIndexOffset(1000);
      if (!map.getBounds().contains(m.getLatLng())) { map.panTo(m.getLatLng()); }
    }
  }

  // -- placing by hand: camera point, direction handle, view cone, precision circle ----------
  var manualLayer = L.layerGroup().addTo(map);
  var CONE_PX = 70, CONE_HALF = 25;

  function setManual(m) {
    G.manual = m;
    drawManual();
    if (m && !map.getBounds().contains([m.lat, m.lon])) { map.panTo([m.lat, m.lon]); }
  }
  function drawManual() {
    manualLayer.clearLayers();
    G.manualPoint = G.manualHandle = G.manualCone = null;
    var m = G.manual;
    if (!m) { return; }
    var ll = L.latLng(m.lat, m.lon);
    var camera = m.placed !== 'subject';
    L.circle(ll, {radius: m.precision_m, color: '#ff7f00', weight: 1, fillOpacity: 0.08,
                  interactive: false}).addTo(manualLayer);
    var cone = null;
    if (camera && num(m.heading)) {
      cone = L.polygon(coneAt(ll, m.heading), {color: '#ff7f00', weight: 1.5,
        fillOpacity: 0.25, interactive: false}).addTo(manualLayer);
    }
    var point = L.marker(ll, {draggable: true, keyboard: false, zIndexOffset: 2000,
                              icon: icon(el('div', camera ? 'gm-camera' : 'gm-subject'), 18)})
      .bindTooltip(lines(m.tooltip)).addTo(manualLayer);
    var handle = null;
    if (camera) {
      handle = L.marker(tipOf(ll, num(m.heading) ? m.heading : 0, CONE_PX),
                        {draggable: true, keyboard: false, zIndexOffset: 2100,
                         icon: icon(el('div', 'gm-handle'), 14)})
        .bindTooltip(el('span', '', num(m.heading) ? 'facing ' + m.heading + '° — drag to turn'
                                                   : 'drag to set the camera direction'))
        .addTo(manualLayer);
      handle.on('drag', function (e) {
        var h = headingTo(point.getLatLng(), e.latlng);
        if (cone) { cone.setLatLngs(coneAt(point.getLatLng(), h)); } else {
          cone = L.polygon(coneAt(point.getLatLng(), h), {color: '#ff7f00', weight: 1.5,
            fillOpacity: 0.25, interactive: false}).addTo(manualLayer);
        }
      });
      handle.on('dragend', function () {
        call('headingDragged', headingTo(point.getLatLng(), handle.getLatLng()));
      });
    }
    point.on('drag', function (e) {
      var h = G.manual && num(G.manual.heading) ? G.manual.heading : 0;
      if (cone) { cone.setLatLngs(coneAt(e.latlng, h)); }
      if (handle) { handle.setLatLng(tipOf(e.latlng, h, CONE_PX)); }
    });
    point.on('dragend', function () {
      var p = point.getLatLng();
      call('manualMoved', p.lat, p.lng);
    });
    G.manualPoint = point;
    G.manualHandle = handle;
    G.manualCone = cone;
  }
  function coneAt(ll, heading) { return cone(ll, heading, CONE_PX, CONE_HALF); }
  function headingTo(from, to) {  // screen bearing, degrees clockwise from north
    var a = map.latLngToLayerPoint(from), b = map.latLngToLayerPoint(to);
    var h = Math.atan2(b.x - a.x, a.y - b.y) * 180 / Math.PI;
    return (h + 360) % 360;
  }
  map.on('zoomend', drawManual);
  map.on('click', function (e) {
    if (G.payload && G.payload.blank) { return; }
    call('mapClicked', e.latlng.lat, e.latlng.lng, map.getZoom()); });

  // -- commands from Python ---------------------------------------------------------------
  function applyCommand(c) {
    if (c.cmd === 'highlight') { highlight(c.rank); }
    else if (c.cmd === 'manual') { setManual(c.manual); }
    else if (c.cmd === 'fly') { map.setView([c.lat, c.lon], c.zoom, {animate: false}); }
    else if (c.cmd === 'opacity' && G.layers.overlay) { G.layers.overlay.setOpacity(c.value); }
  }

  function connect() {
    if (!(window.qt && window.qt.webChannelTransport)) {
      show(messageEl, 'This page runs inside geomatch.');
      return;
    }
    new QWebChannel(window.qt.webChannelTransport, function (ch) {
      bridge = ch.objects.bridge;
      bridge.layersChanged.connect(function (s) { applyLayers(JSON.parse(s)); });
      bridge.payloadChanged.connect(function (s) { G.loads += 1; applyPayload(JSON.parse(s)); });
      bridge.command.connect(function (s) { applyCommand(JSON.parse(s)); });
      bridge.state(function (s) {
        var st = JSON.parse(s);
        applyLayers(st.layers);
        applyPayload(st.payload);
        G.ready = true;
        call('pageReady');
      });
    });
  }
  connect();
})();
