"""Driving the map page from GUI tests: run JS and wait for its value, find a marker on screen,
drag with the real mouse."""

from __future__ import annotations

import json

from PySide6.QtCore import QEvent, QPointF, Qt
from PySide6.QtGui import QMouseEvent
from PySide6.QtWidgets import QApplication


def js(qtbot, w, script: str):
    out = []
    w.run_js(script, out.append)
    qtbot.waitUntil(lambda: bool(out), timeout=10_000)
    return out[0]


def drag(qtbot, view, start: tuple[float, float], end: tuple[float, float], steps: int = 10):
    """A real left-button mouse drag on the web view (press, moves with the button held,
    release), the way a curator drags a marker."""
    target = view.focusProxy()

    def send(kind, x, y, buttons):
        pos = QPointF(int(x), int(y))
        QApplication.sendEvent(target, QMouseEvent(
            kind, pos, QPointF(target.mapToGlobal(pos.toPoint())), Qt.MouseButton.LeftButton,
            buttons, Qt.KeyboardModifier.NoModifier))

    send(QEvent.Type.MouseButtonPress, *start, Qt.MouseButton.LeftButton)
    qtbot.wait(50)
    for i in range(1, steps + 1):
        send(QEvent.Type.MouseMove, start[0] + (end[0] - start[0]) * i / steps,
             start[1] + (end[1] - start[1]) * i / steps, Qt.MouseButton.LeftButton)
        qtbot.wait(30)
    send(QEvent.Type.MouseButtonRelease, *end, Qt.MouseButton.NoButton)


def centre_of(qtbot, w, marker: str) -> tuple[float, float]:
    return tuple(json.loads(js(qtbot, w, f"""JSON.stringify((function () {{
        var r = {marker}.getElement().getBoundingClientRect();
        return [r.left + r.width / 2, r.top + r.height / 2];
    }})())""")))
