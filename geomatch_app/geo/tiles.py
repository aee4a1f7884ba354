"""Read tiles out of an MBTiles file (SQLite) — kept here because all SQL lives in ``store``.

Only what the offline map needs: the metadata table and every tile in XYZ numbering.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

from geomatch_app.core.errors import GeomatchError


def _connect(path: Path) -> sqlite3.Connection:
    if not path.is_file():
        raise GeomatchError("MBTiles file not found", path, "pick an existing .mbtiles file")
    try:
        con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        con.execute("SELECT 1 FROM tiles LIMIT 1")
    except sqlite3.DatabaseError as exc:
        raise GeomatchError(f"is not a readable MBTiles file ({exc})", path,
                            "export the tiles as MBTiles or give a folder of z/x/y.png"
                            ) from None
    return con


def mbtiles_metadata(path: str | Path) -> dict[str, str]:
    with closing(_connect(Path(path))) as con:
        try:
            return {k: v for k, v in con.execute("SELECT name, value FROM metadata")}
        except sqlite3.DatabaseError:
            return {}


def count_tiles(path: str | Path, max_zoom: int | None = None) -> int:
    with closing(_connect(Path(path))) as con:
        q, args = "SELECT COUNT(*) FROM tiles", ()
        if max_zoom is not None:
            q, args = q + " WHERE zoom_level <= ?", (max_zoom,)
        return int(con.execute(q, args).fetchone()[0])


def iter_tiles(path: str | Path, max_zoom: int | None = None
               ) -> Iterator[tuple[int, int, int, bytes]]:
    """(z, x, y, image bytes) with y in XYZ order (MBTiles rows are TMS: y = 2^z − 1 − row)."""
    with closing(_connect(Path(path))) as con:
        q, args = "SELECT zoom_level, tile_column, tile_row, tile_data FROM tiles", ()
        if max_zoom is not None:
            q, args = q + " WHERE zoom_level <= ?", (max_zoom,)
        for z, x, row, data in con.execute(q, args):
            yield int(z), int(x), (1 << int(z)) - 1 - int(row), bytes(data)
