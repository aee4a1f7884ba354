"""The ``geomatch://`` URL scheme: the map page, its scripts and its tiles, served from Python.

``geomatch://map/app/index.html`` and the vendored scripts come from ``resources/``;
``geomatch://map/tiles/<layer>/<z>/<x>/<y>`` comes from a :class:`geo.tiles.TileServer`
(MBTiles/PMTiles/folders, raster or vector) — no socket, no file:// page, no tile extraction.
The scheme must be registered before the QApplication exists (Qt's rule), which
``register_scheme()`` does for ``gui.app.ensure_app`` and the GUI tests' conftest.

A request interceptor on the map's own profile refuses every file:// request and every
http(s) request unless the curator switched online tiles on (issue 14: online is opt-in;
issue 17: the page gets no file access it does not need).
"""

from __future__ import annotations

import logging
from pathlib import Path

from PySide6.QtCore import QBuffer, QByteArray, QFile, QIODevice, QObject
from PySide6.QtWebEngineCore import (
    QWebEngineUrlRequestInfo,
    QWebEngineUrlRequestInterceptor,
    QWebEngineUrlRequestJob,
    QWebEngineUrlScheme,
    QWebEngineUrlSchemeHandler,
)

from geomatch_app.core.paths import resources_dir
from geomatch_app.geo.tiles import TileServer

log = logging.getLogger(__name__)

SCHEME = b"geomatch"
HOST = "map"
PAGE_URL = "geomatch://map/app/index.html"
STATIC = {"app": "map", "leaflet": "leaflet", "protomaps-leaflet": "protomaps-leaflet"}
TYPES = {".html": "text/html", ".js": "application/javascript", ".css": "text/css",
         ".png": "image/png", ".svg": "image/svg+xml", ".map": "application/json"}


def register_scheme() -> None:
    """Declare ``geomatch://`` to QtWebEngine. Call before the QApplication is created."""
    if QWebEngineUrlScheme.schemeByName(QByteArray(SCHEME)).name() == QByteArray(SCHEME):
        return
    s = QWebEngineUrlScheme(QByteArray(SCHEME))
    s.setSyntax(QWebEngineUrlScheme.Syntax.Host)
    s.setFlags(QWebEngineUrlScheme.Flag.SecureScheme | QWebEngineUrlScheme.Flag.CorsEnabled
               | QWebEngineUrlScheme.Flag.FetchApiAllowed)
    QWebEngineUrlScheme.registerScheme(s)


_qwebchannel_js: bytes | None = None


def _qwebchannel() -> bytes:
    """Qt's qwebchannel.js, read from Qt's own resources and served on our origin."""
    global _qwebchannel_js
    if _qwebchannel_js is None:
        f = QFile(":/qtwebchannel/qwebchannel.js")
        if not f.open(QIODevice.OpenModeFlag.ReadOnly):
            raise RuntimeError("Qt's qwebchannel.js resource is missing (PySide6 WebChannel)")
        _qwebchannel_js = bytes(f.readAll().data())
        f.close()
    return _qwebchannel_js


def static_file(path: str) -> Path | None:
    """``/app/map.js`` → resources/map/map.js; None for anything outside the shipped folders."""
    parts = [p for p in path.split("/") if p]
    if len(parts) < 2 or parts[0] not in STATIC or any(p in (".", "..") for p in parts):
        return None
    root = (resources_dir() / STATIC[parts[0]]).resolve()
    f = root.joinpath(*parts[1:]).resolve()
    if root not in f.parents or not f.is_file():
        return None
    return f


class MapSchemeHandler(QWebEngineUrlSchemeHandler):
    def __init__(self, tiles: TileServer, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.tiles = tiles
        self.served: list[str] = []  # paths answered, newest last (tests read it)

    def requestStarted(self, job: QWebEngineUrlRequestJob) -> None:  # noqa: N802 - Qt API
        url = job.requestUrl()
        path = url.path()
        if url.host() != HOST:
            job.fail(QWebEngineUrlRequestJob.Error.UrlNotFound)
            return
        if path.startswith("/tiles/"):
            hit = self.tiles.respond(path)
        elif path == "/qwebchannel.js":
            hit = ("application/javascript", _qwebchannel())
        else:
            f = static_file(path)
            hit = (TYPES.get(f.suffix, "application/octet-stream"), f.read_bytes()) if f else None
        if hit is None:
            job.fail(QWebEngineUrlRequestJob.Error.UrlNotFound)
            return
        mime, data = hit
        self.served.append(path)
        del self.served[:-500]
        buf = QBuffer(job)  # lives as long as the job
        buf.setData(QByteArray(data))
        buf.open(QIODevice.OpenModeFlag.ReadOnly)
        job.reply(QByteArray(mime.encode()), buf)


class MapRequestGuard(QWebEngineUrlRequestInterceptor):
    """No file:// ever; http(s) only while online tiles are switched on."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.online = False
        self.blocked: list[str] = []

    def interceptRequest(self, info: QWebEngineUrlRequestInfo) -> None:  # noqa: N802 - Qt API
        url = info.requestUrl()
        scheme = url.scheme()
        if scheme == "file" or (scheme in ("http", "https", "ws", "wss") and not self.online):
            self.blocked.append(url.toString())
            del self.blocked[:-100]
            info.block(True)
