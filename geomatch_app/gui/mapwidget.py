"""The map: a QWebEngineView showing the local HTML page written by geo.mapview.render_map.

JS ↔ Python goes through a QWebChannel object named ``bridge`` (the contract with the map
page): marker click → ``bridge.markerClicked(rank)``, map click → ``bridge.mapClicked(lat,
lon)``; Python calls the page's ``geomatchHighlight(rank)`` and ``geomatchSetManual(lat, lon,
heading)``. The page is loaded with setUrl from a file (setHtml is capped at 2 MB).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from PySide6.QtCore import QObject, QUrl, Signal, Slot
from PySide6.QtWebChannel import QWebChannel
from PySide6.QtWebEngineCore import QWebEnginePage, QWebEngineSettings
from PySide6.QtWebEngineWidgets import QWebEngineView
from PySide6.QtWidgets import QWidget

log = logging.getLogger(__name__)


class MapBridge(QObject):
    """The object the page sees as ``bridge``. Its slots run on the GUI thread."""

    marker_clicked = Signal(int)
    map_clicked = Signal(float, float)

    @Slot(int)
    def markerClicked(self, rank: int) -> None:  # noqa: N802 - JS-facing name
        self.marker_clicked.emit(int(rank))

    @Slot(float, float)
    def mapClicked(self, lat: float, lon: float) -> None:  # noqa: N802 - JS-facing name
        self.map_clicked.emit(float(lat), float(lon))


class _Page(QWebEnginePage):
    """Forwards the page's console messages to logging (JS errors must not vanish)."""

    console: list[str]

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.console = []

    def javaScriptConsoleMessage(self, level, message, line, source):  # noqa: N802 - Qt API
        text = f"{Path(source).name}:{line}: {message}" if source else message
        self.console.append(text)
        log.debug("map page: %s", text)


class MapWidget(QWebEngineView):
    marker_clicked = Signal(int)
    map_clicked = Signal(float, float)
    loaded = Signal(bool)

    def __init__(self, parent: QWidget | None = None, online: bool = False) -> None:
        super().__init__(parent)
        self._page = _Page(self)
        self.setPage(self._page)
        self.bridge = MapBridge(self)
        self.channel = QWebChannel(self._page)
        self.channel.registerObject("bridge", self.bridge)
        self._page.setWebChannel(self.channel)
        self.bridge.marker_clicked.connect(self.marker_clicked)
        self.bridge.map_clicked.connect(self.map_clicked)
        s = self._page.settings()
        s.setAttribute(QWebEngineSettings.WebAttribute.LocalContentCanAccessFileUrls, True)
        self.set_online(online)
        self.loadFinished.connect(self._on_loaded)
        self.ready = False
        self.html_path: Path | None = None
        self._pending_js: list[str] = []

    def run_js(self, js: str, callback=None) -> None:
        """Run JS in the page (tests and callers that need a value back use the callback)."""
        if callback is None:
            self._page.runJavaScript(js)
        else:
            self._page.runJavaScript(js, 0, callback)

    def set_online(self, online: bool) -> None:
        """Remote tiles only when the curator switched them on."""
        self._page.settings().setAttribute(
            QWebEngineSettings.WebAttribute.LocalContentCanAccessRemoteUrls, bool(online))

    def console_messages(self) -> list[str]:
        return list(self._page.console)

    def show_file(self, html: str | Path) -> None:
        self.ready = False
        self._pending_js = []
        self.html_path = Path(html)
        self.setUrl(QUrl.fromLocalFile(str(self.html_path.resolve())))

    def show_message(self, text: str) -> None:
        """A page without map (no index yet, no location): still explains itself."""
        self.ready = False
        self.html_path = None
        self.setHtml(f"<html><body style='font-family:sans-serif;color:#555;padding:1em'>"
                     f"{_escape(text)}</body></html>")

    def highlight(self, rank: int) -> None:
        self._call(f"geomatchHighlight({int(rank)})")

    def set_manual(self, lat: float, lon: float, heading: float | None = None) -> None:
        self._call(f"geomatchSetManual({lat!r}, {lon!r}, {json.dumps(heading)})")

    def _call(self, fn_call: str) -> None:
        name = fn_call.split("(", 1)[0]
        js = f"if (typeof {name} === 'function') {{ {fn_call}; }}"
        if self.ready:
            self._page.runJavaScript(js)
        else:
            self._pending_js.append(js)

    def _on_loaded(self, ok: bool) -> None:
        self.ready = bool(ok) and self.html_path is not None
        if self.ready:
            for js in self._pending_js:
                self._page.runJavaScript(js)
        self._pending_js = []
        self.loaded.emit(bool(ok))


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
