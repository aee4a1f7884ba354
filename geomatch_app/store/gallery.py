"""The store owns the gallery: an index folder's photos mirrored into galleries / images /
indexes, so suggestions reference image ids and exports and training read place ids and
locations from the database (not from the index's own metadata).

Why one bulk statement set instead of ``Store.add_images``: registering a 100k-photo index must
take seconds. The photos go into a temporary table with ``executemany`` and are merged with
one ``INSERT … ON CONFLICT DO UPDATE`` and one ``UPDATE`` for photos that left the index —
all in one transaction, with one event. It is a mirror of the index, not a curator's act, so it
is not on the undo stack (the index itself is the source it can be rebuilt from).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from geomatch_app.core.progress import Progress
from geomatch_app.store.store import Store, now_iso

CHUNK = 5000  # rows per executemany (progress is reported between chunks)
_COLUMNS = ("path", "lat", "lon", "heading", "place_id", "size", "mtime_ns")


@dataclass(frozen=True)
class GallerySync:
    """What registering an index did: ids to carry, counts to report."""

    gallery_id: int
    index_id: int
    model_id: int
    n_images: int
    changed: int  # images added or updated
    removed: int  # images that are no longer in the index


def sync_index(store: Store, index_path: str | Path, photos: Iterable[Mapping[str, Any]],
               fingerprint: Mapping[str, Any], *, content_key: str = "",
               progress: Progress | None = None) -> GallerySync:
    """Register ``index_path`` (its model, its gallery and every photo) in ``store``.

    ``photos`` are mappings with the index's record keys (path, lat, lon, heading, place_id,
    size, mtime_ns). Re-registering an unchanged index changes no image row. ``content_key``
    identifies this version of the index (runs ranked on another version are not re-used)."""
    index_path = str(Path(index_path).resolve())
    rows = [tuple(_value(p, c) for c in _COLUMNS) for p in photos]
    fp = dict(fingerprint)
    model_id = store.register_model(str(fp.get("name", "")),
                                    weight_hash=str(fp.get("weight_hash", "")), fingerprint=fp)
    with store._write("register_gallery", undoable=False) as tx:
        db = tx.db
        row = db.execute("SELECT id FROM galleries WHERE name = ?", (index_path,)).fetchone()
        if row:
            gallery_id = int(row[0])
            db.execute("UPDATE galleries SET deleted = 0, root = ? WHERE id = ?",
                       (index_path, gallery_id))
        else:
            gallery_id = int(db["galleries"].insert({
                "name": index_path, "root": index_path, "source": "index",
                "created_at": now_iso(), "deleted": 0}).last_pk)
        db.execute("DROP TABLE IF EXISTS temp.incoming")
        db.execute("CREATE TEMP TABLE incoming (path TEXT PRIMARY KEY, lat REAL, lon REAL, "
                   "heading REAL, place_id TEXT, size INTEGER, mtime_ns INTEGER)")
        for start in range(0, len(rows), CHUNK):
            if progress is not None:
                progress.step(start, len(rows), "registering gallery photos")
            db.conn.executemany("INSERT OR REPLACE INTO temp.incoming VALUES (?, ?, ?, ?, ?, ?, ?)",
                                rows[start:start + CHUNK])
        before = db.conn.total_changes
        db.execute("""INSERT INTO images (gallery_id, path, lat, lon, heading, place_id, size,
                      mtime_ns, added_at, deleted)
                      SELECT ?, path, lat, lon, heading, coalesce(place_id, ''), size, mtime_ns,
                      ?, 0 FROM temp.incoming WHERE true
                      ON CONFLICT (gallery_id, path) DO UPDATE SET lat = excluded.lat,
                      lon = excluded.lon, heading = excluded.heading,
                      place_id = excluded.place_id, size = excluded.size,
                      mtime_ns = excluded.mtime_ns, deleted = 0
                      WHERE images.lat IS NOT excluded.lat OR images.lon IS NOT excluded.lon
                      OR images.heading IS NOT excluded.heading
                      OR images.place_id IS NOT excluded.place_id
                      OR images.size IS NOT excluded.size
                      OR images.mtime_ns IS NOT excluded.mtime_ns OR images.deleted <> 0""",
                   (gallery_id, now_iso()))
        changed = db.conn.total_changes - before
        before = db.conn.total_changes
        db.execute("""UPDATE images SET deleted = 1 WHERE gallery_id = ? AND deleted = 0
                      AND path NOT IN (SELECT path FROM temp.incoming)""", (gallery_id,))
        removed = db.conn.total_changes - before
        db.execute("DROP TABLE temp.incoming")
        fp_text = json.dumps({**fp, "content_key": content_key}, sort_keys=True)
        values = {"model_id": model_id, "gallery_id": gallery_id, "n_images": len(rows),
                  "fingerprint": fp_text}
        row = db.execute("SELECT id FROM indexes WHERE path = ?", (index_path,)).fetchone()
        if row:
            index_id = int(row[0])
            db["indexes"].update(index_id, values)
        else:
            index_id = int(db["indexes"].insert({"path": index_path, **values,
                                                 "created_at": now_iso()}).last_pk)
        tx.description = (f"register index {Path(index_path).name}: {len(rows)} photos "
                          f"({changed} added or changed, {removed} removed)")
    if progress is not None:
        progress.step(len(rows), len(rows), "gallery registered")
    return GallerySync(gallery_id, index_id, model_id, len(rows), changed, removed)


def _value(photo: Mapping[str, Any], column: str) -> Any:
    value = photo.get(column)
    if column == "place_id":
        return value or ""
    if column == "heading" and value is not None:
        return float(value) % 360.0
    return value
