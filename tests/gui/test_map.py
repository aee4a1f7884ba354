"""The map in a real QWebEngineView: local Leaflet, one marker per candidate, and the
QWebChannel bridge both ways (marker click → candidate selected; selection → highlight)."""

from __future__ import annotations

import json
import re

from PySide6.QtCore import QPoint, Qt
from PySide6.QtTest import QTest

from geomatch_app.app.session import ManualPick


def _js(qtbot, view, script: str):
    out = []
    view.run_js(script, out.append)
    qtbot.waitUntil(lambda: bool(out), timeout=10_000)
    return out[0]


def _map_ready(qtbot, win):
    qtbot.waitUntil(lambda: win.map.ready and win.map.html_path is not None, timeout=30_000)
    # the bridge object arrives asynchronously after qwebchannel.js loads
    qtbot.waitUntil(lambda: _js(qtbot, win.map, "typeof window.geomatchMarkers === 'object' "
                                "&& typeof L === 'object'") is True, timeout=20_000)


def test_map_page_is_offline_with_one_marker_per_candidate(qtbot, ranked_window):
    win = ranked_window
    _map_ready(qtbot, win)
    html = win.map.html_path.read_text()
    scripts = re.findall(r'<script[^>]+src="([^"]+)"', html)
    leaflet = [s for s in scripts if s.endswith("leaflet.js")]
    assert leaflet and all(s.startswith("file://") for s in leaflet), scripts
    assert not [s for s in scripts if s.startswith(("http:", "https:", "//"))], scripts
    located = [c for c in win.grid.candidates if c.lat is not None]
    n = _js(qtbot, win.map, "Object.keys(window.geomatchMarkers).length")
    assert n == len(located) > 0
    assert _js(qtbot, win.map, "document.querySelectorAll('.gm-num').length") == len(located)


def test_clicking_a_marker_selects_the_candidate(qtbot, ranked_window):
    win = ranked_window
    _map_ready(qtbot, win)
    # the bridge must be connected before a click can reach Python
    qtbot.waitUntil(lambda: _js(qtbot, win.map, "!!(window.qt && window.qt.webChannelTransport)")
                    is True, timeout=10_000)
    rank = 2
    pos = _js(qtbot, win.map, f"""(function () {{
        try {{
            var m = window.geomatchMarkers[{rank}], map = window.geomatchMap;
            var el = m.getElement().getBoundingClientRect();
            return JSON.stringify([el.left + el.width / 2, el.top + el.height / 2]);
        }} catch (e) {{ return 'error: ' + e; }}
    }})()""")
    assert not pos.startswith("error"), pos
    pos = json.loads(pos)
    target = win.map.focusProxy()
    assert target is not None
    with qtbot.waitSignal(win.map.marker_clicked, timeout=10_000) as blocker:
        for _ in range(20):  # the channel may need a moment after the page loaded
            QTest.mouseClick(target, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier,
                             QPoint(int(pos[0]), int(pos[1])))
            qtbot.wait(200)
            if getattr(win.pick, "rank", None) == rank:
                break
    assert blocker.args == [rank]
    assert win.pick.rank == rank
    assert win.grid.selected_rank() == rank
    assert win.inspect_panel.currentIndex() == 1

    # and the other way: picking candidate 1 with the keyboard highlights its marker
    qtbot.keyClick(win, Qt.Key.Key_1)
    qtbot.waitUntil(lambda: _js(qtbot, win.map, "window.geomatchMarkers[1].getElement()"
                                ".classList.contains('gm-selected')") is True, timeout=10_000)


def test_map_click_places_manual_location_and_enter_confirms(qtbot, ranked_window, tmp_path):
    import sqlite3

    win = ranked_window
    _map_ready(qtbot, win)
    with qtbot.waitSignal(win.map.map_clicked, timeout=10_000):
        win.map.run_js("""(function () {
            var map = window.geomatchMap, b = map.getBounds();
            map.fire('click', {latlng: b.getCenter()});
        })()""")
    qtbot.waitUntil(lambda: isinstance(win.pick, ManualPick), timeout=10_000)
    win.curation.heading.setValue(90)
    lat, lon, heading = win.pick.lat, win.pick.lon, win.pick.heading
    assert heading == 90
    qtbot.keyClick(win, Qt.Key.Key_Return)
    with sqlite3.connect(tmp_path / "curation.sqlite") as con:
        row = con.execute("SELECT status, candidate_path, lat, lon, heading FROM decisions"
                          ).fetchone()
    assert row[:2] == ("confirmed", None)
    assert abs(row[2] - lat) < 1e-9 and abs(row[3] - lon) < 1e-9 and row[4] == 90
