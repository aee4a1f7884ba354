"""The map panel in a real QWebEngineView (offscreen), without a model: tiles through the
geomatch:// scheme, overzoom, the Helsinki street demo, script safety, search, placing by hand,
one page load per session."""

from __future__ import annotations

import io
import json
import sqlite3

import pytest
from mapdrive import centre_of, drag, js
from PIL import Image
from PySide6.QtGui import QColor

from geomatch_app.core.types import Candidate

HELSINKI = (60.1708, 24.9440)
EVIL = ["`", "${window.__pwned=1}", "</script><script>window.__pwned=2</script>",
        "<img src=x onerror=\"window.__pwned=3\">", "${alert(1)}", "<img src=x onerror=alert(2)>"]


@pytest.fixture
def mapw(qtbot):
    from geomatch_app.gui.mapwidget import MapWidget

    made = []

    def make(**kw):
        w = MapWidget(**kw)
        w.resize(800, 600)
        w.show()
        made.append(w)
        qtbot.waitUntil(lambda: w.ready, timeout=30_000)
        return w

    yield make
    for w in made:
        w.close()
        w.deleteLater()
    qtbot.wait(50)


def png(colour, tag: str = "") -> bytes:
    from PIL.PngImagePlugin import PngInfo

    info = PngInfo()
    info.add_text("tile", tag)  # distinct bytes per tile: the PMTiles writer's run-length
    buf = io.BytesIO()          # encoding would otherwise misreport the archive's max zoom
    Image.new("RGB", (256, 256), colour).save(buf, "PNG", pnginfo=info)
    return buf.getvalue()


def mbtiles(path, colour, zooms=(0, 1, 2, 3), attribution="fixture"):
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE metadata (name text, value text)")
    con.execute("CREATE TABLE tiles (zoom_level int, tile_column int, tile_row int, "
                "tile_data blob)")
    con.executemany("INSERT INTO metadata VALUES (?, ?)",
                    [("format", "png"), ("attribution", attribution)])
    data = png(colour)
    con.executemany("INSERT INTO tiles VALUES (?, ?, ?, ?)",
                    [(z, x, y, data) for z in zooms for x in range(1 << z)
                     for y in range(1 << z)])
    con.commit()
    con.close()
    return path


def pmtiles(path, colour, zooms=(0, 1, 2, 3)):
    from pmtiles.tile import Compression, TileType, zxy_to_tileid
    from pmtiles.writer import Writer

    with open(path, "wb") as f:
        w = Writer(f)
        for tid in sorted(zxy_to_tileid(z, x, y) for z in zooms for x in range(1 << z)
                          for y in range(1 << z)):
            w.write_tile(tid, png(colour, str(tid)))
        w.finalize({"tile_type": TileType.PNG, "tile_compression": Compression.NONE,
                    "min_lon_e7": -1_800_000_000, "min_lat_e7": -850_000_000,
                    "max_lon_e7": 1_800_000_000, "max_lat_e7": 850_000_000, "center_zoom": 0,
                    "center_lon_e7": 0, "center_lat_e7": 0}, {"attribution": "pm"})
    return path


def centre_pixel(qtbot, w) -> QColor:
    qtbot.wait(300)
    img = w.view.grab().toImage()
    return img.pixelColor(img.width() // 2, img.height() // 2 + 40)


def is_colour(c: QColor, rgb) -> bool:
    return all(abs(a - b) <= 12 for a, b in zip((c.red(), c.green(), c.blue()), rgb,
                                                 strict=True))


def test_names_and_attribution_never_run_as_script(qtbot, mapw, tmp_path):
    evil = "".join(EVIL)
    w = mapw(basemap=str(mbtiles(tmp_path / "e.mbtiles", (200, 200, 200), attribution=evil)))
    cands = [Candidate(1, 0.9, f"/g/a{EVIL[0]}{EVIL[1]}{EVIL[3]}{EVIL[4]}.jpg", 55.70, 13.19,
                       place_id=evil),
             Candidate(2, 0.5, "/g/b.jpg", 55.701, 13.191, place_id="`")]
    w.show_query("/q.jpg", cands, None)
    qtbot.waitUntil(lambda: js(qtbot, w, "Object.keys(geomatch.markers).length") == 2,
                    timeout=10_000)
    tip = js(qtbot, w, "geomatch.markers[1].openTooltip(); "
                       "document.querySelector('.leaflet-tooltip').textContent")
    assert evil in tip and f"a{EVIL[0]}{EVIL[1]}{EVIL[3]}{EVIL[4]}.jpg" in tip
    assert evil in js(qtbot, w, "document.querySelector('.leaflet-control-attribution')"
                                ".textContent")
    qtbot.wait(500)  # give an injected onerror time to fire
    assert js(qtbot, w, "typeof window.__pwned") == "undefined"
    assert js(qtbot, w, "document.querySelectorAll('img[src=\"x\"], script:not([src])')"
                        ".length") == 0
    assert w.page.dialogs == []  # alert(1) / alert(2) never ran
    assert js(qtbot, w, "typeof L === 'object' && geomatch.ready") is True


def test_page_has_no_file_access_and_no_network_unless_online(qtbot, mapw):
    from PySide6.QtWebEngineCore import QWebEngineSettings

    w = mapw(basemap="none")
    a = QWebEngineSettings.WebAttribute
    assert not w.page.settings().testAttribute(a.LocalContentCanAccessFileUrls)
    assert not w.page.settings().testAttribute(a.LocalContentCanAccessRemoteUrls)
    w.run_js("window.__file = 'pending'; fetch('file:///etc/hostname')"
             ".then(function (r) { return r.text(); })"
             ".then(function (t) { window.__file = 'read:' + t; })"
             ".catch(function () { window.__file = 'refused'; });"
             "var i = new Image(); i.src = 'https://tile.example.org/1/0/0.png';"
             "document.body.appendChild(i);")
    qtbot.waitUntil(lambda: js(qtbot, w, "window.__file") != "pending", timeout=10_000)
    assert js(qtbot, w, "window.__file") == "refused"
    qtbot.waitUntil(lambda: any("tile.example.org" in u for u in w.guard.blocked),
                    timeout=10_000)
    assert "No basemap" in js(qtbot, w, "document.getElementById('gm-note').textContent")


def test_raster_tiles_come_through_the_scheme_and_stop_at_their_last_zoom(qtbot, mapw,
                                                                           tmp_path):
    w = mapw(basemap="none")
    w.set_basemap(str(mbtiles(tmp_path / "red.mbtiles", (255, 0, 0))))
    w.fly_to(55.7, 13.2, 3)
    qtbot.waitUntil(lambda: any(p.startswith("/tiles/user/3/") for p in w.scheme.served),
                    timeout=10_000)
    qtbot.waitUntil(lambda: is_colour(centre_pixel(qtbot, w), (255, 0, 0)), timeout=10_000)
    # beyond z3 (and the world map's z6): a note, the grid, never a stretched tile
    w.fly_to(55.7, 13.2, 9)
    qtbot.waitUntil(lambda: "basemap ends at z6" in js(
        qtbot, w, "document.getElementById('gm-note').textContent"), timeout=10_000)
    assert not is_colour(centre_pixel(qtbot, w), (255, 0, 0))
    assert not [p for p in w.scheme.served if p.startswith(("/tiles/user/4/",
                                                            "/tiles/world/9/"))]
    assert js(qtbot, w, "geomatch.covered") is False
    assert "gm-grid-label" in js(qtbot, w, "document.body.innerHTML")

    # a PMTiles overlay on top, with its opacity slider
    w.set_overlay(str(pmtiles(tmp_path / "blue.pmtiles", (0, 0, 255))))
    w.fly_to(55.7, 13.2, 3)
    qtbot.waitUntil(lambda: is_colour(centre_pixel(qtbot, w), (77, 0, 179)), timeout=10_000)
    assert any(p.startswith("/tiles/overlay/3/") for p in w.scheme.served)
    w.opacity.setValue(0)
    qtbot.waitUntil(lambda: is_colour(centre_pixel(qtbot, w), (255, 0, 0)), timeout=10_000)
    w.opacity.setValue(100)
    qtbot.waitUntil(lambda: is_colour(centre_pixel(qtbot, w), (0, 0, 255)), timeout=10_000)
    w.set_overlay("")
    qtbot.waitUntil(lambda: is_colour(centre_pixel(qtbot, w), (255, 0, 0)), timeout=10_000)


def test_vector_mbtiles_are_drawn_by_protomaps_leaflet(qtbot, mapw, tmp_path):
    import gzip

    mvt = pytest.importorskip("mapbox_vector_tile")
    square = "POLYGON((0 0, 4096 0, 4096 4096, 0 4096, 0 0))"
    tile = mvt.encode([{"name": "earth", "features": [{"geometry": square, "properties": {}}]},
                       {"name": "water", "features": [{"geometry": square,
                                                       "properties": {"kind": "water"}}]}])
    con = sqlite3.connect(tmp_path / "v.mbtiles")
    con.execute("CREATE TABLE metadata (name text, value text)")
    con.execute("CREATE TABLE tiles (zoom_level int, tile_column int, tile_row int, "
                "tile_data blob)")
    con.executemany("INSERT INTO metadata VALUES (?, ?)", [("format", "pbf"),
                                                           ("attribution", "vector fixture")])
    # every z4 tile: data z4 is drawn at display z5 (512 px data tiles)
    con.executemany("INSERT INTO tiles VALUES (4, ?, ?, ?)",
                    [(x, y, gzip.compress(tile)) for x in range(16) for y in range(16)])
    con.commit()
    con.close()
    w = mapw(basemap="none")
    w.set_basemap(str(tmp_path / "v.mbtiles"))
    w.fly_to(51.0, 10.0, 5)  # inland Germany: the world map beneath is land, not sea
    qtbot.waitUntil(lambda: any(p.startswith("/tiles/world/5/") for p in w.scheme.served),
                    timeout=10_000)
    qtbot.waitUntil(lambda: any(p.startswith("/tiles/user/4/") for p in w.scheme.served),
                    timeout=10_000)
    qtbot.waitUntil(lambda: centre_pixel(qtbot, w).blue() > centre_pixel(qtbot, w).red() + 20,
                    timeout=10_000)  # the style's water blue, not the grey page background
    assert js(qtbot, w, "geomatch.covered") is True


def test_helsinki_demo_draws_streets_at_z16(qtbot, mapw):
    w = mapw(basemap="offline")
    w.fly_to(*HELSINKI, 16)
    qtbot.waitUntil(lambda: sum(p.startswith("/tiles/streets/15/") for p in w.scheme.served)
                    >= 2, timeout=15_000)
    qtbot.wait(1500)  # protomaps-leaflet paints its canvases after the data arrives
    img = w.view.grab().toImage().scaled(200, 150)
    colours = [img.pixelColor(x, y).rgb() for x in range(200) for y in range(150)]
    white = sum(1 for c in colours if c & 0xFFFFFF == 0xFFFFFF) / len(colours)
    assert white > 0.05, "no roads drawn"  # the light style draws roads white
    assert len(set(colours)) > 30  # buildings, parks, labels, not one flat colour
    assert js(qtbot, w, "geomatch.covered") is True
    assert js(qtbot, w, "document.getElementById('gm-note').hidden") is True


def test_search_moves_the_map(qtbot, mapw):
    w = mapw(basemap="none")
    assert w.search_place("Lund, SE")
    qtbot.waitUntil(lambda: abs(js(qtbot, w, "geomatch.map.getCenter().lat") - 55.705) < 0.01,
                    timeout=10_000)
    assert abs(js(qtbot, w, "geomatch.map.getCenter().lng") - 13.193) < 0.01
    w.search.setText("60.1708, 24.9440")
    w.search.returnPressed.emit()
    qtbot.waitUntil(lambda: js(qtbot, w, "geomatch.map.getZoom()") == 16, timeout=10_000)
    assert not w.search_place("Xyzzyqwv")


def test_failing_online_tiles_say_so_on_the_map(qtbot, mapw):
    w = mapw(basemap="https://127.0.0.1:9/{z}/{x}/{y}.png | nobody listens here")
    assert w.online and w.guard.online
    w.fly_to(55.7, 13.2, 8)
    qtbot.waitUntil(lambda: "Online tiles failed to load" in js(
        qtbot, w, "document.getElementById('gm-note').textContent"), timeout=20_000)
    assert "nobody listens here" in js(
        qtbot, w, "document.querySelector('.leaflet-control-attribution').textContent")
    w.set_basemap("offline")
    assert not w.guard.online


def test_placing_by_hand_and_one_page_load(qtbot, mapw):
    w = mapw(basemap="none")
    cands = [Candidate(1, 0.9, "/g/a.jpg", 60.1708, 24.9440, heading=45.0),
             Candidate(2, 0.5, "/g/b.jpg", 60.1712, 24.9460)]
    w.show_query("/q1.jpg", cands, None)
    qtbot.waitUntil(lambda: js(qtbot, w, "Object.keys(geomatch.markers).length") == 2,
                    timeout=10_000)
    js(qtbot, w, "geomatch.map.setView([60.1710, 24.9450], 18, {animate: false}); 1")
    with qtbot.waitSignal(w.manual_placed, timeout=10_000) as got:
        w.run_js("geomatch.map.fire('click', {latlng: L.latLng(60.17101234567, "
                 "24.94512345678)})")
    lat, lon, heading, precision, placed = got.args
    # z18 at 60.17° N: 20 px × 0.298 m = 6 m → 10 m, so 5 decimals
    assert [lat, lon, heading, precision, placed] == [60.17101, 24.94512, None, 10.0, "camera"]
    assert w.precision.value() == 10 and w.precision.isEnabled()

    # drag the direction handle (with the mouse) due east of the camera point: 90°, whole degrees
    qtbot.waitUntil(lambda: js(qtbot, w, "!!geomatch.manualHandle") is True, timeout=5_000)
    px, py = centre_of(qtbot, w, "geomatch.manualPoint")
    with qtbot.waitSignal(w.manual_placed, timeout=10_000) as got:
        drag(qtbot, w.view, centre_of(qtbot, w, "geomatch.manualHandle"), (px + 70, py))
    assert got.args[2] == 90.0
    qtbot.waitUntil(lambda: js(qtbot, w, "!!geomatch.manualCone") is True, timeout=10_000)

    # drag the point: it moves, keeps its heading, is rounded again
    with qtbot.waitSignal(w.manual_placed, timeout=10_000) as got:
        w.run_js("geomatch.manualPoint.setLatLng([60.170555555, 24.944444444]);"
                 "geomatch.manualPoint.fire('dragend')")
    assert got.args[:3] == [60.17056, 24.94444, 90.0]
    with qtbot.waitSignal(w.manual_placed, timeout=10_000) as got:  # and with the mouse
        drag(qtbot, w.view, centre_of(qtbot, w, "geomatch.manualPoint"), (px - 50, py + 30))
    assert got.args[2] == 90.0 and got.args[:2] != [60.17056, 24.94444]
    with qtbot.waitSignal(w.manual_placed, timeout=10_000):
        w.run_js("geomatch.manualPoint.setLatLng([60.170555555, 24.944444444]);"
                 "geomatch.manualPoint.fire('dragend')")

    # a coarser precision rounds coarser; the subject has no direction
    with qtbot.waitSignal(w.manual_placed, timeout=10_000) as got:
        w.precision.setValue(200)
    assert got.args[:4] == [60.171, 24.944, 90.0, 200.0]  # 3 decimals: 111 m steps
    with qtbot.waitSignal(w.manual_placed, timeout=10_000) as got:
        w.placed.setCurrentIndex(w.placed.findData("subject"))
    assert got.args[2:] == [None, 200.0, "subject"]
    qtbot.waitUntil(lambda: js(qtbot, w, "!!document.querySelector('.gm-subject')") is True,
                    timeout=10_000)
    with qtbot.waitSignal(w.manual_placed, timeout=10_000) as got:
        w.placed.setCurrentIndex(w.placed.findData("camera"))
    assert got.args[2] == 90.0  # the direction comes back with the camera

    # a decision re-sends the same query: the curator's view stays, the page is not reloaded
    js(qtbot, w, "geomatch.map.setView([60.1720, 24.9470], 17, {animate: false}); 1")
    w.show_query("/q1.jpg", cands, None, confirmed=(60.1706, 24.9444, 90.0, 200.0, "camera"))
    qtbot.waitUntil(lambda: js(qtbot, w, "!!document.querySelector('.gm-confirmed')") is True,
                    timeout=10_000)
    view = json.loads(js(qtbot, w, "JSON.stringify([geomatch.map.getZoom(), "
                                   "geomatch.map.getCenter()])"))
    assert view[0] == 17 and abs(view[1]["lat"] - 60.1720) < 1e-6
    assert w.manual is not None  # the hand placement survives a redraw of the same photo
    # a new photo frames its own data and forgets the placement
    w.show_query("/q2.jpg", [Candidate(1, 0.9, "/g/c.jpg", 55.70, 13.19)], None)
    qtbot.waitUntil(lambda: abs(js(qtbot, w, "geomatch.map.getCenter().lat") - 55.70) < 0.01,
                    timeout=10_000)
    assert w.manual is None and not w.precision.isEnabled()
    assert w.page_loads == 1


def test_an_unreadable_basemap_is_reported_and_the_offline_map_stays(qtbot, tmp_path):
    from geomatch_app.gui.mapwidget import MapWidget

    bad = tmp_path / "broken.mbtiles"
    bad.write_bytes(b"this is no tile set")
    errors = []
    w = MapWidget(basemap=str(bad))
    w.error.connect(errors.append)  # connected after construction, as the window does
    try:
        qtbot.waitUntil(lambda: bool(errors), timeout=5_000)
        assert "broken.mbtiles" in str(errors[0]) and "neither an MBTiles" in str(errors[0])
        assert "world" in w.tiles.layers and "user" not in w.tiles.layers
        w.set_overlay(str(tmp_path / "missing.pmtiles"))
        qtbot.waitUntil(lambda: len(errors) == 2, timeout=5_000)
        assert w.overlay_path == "" and not w.opacity.isVisibleTo(w)
    finally:
        w.close()
        w.deleteLater()
        qtbot.wait(50)


def test_place_names_wait_for_the_gate_then_load(qtbot, monkeypatch):
    """run_gui closes NAMES_GATE until the first ranking: the loader thread waits for it (so the
    names' load does not compete with torch's import and the first query), then builds the
    cache in a child process and loads the table."""
    import threading

    from geomatch_app.geo import geocode
    from geomatch_app.gui import mapwidget

    calls, loaded = [], threading.Event()
    monkeypatch.setattr(geocode, "is_loaded", lambda: False)
    monkeypatch.setattr(geocode, "build_cache_in_child", lambda: calls.append("cache"))
    monkeypatch.setattr(geocode, "gazetteer", lambda: (calls.append("load"), loaded.set()))
    names = mapwidget._Names()
    mapwidget.NAMES_GATE.clear()
    try:
        names.start()
        assert not loaded.wait(0.3) and calls == []
        with qtbot.waitSignal(names.loaded, timeout=5000):
            mapwidget.NAMES_GATE.set()
        assert calls == ["cache", "load"]
    finally:
        mapwidget.NAMES_GATE.set()
