"""The map panel: a tool row (place search, camera/subject, precision, historical overlay) over a
QWebEngineView that loads the map page once per session.

Python → page: JSON strings on the QWebChannel object ``bridge`` (signals ``layersChanged``,
``payloadChanged``, ``command``; slot ``state()`` for the first picture). The page parses them
itself, so no data is ever pasted into JavaScript source. Page → Python: ``markerClicked(rank)``,
``mapClicked(lat, lon, zoom)``, ``manualMoved(lat, lon)``, ``headingDragged(deg)``.

The widget owns the hand placement (``manual``): a click sets the camera point with a precision
radius from the zoom (coordinates rounded to it), dragging moves it, dragging the handle turns
the view cone in 1° steps; every change is emitted as ``manual_placed(lat, lon, heading,
precision_m, placed)``. Selecting a candidate emits ``marker_clicked(rank)``.
"""

from __future__ import annotations

import json
import logging
import threading
from pathlib import Path

from PySide6.QtCore import QEvent, QObject, Qt, QTimer, QUrl, Signal, Slot
from PySide6.QtWebChannel import QWebChannel
from PySide6.QtWebEngineCore import QWebEnginePage, QWebEngineProfile, QWebEngineSettings
from PySide6.QtWebEngineWidgets import QWebEngineView
from PySide6.QtWidgets import (
    QComboBox,
    QCompleter,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMenu,
    QSlider,
    QSpinBox,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from geomatch_app.core.errors import GeomatchError
from geomatch_app.core.types import Candidate, Estimate
from geomatch_app.geo import geocode
from geomatch_app.geo.mapview import (
    basemap_layers,
    manual_json,
    map_payload,
    precision_for_zoom,
    round_heading,
    round_to_precision,
)
from geomatch_app.geo.tiles import TileServer, describe, open_tiles
from geomatch_app.gui.mapscheme import (
    PAGE_URL,
    SCHEME,
    MapRequestGuard,
    MapSchemeHandler,
)

log = logging.getLogger(__name__)


class MapBridge(QObject):
    """The object the page sees as ``bridge``. Its slots run on the GUI thread."""

    layersChanged = Signal(str)  # noqa: N815 - JS-facing names
    payloadChanged = Signal(str)  # noqa: N815
    command = Signal(str)

    marker_clicked = Signal(int)
    map_clicked = Signal(float, float, float)
    manual_moved = Signal(float, float)
    heading_dragged = Signal(float)
    page_ready = Signal()

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.layers_json = "{}"
        self.payload_json = "{}"

    @Slot(result=str)
    def state(self) -> str:
        return json.dumps({"layers": json.loads(self.layers_json),
                           "payload": json.loads(self.payload_json)})

    @Slot(int)
    def markerClicked(self, rank: int) -> None:  # noqa: N802 - JS-facing name
        self.marker_clicked.emit(int(rank))

    @Slot(float, float, float)
    def mapClicked(self, lat: float, lon: float, zoom: float) -> None:  # noqa: N802
        self.map_clicked.emit(float(lat), float(lon), float(zoom))

    @Slot(float, float)
    def manualMoved(self, lat: float, lon: float) -> None:  # noqa: N802
        self.manual_moved.emit(float(lat), float(lon))

    @Slot(float)
    def headingDragged(self, heading: float) -> None:  # noqa: N802
        self.heading_dragged.emit(float(heading))

    @Slot()
    def pageReady(self) -> None:  # noqa: N802
        self.page_ready.emit()


class _Page(QWebEnginePage):
    """Keeps the page's console messages (JS errors must not vanish); a script dialog (which
    the page never opens itself) is logged and refused instead of blocking the window."""

    def __init__(self, profile: QWebEngineProfile, parent: QObject | None = None) -> None:
        super().__init__(profile, parent)
        self.console: list[str] = []
        self.dialogs: list[str] = []

    def javaScriptAlert(self, origin, message):  # noqa: N802 - Qt API
        self.dialogs.append(message)
        log.warning("map page tried to open an alert: %r", message)

    def javaScriptConfirm(self, origin, message):  # noqa: N802 - Qt API
        self.dialogs.append(message)
        return False

    def javaScriptPrompt(self, origin, message, default):  # noqa: N802 - Qt API
        self.dialogs.append(message)
        return False, ""

    def javaScriptConsoleMessage(self, level, message, line, source):  # noqa: N802 - Qt API
        text = f"{Path(source).name}:{line}: {message}" if source else message
        self.console.append(text)
        del self.console[:-200]
        log.debug("map page: %s", text)


# Open unless the launcher closes it: run_gui holds the names back until the first ranking
# has landed (or a minute has passed), so their load does not compete with torch's import and
# the first query for the GIL (docs/performance.md, start-up).
NAMES_GATE = threading.Event()
NAMES_GATE.set()
NAMES_GATE_MAX_S = 60.0


class _Names(QObject):
    """Loads the GeoNames table off the GUI thread (its once-per-installation cache is built
    in a child process); ``loaded`` fires on the GUI thread."""

    loaded = Signal()

    def start(self) -> None:
        def work() -> None:
            NAMES_GATE.wait(NAMES_GATE_MAX_S)
            try:
                if not geocode.is_loaded():
                    geocode.build_cache_in_child()
                geocode.gazetteer()
            except Exception as exc:  # noqa: BLE001 - names are a help, not a must
                log.warning("place names are not available: %s", exc)
                return
            try:
                self.loaded.emit()
            except RuntimeError:  # the map was closed while the names loaded
                pass

        threading.Thread(target=work, name="geonames", daemon=True).start()

    @staticmethod
    def ready() -> bool:
        return geocode.is_loaded()

    @staticmethod
    def name(lat: float, lon: float) -> str:
        return geocode.place_name(lat, lon) if geocode.is_loaded() else ""

    @staticmethod
    def names(points: list[tuple[float, float]]) -> list[str]:
        return geocode.place_names(points) if geocode.is_loaded() else [""] * len(points)


class SearchBox(QLineEdit):
    """The place search: Return runs it. Without this the window's Return shortcut (Curate →
    Confirm location) took the key first — the search never ran and the curator was told to
    pick a candidate (found driving the app under Xvfb)."""

    def event(self, e: QEvent) -> bool:
        if e.type() == QEvent.Type.ShortcutOverride and \
                e.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter):  # type: ignore[attr-defined]
            e.accept()
            return True
        return super().event(e)


class MapWidget(QWidget):
    marker_clicked = Signal(int)
    map_clicked = Signal(float, float)
    manual_placed = Signal(float, float, object, float, str)  # lat, lon, heading|None, ±m, placed
    loaded = Signal(bool)  # the page is up and its bridge connected (once per session)
    error = Signal(object)  # a basemap or overlay that cannot be opened
    overlay_changed = Signal(str, int)  # path ("" = none), opacity %

    def __init__(self, parent: QWidget | None = None, basemap: str = "offline",
                 overlay: str = "", overlay_opacity: int = 70) -> None:
        super().__init__(parent)
        self.tiles = TileServer()
        self.ready = False
        self.page_loads = 0
        self.manual: dict | None = None
        self.online = False
        self._query: str | None = None
        self._view_args: dict = {}
        self._build_tools()
        # the view first: children are deleted in creation order, and the page must go
        # before its profile (QtWebEngine warns otherwise)
        self.view = QWebEngineView(self)
        self.profile = QWebEngineProfile(self)  # off the record: no cache or cookies on disk
        self.scheme = MapSchemeHandler(self.tiles, self)
        self.profile.installUrlSchemeHandler(SCHEME, self.scheme)
        self.guard = MapRequestGuard(self)
        self.profile.setUrlRequestInterceptor(self.guard)
        self.page = _Page(self.profile, self.view)
        self.view.setPage(self.page)
        s = self.page.settings()
        W = QWebEngineSettings.WebAttribute  # noqa: N806
        s.setAttribute(W.LocalContentCanAccessFileUrls, False)
        s.setAttribute(W.LocalContentCanAccessRemoteUrls, False)
        s.setAttribute(W.JavascriptCanOpenWindows, False)
        s.setAttribute(W.LocalStorageEnabled, False)
        self.bridge = MapBridge(self)
        self.channel = QWebChannel(self.page)
        self.channel.registerObject("bridge", self.bridge)
        self.page.setWebChannel(self.channel)
        self.bridge.marker_clicked.connect(self.marker_clicked)
        self.bridge.map_clicked.connect(self._on_map_clicked)
        self.bridge.manual_moved.connect(self._on_manual_moved)
        self.bridge.heading_dragged.connect(self._on_heading_dragged)
        self.bridge.page_ready.connect(self._on_page_ready)
        self.view.loadFinished.connect(self._on_load_finished)

        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(2)
        lay.addWidget(self.toolbar)
        lay.addWidget(self.view, 1)

        self._names = _Names(self)
        self._names.loaded.connect(self._on_names_loaded)
        self._names.start()
        self.set_basemap(basemap)
        if overlay:
            self.set_overlay(overlay, overlay_opacity)
        self.view.setUrl(QUrl(PAGE_URL))

    # ---------------------------------------------------------------- tool row
    def _build_tools(self) -> None:
        self.toolbar = QWidget(self)
        row = QHBoxLayout(self.toolbar)
        row.setContentsMargins(0, 0, 0, 0)
        self.search = SearchBox()
        self.search.setPlaceholderText("Search a place (offline) or type lat, lon")
        self.search.setToolTip(f"Jump to a town or coordinates. {geocode.ATTRIBUTION}")
        self.search.setClearButtonEnabled(True)
        self.search.setMinimumWidth(150)
        self._completer = QCompleter([], self.search)
        self._completer.setCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        self._completer.setFilterMode(Qt.MatchFlag.MatchStartsWith)
        self.search.setCompleter(self._completer)
        self.search.textEdited.connect(self._on_search_typed)
        self.search.returnPressed.connect(lambda: self.search_place(self.search.text()))
        self._completer.activated.connect(self.search_place)
        self.placed = QComboBox()
        self.placed.addItem("Camera position", "camera")
        self.placed.addItem("Subject", "subject")
        self.placed.setToolTip("What a map click places: where the photographer stood (with "
                               "the direction) or what the photo shows")
        self.placed.currentIndexChanged.connect(self._on_placed_changed)
        self.precision = QSpinBox()
        self.precision.setRange(1, 1_000_000)
        self.precision.setPrefix("± ")
        self.precision.setSuffix(" m")
        self.precision.setValue(10)
        self.precision.setToolTip("Precision of the hand placement (default from the zoom of "
                                  "the click); coordinates are rounded to it")
        self.precision.setEnabled(False)
        self.precision.valueChanged.connect(self._on_precision_changed)
        self.overlay_button = QToolButton()
        self.overlay_button.setText("Overlay")
        self.overlay_button.setToolTip("A historical map (MBTiles, PMTiles or a tile folder) "
                                       "over the basemap")
        self.overlay_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        menu = QMenu(self.overlay_button)
        menu.addAction("Open overlay file…", self._choose_overlay_file)
        menu.addAction("Open overlay tile folder…", self._choose_overlay_folder)
        self.remove_overlay_action = menu.addAction("Remove overlay",
                                                    lambda: self.set_overlay(""))
        self.overlay_button.setMenu(menu)
        self.opacity = QSlider(Qt.Orientation.Horizontal)
        self.opacity.setRange(0, 100)
        self.opacity.setValue(70)
        self.opacity.setMaximumWidth(90)
        self.opacity.setToolTip("Overlay opacity")
        self.opacity.valueChanged.connect(self.set_overlay_opacity)
        self.overlay_path = ""
        self._sync_overlay_tools()
        row.addWidget(self.search, 2)
        row.addWidget(QLabel("Place:"))
        row.addWidget(self.placed)
        row.addWidget(self.precision)
        row.addWidget(self.overlay_button)
        row.addWidget(self.opacity)

    # ---------------------------------------------------------------- page life
    def _on_load_finished(self, ok: bool) -> None:
        self.page_loads += 1
        if not ok:
            log.warning("the map page did not load")
            self.loaded.emit(False)

    def _on_page_ready(self) -> None:
        self.ready = True
        self.loaded.emit(True)

    def run_js(self, js: str, callback=None) -> None:
        """Run JS in the page (tests, and callers that need a value back)."""
        if callback is None:
            self.page.runJavaScript(js)
        else:
            self.page.runJavaScript(js, 0, callback)

    def console_messages(self) -> list[str]:
        return list(self.page.console)

    def _command(self, **cmd) -> None:
        if self.ready:
            self.bridge.command.emit(json.dumps(cmd))

    def _push_payload(self, payload: dict) -> None:
        self.bridge.payload_json = json.dumps(payload)
        if self.ready:
            self.bridge.payloadChanged.emit(self.bridge.payload_json)

    # ---------------------------------------------------------------- layers
    def _report(self, exc: Exception) -> None:
        """Errors reach ``error`` from the event loop, so a bad basemap given to the
        constructor is reported to whoever connects right after it."""
        QTimer.singleShot(0, self, lambda: self.error.emit(exc))

    def set_basemap(self, spec: str) -> None:
        """``offline`` / ``none`` / ``osm`` / an XYZ URL / a tile file or folder (see
        geo.mapview.basemap_layers). A file that cannot be opened is reported, not fatal."""
        try:
            offline, online = basemap_layers(spec)
        except GeomatchError as exc:
            self._report(exc)
            offline, online = basemap_layers("offline")
        for layer_id in [k for k in self.tiles.layers if k != "overlay"]:
            self.tiles.set_layer(layer_id, None)
        self._base = []
        for layer_id, path in offline:
            try:
                src = open_tiles(path)
            except GeomatchError as exc:
                self._report(exc)
                continue
            log.info("map layer %s: %s", layer_id, describe(src))
            self.tiles.set_layer(layer_id, src)
            self._base.append(self._layer_json(layer_id))
        self.online = online is not None
        self.guard.online = self.online
        self._online = {"url": online[0], "attribution": online[1]} if online else None
        self._push_layers()

    def set_overlay(self, path: str, opacity: int | None = None) -> None:
        """A georeferenced historical map over the basemap; "" removes it."""
        self.tiles.set_layer("overlay", None)
        self.overlay_path = ""
        if path:
            try:
                self.tiles.set_layer("overlay", open_tiles(path))
                self.overlay_path = str(path)
            except GeomatchError as exc:
                self._report(exc)
        if opacity is not None:
            self.opacity.blockSignals(True)
            self.opacity.setValue(int(opacity))
            self.opacity.blockSignals(False)
        self._sync_overlay_tools()
        self._push_layers()
        self.overlay_changed.emit(self.overlay_path, self.opacity.value())

    def set_overlay_opacity(self, percent: int) -> None:
        if self.opacity.value() != percent:
            self.opacity.setValue(int(percent))  # comes back here through valueChanged
            return
        self._command(cmd="opacity", value=percent / 100.0)
        self._layers["overlay_opacity"] = percent / 100.0
        self.bridge.layers_json = json.dumps(self._layers)
        self.overlay_changed.emit(self.overlay_path, int(percent))

    def _layer_json(self, layer_id: str) -> dict:
        src = self.tiles.layers[layer_id]
        return {"id": layer_id, "url": f"geomatch://map{self.tiles.tile_url(layer_id)}",
                **src.info.to_json()}

    def _push_layers(self) -> None:
        self._layers = {"base": self._base, "online": self._online,
                        "overlay": self._layer_json("overlay") if self.overlay_path else None,
                        "overlay_opacity": self.opacity.value() / 100.0}
        self.bridge.layers_json = json.dumps(self._layers)
        if self.ready:
            self.bridge.layersChanged.emit(self.bridge.layers_json)

    def _sync_overlay_tools(self) -> None:
        self.opacity.setVisible(bool(self.overlay_path))
        self.remove_overlay_action.setEnabled(bool(self.overlay_path))
        self.overlay_button.setText(f"Overlay: {Path(self.overlay_path).name}"
                                    if self.overlay_path else "Overlay")

    def _choose_overlay_file(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Historical map overlay", "",
                                              "Tile sets (*.mbtiles *.pmtiles);;All files (*)")
        if path:
            self.set_overlay(path)

    def _choose_overlay_folder(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Folder of z/x/y tiles")
        if path:
            self.set_overlay(path)

    # ---------------------------------------------------------------- one query
    def show_query(self, path: str, candidates: list[Candidate],
                   estimate: Estimate | None = None, *, confirmed=None, truth=None, exif=None,
                   selected: int | None = None, trusted: bool = True,
                   prior: dict | None = None) -> None:
        """Draw one query. A new photo frames its data; the same photo again (after a
        decision, an undo) keeps the curator's view."""
        fit = path != self._query
        if fit:
            self.manual = None
            self._set_precision_box(None)
        self._query = path
        self._view_args = {"candidates": candidates, "estimate": estimate,
                           "confirmed": confirmed, "truth": truth, "exif": exif,
                           "selected": selected, "trusted": trusted, "prior": prior}
        self._push_payload(map_payload(manual=self.manual, fit=fit, place_names=_Names.names,
                                       **self._view_args))

    def show_message(self, text: str) -> None:
        """No query to draw (no index yet, nothing ranked): say why on the map."""
        self._query = None
        self._view_args = {}
        self.manual = None
        self._set_precision_box(None)
        self._push_payload(map_payload([], message=text, fit=False, place_names=_Names.names))

    def show_blank(self, text: str) -> None:
        """A photo without a map (its file cannot be read): a neutral, empty map — no basemap,
        nothing left of the previous photo — and the reason."""
        self._query = None
        self._view_args = {}
        self.manual = None
        self._set_precision_box(None)
        self._push_payload(map_payload([], message=text, fit=False, blank=True,
                                       place_names=_Names.names))

    def _on_names_loaded(self) -> None:
        if self._view_args:  # the names arrived after the first picture: redraw, keep the view
            self._push_payload(map_payload(manual=self.manual, fit=False,
                                           place_names=_Names.names, **self._view_args))

    def highlight(self, rank: int) -> None:
        if self._view_args:
            self._view_args["selected"] = int(rank)
            self.bridge.payload_json = json.dumps({**json.loads(self.bridge.payload_json),
                                                   "selected": int(rank), "fit": False})
        self._command(cmd="highlight", rank=int(rank))

    def fly_to(self, lat: float, lon: float, zoom: int = 14) -> None:
        self._command(cmd="fly", lat=float(lat), lon=float(lon), zoom=int(zoom))

    def search_place(self, text: str) -> bool:
        """Jump to the best match of the offline gazetteer; False (and a note) if none."""
        try:
            hits = geocode.search(text, limit=1)
        except GeomatchError as exc:
            self._report(exc)
            return False
        if not hits:
            self.search.setToolTip(f"no place called “{text}” in GeoNames")
            return False
        p = hits[0]
        zoom = 16 if not p.country else (11 if p.population > 200_000 else 13)
        self.fly_to(p.lat, p.lon, zoom)
        return True

    def _on_search_typed(self, text: str) -> None:
        if len(text.strip()) < 3 or not geocode.is_loaded():
            return
        labels = [p.label for p in geocode.search(text, limit=12)]
        self._completer.model().setStringList(labels)  # type: ignore[attr-defined]

    # ---------------------------------------------------------------- placing by hand
    def _placed(self) -> str:
        return str(self.placed.currentData())

    def _on_map_clicked(self, lat: float, lon: float, zoom: float) -> None:
        self.map_clicked.emit(lat, lon)
        if self._query is None:
            return
        heading = self.manual["heading"] if self.manual else None
        self.set_manual(lat, lon, heading, precision_for_zoom(lat, zoom), self._placed())

    def _on_manual_moved(self, lat: float, lon: float) -> None:
        if self.manual is not None:
            m = self.manual
            self.set_manual(lat, lon, m["heading"], m["precision_m"], m["placed"])

    def _on_heading_dragged(self, heading: float) -> None:
        if self.manual is not None:
            self.set_heading(heading)

    def set_heading(self, heading: float | None) -> None:
        """The direction of the placed camera (the heading box, or a drag of the handle)."""
        if self.manual is not None:
            m = self.manual
            self.set_manual(m["lat"], m["lon"], heading, m["precision_m"], m["placed"])

    def _on_placed_changed(self) -> None:
        if self.manual is not None:
            m = self.manual
            self.set_manual(m["lat"], m["lon"], m.get("last_heading"), m["precision_m"],
                            self._placed())

    def _on_precision_changed(self, value: int) -> None:
        if self.manual is not None and value != self.manual["precision_m"]:
            m = self.manual
            self.set_manual(m["lat"], m["lon"], m["heading"], float(value), m["placed"])

    def set_manual(self, lat: float, lon: float, heading: float | None = None,
                   precision_m: float | None = None, placed: str | None = None,
                   emit: bool = True) -> dict:
        """Place (or move) the hand placement; rounds it and (``emit``) tells the window."""
        placed = placed or self._placed()
        if precision_m is None:
            precision_m = self.manual["precision_m"] if self.manual else 10.0
        lat, lon = round_to_precision(lat, lon, precision_m)
        heading = round_heading(heading)
        self.manual = manual_json(lat, lon, heading, float(precision_m), placed,
                                  name=_Names.name(lat, lon))
        self.manual["last_heading"] = heading  # kept while a subject is placed
        self._set_precision_box(precision_m)
        i = self.placed.findData(placed)
        if i >= 0 and i != self.placed.currentIndex():
            self.placed.blockSignals(True)
            self.placed.setCurrentIndex(i)
            self.placed.blockSignals(False)
        self.bridge.payload_json = json.dumps({**json.loads(self.bridge.payload_json),
                                               "manual": self.manual, "fit": False})
        self._command(cmd="manual", manual=self.manual)
        m = self.manual
        if emit:
            self.manual_placed.emit(m["lat"], m["lon"], m["heading"], m["precision_m"],
                                    m["placed"])
        return m

    def clear_manual(self) -> None:
        self.manual = None
        self._set_precision_box(None)
        self.bridge.payload_json = json.dumps({**json.loads(self.bridge.payload_json),
                                               "manual": None, "fit": False})
        self._command(cmd="manual", manual=None)

    def _set_precision_box(self, precision_m: float | None) -> None:
        self.precision.blockSignals(True)
        self.precision.setEnabled(precision_m is not None)
        if precision_m is not None:
            self.precision.setValue(int(round(precision_m)))
        self.precision.blockSignals(False)
