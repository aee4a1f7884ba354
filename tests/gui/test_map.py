"""The map in the main window (real QWebEngineView): one marker per candidate, the QWebChannel
bridge both ways, placing by hand with the decision written to the store, the map kept (not
reloaded) across decisions, and the query's own EXIF GPS as a distinct marker."""

from __future__ import annotations

import json
import sqlite3

from mapdrive import centre_of, drag
from PySide6.QtCore import QPoint, Qt
from PySide6.QtTest import QTest

from geomatch_app.app.session import ManualPick
from geomatch_app.core.paths import demo_dir
from geomatch_app.gui.mapscheme import PAGE_URL


def _js(qtbot, view, script: str):
    out = []
    view.run_js(script, out.append)
    qtbot.waitUntil(lambda: bool(out), timeout=10_000)
    return out[0]


def _map_ready(qtbot, win):
    qtbot.waitUntil(lambda: win.map.ready, timeout=30_000)
    def shown() -> bool:
        n = len([c for c in win.grid.candidates if c.lat is not None])
        return _js(qtbot, win.map, "Object.keys(geomatch.markers).length") == n > 0

    try:
        qtbot.waitUntil(shown, timeout=40_000)
    except Exception:
        raise AssertionError(f"markers not drawn; page console: {win.map.console_messages()}, "
                             f"payload: {win.map.bridge.payload_json[:300]}") from None


def test_map_page_is_the_apps_own_with_one_marker_per_candidate(qtbot, ranked_window):
    win = ranked_window
    _map_ready(qtbot, win)
    assert win.map.view.url().toString() == PAGE_URL
    located = [c for c in win.grid.candidates if c.lat is not None]
    assert len(located) > 0
    assert _js(qtbot, win.map, "document.querySelectorAll('.gm-num').length") == len(located)
    tip = _js(qtbot, win.map, f"geomatch.markers[{located[0].rank}].openTooltip(); "
                              "document.querySelector('.leaflet-tooltip').textContent")
    assert f"#{located[0].rank}" in tip
    assert win.map.page_loads == 1
    assert not [m for m in win.map.console_messages() if "Error" in m]


def test_clicking_a_marker_selects_the_candidate(qtbot, ranked_window):
    win = ranked_window
    _map_ready(qtbot, win)
    rank = 2
    target = win.map.view.focusProxy()
    assert target is not None
    with qtbot.waitSignal(win.map.marker_clicked, timeout=10_000) as blocker:
        for _ in range(20):  # the page may still be laying out its markers
            pos = json.loads(_js(qtbot, win.map, f"""(function () {{
                var r = geomatch.markers[{rank}].getElement().getBoundingClientRect();
                return JSON.stringify([r.left + r.width / 2, r.top + r.height / 2]);
            }})()"""))
            QTest.mouseClick(target, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier,
                             QPoint(int(pos[0]), int(pos[1])))
            qtbot.wait(200)
            if getattr(win.pick, "rank", None) == rank:
                break
    assert blocker.args == [rank]
    qtbot.waitUntil(lambda: getattr(win.pick, "rank", None) == rank, timeout=5_000)
    assert win.grid.selected_rank() == rank
    assert win.inspect_panel.currentIndex() == 1

    # and the other way: picking candidate 1 with the keyboard highlights its marker
    qtbot.keyClick(win, Qt.Key.Key_1)
    qtbot.waitUntil(lambda: _js(qtbot, win.map, "geomatch.markers[1].getElement()"
                                ".classList.contains('gm-selected')") is True, timeout=10_000)


def test_place_by_hand_drag_the_direction_and_confirm(qtbot, ranked_window, tmp_path):
    win = ranked_window
    _map_ready(qtbot, win)
    with qtbot.waitSignal(win.map.manual_placed, timeout=10_000):
        win.map.run_js("geomatch.map.fire('click', {latlng: geomatch.map.getCenter()})")
    assert isinstance(win.pick, ManualPick)
    assert win.pick.heading is None and win.pick.placed == "camera" and win.pick.precision_m
    # drag the handle of the view cone with the mouse to due south of the camera point
    qtbot.waitUntil(lambda: _js(qtbot, win.map, "!!geomatch.manualHandle") is True,
                    timeout=5_000)
    px, py = centre_of(qtbot, win.map, "geomatch.manualPoint")
    with qtbot.waitSignal(win.map.manual_placed, timeout=10_000):
        drag(qtbot, win.map.view, centre_of(qtbot, win.map, "geomatch.manualHandle"),
             (px, py + 70))
    lat, lon, precision = win.pick.lat, win.pick.lon, win.pick.precision_m
    assert win.pick.heading == 180.0 and win.curation.heading.value() == 180.0
    assert str(lat)[::-1].find(".") <= 7  # rounded to the precision, not 14 decimals
    view = json.loads(_js(qtbot, win.map, "JSON.stringify([geomatch.map.getZoom(), "
                                          "geomatch.map.getCenter()])"))
    qtbot.keyClick(win, Qt.Key.Key_Return)
    with sqlite3.connect(tmp_path / "curation.sqlite") as con:
        row = con.execute("SELECT status, candidate_path, lat, lon, heading, precision_m, "
                          "placed FROM decisions").fetchone()
    assert row == ("confirmed", None, lat, lon, 180.0, precision, "camera")
    # the decision redraws the same page: confirmed marker, same view, no reload
    qtbot.waitUntil(lambda: _js(qtbot, win.map, "!!document.querySelector('.gm-confirmed')")
                    is True, timeout=10_000)
    after = json.loads(_js(qtbot, win.map, "JSON.stringify([geomatch.map.getZoom(), "
                                           "geomatch.map.getCenter()])"))
    assert after[0] == view[0]  # a layout change may shift the centre by a pixel, no more
    assert abs(after[1]["lat"] - view[1]["lat"]) < 1e-4
    assert abs(after[1]["lng"] - view[1]["lng"]) < 1e-4
    assert win.map.page_loads == 1
    p = json.loads(win.map.bridge.payload_json)["confirmed"]
    assert (p["precision_m"], p["placed"]) == (precision, "camera")
    # the heading box turns the placed camera too
    win.curation.heading.setValue(45)
    assert win.pick.heading == 45.0 and win.map.manual["heading"] == 45.0


def test_query_with_exif_gps_gets_its_own_marker(qtbot, ranked_window):
    win = ranked_window
    photo = str(demo_dir() / "images" / "arezzo_exif_gps" / "DSCN0010.jpg")
    with qtbot.waitSignal(win.query_ranked, timeout=60_000):
        win.add_photos([photo])
    win.queue.select_path(photo)
    qtbot.waitUntil(lambda: win.current == photo and win.session.result is not None,
                    timeout=10_000)
    qtbot.waitUntil(lambda: _js(qtbot, win.map, "!!document.querySelector('.gm-exif')")
                    is True, timeout=10_000)
    p = json.loads(win.map.bridge.payload_json)
    assert abs(p["exif"]["lat"] - 43.46745) < 1e-4 and p["fit"] is True
    assert win.map.page_loads == 1
