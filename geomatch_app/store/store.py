"""The curation store: one SQLite file holding galleries, query photos, model suggestions and
the curators' decisions with their provenance.

Why it looks like this:
- One transaction per user action (``BEGIN IMMEDIATE`` … ``COMMIT``), and the action's event is
  written in the same transaction, so a crash leaves either the whole action or none of it.
- WAL + ``synchronous=FULL``: a call that returned has its confirmation on disk, even if the
  process is killed a microsecond later (the kill test checks exactly this).
- One connection per thread: the GUI thread reads while a background thread writes; WAL lets
  readers see the last committed state without waiting, and ``busy_timeout`` makes writers queue
  instead of failing.
- Methods return frozen dataclasses from ``records``, never rows or cursors.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import math
import sqlite3
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlite_utils

from geomatch_app.core.progress import Progress
from geomatch_app.core.types import Candidate, Estimate, Photo
from geomatch_app.store import history as hist
from geomatch_app.store import schema, undo
from geomatch_app.store.errors import (
    InvalidValueError,
    NotFoundError,
    SchemaTooNewError,
    StoreError,
    sqlite_error,
)
from geomatch_app.store.records import (
    OPEN,
    STATUSES,
    Agreement,
    DecisionRecord,
    EventRecord,
    GalleryRecord,
    HistoryEntry,
    ImageRecord,
    IndexRecord,
    ModelRecord,
    QueryRecord,
    ReviewRecord,
    SuggestionRecord,
    SuggestionRun,
    from_row,
)

log = logging.getLogger(__name__)

BUSY_TIMEOUT_MS = 10_000
QUERY_FIELDS = ("title", "archive_id", "date_text", "notes", "place_text", "lat", "lon",
                "use_prior")
# A per-candidate reject (a hard negative: "not this one") says nothing about the photo as a
# whole, so it never becomes the photo's status: the decision in force is the newest other one.
IN_FORCE = "NOT (d.status = 'rejected' AND d.candidate_path IS NOT NULL)"
VERDICTS = ("accept", "dispute")


def now_iso() -> str:
    """UTC time with milliseconds; sorts as text."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def file_sha256(path: str | Path) -> str:
    """Content hash of a file, '' when it cannot be read (the path alone still identifies it)."""
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
    except OSError:
        return ""
    return digest.hexdigest()


def norm_path(path: str | Path) -> str:
    """Absolute path text for a query photo, so the same file is the same query from the GUI
    and from the CLI whatever the working directory."""
    return str(Path(path).expanduser().resolve())


@dataclass
class _Tx:
    """Collects what one user action changed, for its event row."""

    db: sqlite_utils.Database
    query_id: int | None = None
    target_id: int | None = None  # the event an undo/redo acts on
    description: str = ""
    changes: list[dict[str, Any]] = field(default_factory=list)

    def insert(self, table: str, row: dict[str, Any]) -> int:
        pk = _insert(self.db, table, row)
        self._note_insert(table, [pk])
        return pk

    def insert_many(self, table: str, rows: list[dict[str, Any]]) -> list[int]:
        ids = [_insert(self.db, table, row) for row in rows]
        self._note_insert(table, ids)
        return ids

    def update(self, table: str, row_id: int, values: dict[str, Any]) -> None:
        cols = ", ".join(values)
        before = self.db.execute(f"SELECT {cols} FROM {table} WHERE id = ?", (row_id,)).fetchone()
        before_d = dict(zip(values, before, strict=True))
        if before_d == values:
            return
        sets = ", ".join(f"{c} = :{c}" for c in values)
        self.db.execute(f"UPDATE {table} SET {sets} WHERE id = :_id", {**values, "_id": row_id})
        if table in undo.UNDOABLE_TABLES:
            self.changes.append(
                {"op": "update", "table": table, "id": row_id, "before": before_d, "after": values}
            )

    def _note_insert(self, table: str, ids: list[int]) -> None:
        if table in undo.UNDOABLE_TABLES and ids:
            self.changes.append({"op": "insert", "table": table, "ids": ids})


class Store:
    """One curation database file. Safe to share between threads (a connection per thread).

    >>> store = Store("curation.sqlite")
    >>> q = store.add_query("scan_0042.jpg", title="Market square", date="c. 1920-1925")
    >>> run = store.record_suggestions(q, candidates, model="effnetlite2-gem", estimate=est)
    >>> store.decide(q, "confirmed", candidate_path=candidates[2].path, curator="Ann")
    >>> store.undo()
    'confirm scan_0042.jpg …'
    """

    def __init__(
        self, path: str | Path, *, create: bool = True, backup_before_migrate: bool = True
    ):
        self.path = Path(path)
        self._local = threading.local()
        self._conns: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        if not self.path.exists():
            if not create:
                raise StoreError("does not exist", self.path, "create it with `geomatch db init`")
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise StoreError(f"cannot create its folder ({exc.strerror or exc})", self.path,
                                 "choose a folder you can write to") from None
        elif not self.path.is_file():
            raise StoreError("is not a file", self.path, "give the path of a database file")
        self._open_schema(backup_before_migrate)

    # ---- connections and transactions -------------------------------------------------------

    def _db(self) -> sqlite_utils.Database:
        db = getattr(self._local, "db", None)
        if db is None:
            try:
                conn = sqlite3.connect(
                    self.path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None,
                    check_same_thread=False,
                )
                conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
                # WAL is set once, by _open_schema, after the file was accepted (it is a
                # property of the file); these two are per connection and write nothing.
                conn.execute("PRAGMA synchronous = FULL")
                conn.execute("PRAGMA foreign_keys = ON")
            except sqlite3.Error as exc:
                raise sqlite_error(exc, self.path) from None
            db = sqlite_utils.Database(conn)
            self._local.db = db
            with self._lock:
                self._conns.append(conn)
        return db

    @contextlib.contextmanager
    def _read(self) -> Iterator[sqlite_utils.Database]:
        """A consistent snapshot for reads made of several statements."""
        db = self._db()
        if db.conn.in_transaction:  # nested inside a write of this thread
            yield db
            return
        db.conn.execute("BEGIN")
        try:
            yield db
        finally:
            db.conn.execute("COMMIT")

    @contextlib.contextmanager
    def _write(
        self, kind: str, *, actor: str = "", query_id: int | None = None, undoable: bool = True
    ) -> Iterator[_Tx]:
        """One user action: its rows and its event commit together or not at all."""
        db = self._db()
        if db.conn.in_transaction:
            raise RuntimeError("store actions do not nest")
        try:
            db.conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            raise sqlite_error(exc, self.path) from None
        tx = _Tx(db, query_id=query_id)
        try:
            yield tx
            db.execute(
                "INSERT INTO events (ts, kind, actor, query_id, description, changes, undoable,"
                " target_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (now_iso(), kind, actor, tx.query_id, tx.description,
                 json.dumps(tx.changes), int(undoable and bool(tx.changes)), tx.target_id),
            )
            db.conn.execute("COMMIT")
        except sqlite3.OperationalError as exc:  # read-only medium, full disk, I/O error
            self._rollback(db)
            raise sqlite_error(exc, self.path) from None
        except BaseException:
            self._rollback(db)
            raise

    @contextlib.contextmanager
    def _cached_write(self, kind: str, *, query_id: int | None = None) -> Iterator[_Tx]:
        """A write of a cached computation (suggestion runs): logged, not undoable, and its
        commit does not wait for the disk (``synchronous = NORMAL``: in WAL mode still atomic
        and safe from an app crash; a power cut may lose it, and the photo is ranked again).
        Every durable commit after it syncs the WAL, and with it this one, so a decision is
        never on disk without the run it refers to. Measured: the fsync of a FULL commit was
        the largest cost of a query after the model (benchmarks/bench_query.py)."""
        db = self._db()
        if db.conn.in_transaction:
            raise RuntimeError("store actions do not nest")
        try:
            db.conn.execute("PRAGMA synchronous = NORMAL")
        except sqlite3.Error as exc:
            raise sqlite_error(exc, self.path) from None
        try:
            with self._write(kind, query_id=query_id, undoable=False) as tx:
                yield tx
        finally:
            with contextlib.suppress(sqlite3.Error):
                db.conn.execute("PRAGMA synchronous = FULL")

    @staticmethod
    def _rollback(db: sqlite_utils.Database) -> None:
        if db.conn.in_transaction:
            with contextlib.suppress(sqlite3.Error):  # a failed COMMIT may have ended it
                db.conn.execute("ROLLBACK")

    def _open_schema(self, backup_before_migrate: bool) -> None:
        """Accept the file (or refuse it, unchanged), then switch it to WAL and migrate."""
        db = self._db()
        try:
            found = schema.current_version(db)
            foreign = [] if found else schema.foreign_tables(db)
        except sqlite3.Error as exc:
            raise sqlite_error(exc, self.path) from None
        if found > schema.SCHEMA_VERSION:
            raise SchemaTooNewError(
                f"was written by a newer geomatch (schema {found}, this version knows up to "
                f"{schema.SCHEMA_VERSION})", self.path,
                "update geomatch to open it; the file was not changed",
            )
        if foreign:
            shown = ", ".join(foreign[:5]) + (", …" if len(foreign) > 5 else "")
            raise StoreError(
                f"is an SQLite database of another program (tables: {shown})", self.path,
                "give a new file name for a geomatch database; the file was not changed",
            )
        try:
            mode = db.conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        except sqlite3.OperationalError as exc:
            if "SQLITE_READONLY" not in str(getattr(exc, "sqlite_errorname", "")):
                raise sqlite_error(exc, self.path) from None
            # A read-only medium (a CD, a locked share) can still be browsed; every write
            # will say the file is read-only.
            mode = db.conn.execute("PRAGMA journal_mode").fetchone()[0]
            log.warning("%s: read-only; it can be browsed but not changed", self.path)
        if mode.lower() != "wal":
            log.warning("%s: journal mode is %s, not WAL", self.path, mode)
        if found == schema.SCHEMA_VERSION:
            return
        if found > 0 and backup_before_migrate:
            backup = self.path.with_name(f"{self.path.stem}.v{found}.bak{self.path.suffix}")
            if not backup.exists():
                self.backup(backup)
                log.info("%s: backed up schema v%d to %s before migrating", self.path, found,
                         backup)
        try:
            db.conn.execute("BEGIN IMMEDIATE")
            applied = schema.migrate(db, now_iso())  # re-reads the version inside the lock
            db.conn.execute("COMMIT")
        except sqlite3.OperationalError as exc:
            self._rollback(db)
            raise sqlite_error(exc, self.path) from None
        except BaseException:
            self._rollback(db)
            raise
        if applied and found > 0:
            log.info("%s: migrated schema %d -> %d", self.path, found, schema.SCHEMA_VERSION)

    @property
    def schema_version(self) -> int:
        return schema.current_version(self._db())

    def close(self) -> None:
        """Close every thread's connection (call once, when the app shuts down)."""
        with self._lock:
            for conn in self._conns:
                with contextlib.suppress(sqlite3.Error):
                    conn.close()
            self._conns.clear()
        self._local = threading.local()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def backup(self, out: str | Path) -> Path:
        """A consistent copy via SQLite's online backup API (safe while others write)."""
        out = Path(out)
        try:
            out.parent.mkdir(parents=True, exist_ok=True)
            dest = sqlite3.connect(out)
        except (OSError, sqlite3.Error) as exc:
            raise StoreError(f"cannot be created ({exc})", out,
                             "choose a folder you can write to") from None
        try:
            self._db().conn.backup(dest)
        except sqlite3.Error as exc:
            raise sqlite_error(exc, out) from None
        finally:
            dest.close()
        return out

    # ---- galleries and images ---------------------------------------------------------------

    def add_gallery(
        self, name: str, *, root: str | Path = "", source: str = "", credit: str = "",
        licence: str = "", curator: str = "",
    ) -> int:
        """Create (or revive) a named gallery; returns its id. An existing name is reused."""
        with self._write("add_gallery", actor=curator) as tx:
            row = tx.db.execute("SELECT id, deleted FROM galleries WHERE name = ?",
                                (name,)).fetchone()
            values = {"root": str(root), "source": source, "credit": credit, "licence": licence}
            if row:
                tx.update("galleries", row[0], {**values, "deleted": 0})
                gid = int(row[0])
            else:
                gid = tx.insert("galleries", {"name": name, **values, "created_at": now_iso(),
                                              "deleted": 0})
            tx.description = f"add gallery {name}"
            return gid

    def add_images(
        self, gallery_id: int, photos: Iterable[Photo | dict[str, Any]], *, source: str = "",
        credit: str = "", licence: str = "", hash_files: bool = True, curator: str = "",
        progress: Progress | None = None,
    ) -> int:
        """Add gallery images (``Photo`` or dicts with the same keys plus source/credit/licence)
        in one transaction; paths already in the gallery are updated. Returns how many were
        added or changed."""
        items = [p if isinstance(p, dict) else _photo_dict(p) for p in photos]
        when = now_iso()
        with self._write("add_images", actor=curator) as tx:
            self._gallery_row(tx.db, gallery_id)
            new_rows: list[dict[str, Any]] = []
            touched = 0
            for i, item in enumerate(items):
                if progress is not None and i % 50 == 0:
                    progress.step(i, len(items), "adding gallery images")
                path = str(item["path"])
                row = {
                    "lat": item.get("lat"), "lon": item.get("lon"),
                    "heading": _heading(item.get("heading")),
                    "place_id": item.get("place_id") or "",
                    "source": item.get("source") or source,
                    "credit": item.get("credit") or credit,
                    "licence": item.get("licence") or licence,
                    "sha256": item.get("sha256") or (file_sha256(path) if hash_files else ""),
                }
                _check_latlon(row["lat"], row["lon"])
                old = tx.db.execute("SELECT id FROM images WHERE gallery_id = ? AND path = ?",
                                    (gallery_id, path)).fetchone()
                if old:
                    before = len(tx.changes)
                    tx.update("images", old[0], {**row, "deleted": 0})
                    touched += len(tx.changes) > before
                else:
                    new_rows.append({"gallery_id": gallery_id, "path": path, **row,
                                     "added_at": when, "deleted": 0})
            tx.insert_many("images", new_rows)
            touched += len(new_rows)
            if progress is not None:
                progress.step(len(items), len(items), "gallery images added")
            tx.description = f"add {touched} images to gallery {gallery_id}"
            return touched

    def remove_gallery(self, gallery_id: int, curator: str = "") -> None:
        """Hide a gallery and its images (undoable; decisions that used them keep their link)."""
        with self._write("remove_gallery", actor=curator) as tx:
            g = self._gallery_row(tx.db, gallery_id)
            tx.update("galleries", gallery_id, {"deleted": 1})
            ids = [r[0] for r in tx.db.execute(
                "SELECT id FROM images WHERE gallery_id = ? AND deleted = 0", (gallery_id,))]
            for image_id in ids:
                tx.update("images", image_id, {"deleted": 1})
            tx.description = f"remove gallery {g['name']}"

    def galleries(self) -> list[GalleryRecord]:
        sql = """SELECT g.*, (SELECT count(*) FROM images i WHERE i.gallery_id = g.id
                 AND i.deleted = 0) AS n_images FROM galleries g WHERE g.deleted = 0
                 ORDER BY g.id"""
        return [from_row(GalleryRecord, r) for r in self._db().query(sql)]

    def images(self, gallery_id: int | None = None) -> list[ImageRecord]:
        where = "deleted = 0" + (" AND gallery_id = ?" if gallery_id is not None else "")
        args = [gallery_id] if gallery_id is not None else []
        return [from_row(ImageRecord, r) for r in
                self._db().query(f"SELECT * FROM images WHERE {where} ORDER BY id", args)]

    def find_image(self, path: str | Path | None = None, *, sha256: str = "") -> ImageRecord | None:
        """A live gallery image by its path (as stored, then as an absolute path) or hash."""
        db = self._db()
        row = None
        if path is not None:
            for candidate in dict.fromkeys([str(path), norm_path(path)]):
                row = _first(db, "SELECT * FROM images WHERE path = ? AND deleted = 0"
                                 " ORDER BY id DESC", [candidate])
                if row:
                    break
        if row is None and sha256:
            row = _first(db, "SELECT * FROM images WHERE sha256 = ? AND deleted = 0"
                             " ORDER BY id DESC", [sha256])
        return from_row(ImageRecord, row) if row else None

    def image(self, image_id: int) -> ImageRecord:
        row = _first(self._db(), "SELECT * FROM images WHERE id = ?", [image_id])
        if row is None:
            raise NotFoundError(f"has no gallery image {image_id}", self.path)
        return from_row(ImageRecord, row)

    # ---- query photos -----------------------------------------------------------------------

    def add_query(
        self, path: str | Path, *, title: str = "", archive_id: str = "", date: str = "",
        notes: str = "", curator: str = "", sha256: str | None = None, place_text: str = "",
        lat: float | None = None, lon: float | None = None,
    ) -> int:
        """Register a photo to be located; returns its id. Adding the same file again returns
        the existing id (reviving it if it was removed) and fills in empty fields.

        ``place_text`` and ``lat``/``lon`` are what an archive catalogue says about the place
        (free text, known coordinates)."""
        _check_latlon(lat, lon)
        path_s = norm_path(path)
        digest = file_sha256(path_s) if sha256 is None else sha256
        date_from, date_to = schema.parse_date_range(date)
        with self._write("add_query", actor=curator) as tx:
            row = _first(tx.db, "SELECT * FROM queries WHERE path = ?", [path_s])
            given: dict[str, Any] = {"title": title, "archive_id": archive_id, "date_text": date,
                                     "notes": notes, "place_text": place_text}
            if lat is not None:
                given.update(lat=float(lat), lon=float(lon))  # type: ignore[arg-type]
            if row:
                qid = int(row["id"])
                values: dict[str, Any] = {k: v for k, v in given.items()
                                          if v is not None and v != "" and row[k] in (None, "")}
                if "date_text" in values:
                    values.update(date_from=date_from, date_to=date_to)
                if digest and not row["sha256"]:
                    values["sha256"] = digest
                if row["deleted"]:
                    values["deleted"] = 0
                if values:
                    tx.update("queries", qid, values)
            else:
                qid = tx.insert("queries", {
                    "path": path_s, "sha256": digest, **given, "date_from": date_from,
                    "date_to": date_to, "added_at": now_iso(), "deleted": 0,
                })
            tx.query_id = qid
            tx.description = f"add query {Path(path_s).name}"
            return qid

    def update_query(self, query_id: int, *, curator: str = "", **fields: Any) -> None:
        """Edit a query's catalogue fields — title / archive_id / date_text / notes /
        place_text / lat / lon (undoable)."""
        unknown = set(fields) - set(QUERY_FIELDS)
        if unknown:
            raise ValueError(f"cannot edit {sorted(unknown)}; editable: {QUERY_FIELDS}")
        values: dict[str, Any] = dict(fields)
        if "use_prior" in values:
            values["use_prior"] = int(bool(values["use_prior"]))
        if "lat" in values or "lon" in values:
            _check_latlon(values.get("lat"), values.get("lon"))
        if "date_text" in values:
            values["date_from"], values["date_to"] = schema.parse_date_range(values["date_text"])
        with self._write("update_query", actor=curator, query_id=query_id) as tx:
            q = self._query_row(tx.db, query_id)
            tx.update("queries", query_id, values)
            tx.description = f"edit {', '.join(sorted(fields))} of {Path(q['path']).name}"

    def assign(self, query_ids: list[int], to: str, *, curator: str = "") -> int:
        """Give photos to a curator to decide (``to`` '' takes them back): one undoable
        action for the whole batch; returns how many changed."""
        to = (to or "").strip()
        ids = list(dict.fromkeys(int(q) for q in query_ids))
        with self._write("assign", actor=curator,
                         query_id=ids[0] if len(ids) == 1 else None) as tx:
            changed = 0
            for qid in ids:
                q = self._query_row(tx.db, qid)
                if q["assigned_to"] != to:
                    tx.update("queries", qid, {"assigned_to": to})
                    changed += 1
            tx.description = (f"assign {len(ids)} photos to {to}" if to
                              else f"unassign {len(ids)} photos")
            return changed

    def curators(self) -> list[str]:
        """Every name that decided, reviewed or was assigned a photo (for completers)."""
        rows = self._db().execute(
            "SELECT curator FROM decisions WHERE curator <> '' UNION SELECT reviewer FROM"
            " reviews WHERE reviewer <> '' UNION SELECT assigned_to FROM queries WHERE"
            " assigned_to <> '' AND deleted = 0").fetchall()
        return sorted({r[0] for r in rows}, key=str.casefold)

    def remove_query(self, query_id: int, curator: str = "") -> None:
        """Hide a query from lists (undoable); its decisions stay in the file."""
        with self._write("remove_query", actor=curator, query_id=query_id) as tx:
            q = self._query_row(tx.db, query_id)
            tx.update("queries", query_id, {"deleted": 1})
            tx.description = f"remove query {Path(q['path']).name}"

    def mark_unreadable(self, query_id: int, reason: str) -> None:
        """Say why the photo's file cannot be read ('' once it can): such a photo is listed
        but cannot be decided. A fact about the file, not a curator's act: not undoable."""
        with self._write("unreadable", query_id=query_id, undoable=False) as tx:
            q = self._query_row(tx.db, query_id)
            tx.db.execute("UPDATE queries SET unreadable = ? WHERE id = ?", (reason, query_id))
            tx.description = (f"{Path(q['path']).name} cannot be read: {reason}" if reason
                              else f"{Path(q['path']).name} is readable again")

    def query(self, query_id: int) -> QueryRecord:
        with self._read() as db:
            row = self._query_row(db, query_id, live_only=False)
            return from_row(QueryRecord, {**row, "status": self._status(db, query_id)})

    def find_query(self, path: str | Path, *, sha256: str | None = None,
                   by_content: bool = True) -> QueryRecord | None:
        """A live query by path; failing that (when ``by_content``), by the content hash of
        the file at ``path`` — ``sha256`` when the caller already has it — so a photo that was
        moved or renamed is still found. ``by_content=False`` never reads the file (for
        callers on a GUI thread)."""
        db = self._db()
        row = _first(db, "SELECT id FROM queries WHERE path = ? AND deleted = 0",
                     [norm_path(path)])
        if row is None and by_content and (sha256 or Path(path).is_file()):
            digest = sha256 or file_sha256(path)
            # Only a query whose own file is gone can have moved here: two files that exist
            # side by side with the same bytes (a copy, a re-scan) are two queries.
            moved = [r for r in db.query(
                "SELECT id, path FROM queries WHERE sha256 = ? AND deleted = 0"
                " ORDER BY id DESC", [digest]) if not Path(r["path"]).exists()] if digest else []
            row = moved[0] if moved else None
        return self.query(row["id"]) if row else None

    def queries_with_hash(self, sha256: str) -> list[QueryRecord]:
        """Live queries whose file had these bytes, newest first."""
        rows = self._db().execute("SELECT id FROM queries WHERE sha256 = ? AND deleted = 0"
                                  " ORDER BY id DESC", [sha256]).fetchall()
        return [self.query(r[0]) for r in rows]

    def queries(self, status: str | None = None) -> list[QueryRecord]:
        """Live queries in the order they were added, each with the status of its current
        decision; ``status`` filters (``"open"`` = no decision yet)."""
        if status is not None and status not in (*STATUSES, OPEN):
            raise ValueError(f"status must be one of {(*STATUSES, OPEN)}, not {status!r}")
        sql = f"""SELECT q.*, coalesce((SELECT d.status FROM decisions d WHERE d.query_id = q.id
                 AND d.deleted = 0 AND {IN_FORCE} ORDER BY d.id DESC LIMIT 1), 'open') AS status
                 FROM queries q WHERE q.deleted = 0 ORDER BY q.id"""
        rows = self._db().query(sql)
        out = [from_row(QueryRecord, r) for r in rows]
        return [q for q in out if status is None or q.status == status]

    # ---- models and indexes -----------------------------------------------------------------

    def register_model(
        self, name: str, *, weight_hash: str = "", card: str = "",
        fingerprint: dict[str, Any] | str | None = None,
    ) -> int:
        """Get or create the model row for (name, weight hash); returns its id. A model that is
        already registered unchanged costs one read and writes nothing (no event)."""
        fp = fingerprint if isinstance(fingerprint, str) else json.dumps(fingerprint or {},
                                                                          sort_keys=True)
        row = _first(self._db(), "SELECT id, card, fingerprint FROM models WHERE name = ? AND "
                     "weight_hash = ?", [name, weight_hash])
        if row and (not card or card == row["card"]) and (not fingerprint
                                                          or fp == row["fingerprint"]):
            return int(row["id"])
        with self._write("register_model", undoable=False) as tx:
            row = tx.db.execute("SELECT id FROM models WHERE name = ? AND weight_hash = ?",
                                (name, weight_hash)).fetchone()
            if row:
                tx.db.execute("UPDATE models SET card = coalesce(nullif(?, ''), card), "
                              "fingerprint = CASE WHEN ? = '{}' THEN fingerprint ELSE ? END "
                              "WHERE id = ?", (card, fp, fp, row[0]))
                mid = int(row[0])
            else:
                mid = tx.insert("models", {"name": name, "weight_hash": weight_hash, "card": card,
                                           "fingerprint": fp, "created_at": now_iso()})
            tx.description = f"register model {name}"
            return mid

    def models(self) -> list[ModelRecord]:
        return [from_row(ModelRecord, r)
                for r in self._db().query("SELECT * FROM models ORDER BY id")]

    def register_index(
        self, path: str | Path, *, model: str | int | None = None, gallery_id: int | None = None,
        n_images: int = 0, fingerprint: dict[str, Any] | None = None,
    ) -> int:
        """Record an index folder (which model, which gallery); returns its id. One row per
        folder: registering it again updates the row."""
        fp = json.dumps(fingerprint or {}, sort_keys=True)
        with self._write("register_index", undoable=False) as tx:
            model_id, _ = self._model_ref(tx.db, model)
            values = {"model_id": model_id, "gallery_id": gallery_id, "n_images": n_images,
                      "fingerprint": fp}
            row = tx.db.execute("SELECT id FROM indexes WHERE path = ?", (str(path),)).fetchone()
            if row:
                tx.db["indexes"].update(row[0], values)
                iid = int(row[0])
            else:
                iid = tx.insert("indexes", {"path": str(path), **values,
                                            "created_at": now_iso()})
            tx.description = f"register index {path}"
            return iid

    def find_index(self, path: str | Path) -> IndexRecord | None:
        row = _first(self._db(), "SELECT * FROM indexes WHERE path = ?", [str(path)])
        return from_row(IndexRecord, row) if row else None

    def indexes(self) -> list[IndexRecord]:
        return [from_row(IndexRecord, r)
                for r in self._db().query("SELECT * FROM indexes ORDER BY id")]

    # ---- suggestions ------------------------------------------------------------------------

    def record_suggestions(
        self, query_id: int, candidates: list[Candidate], *, model: str | int | None = None,
        estimate: Estimate | None = None, index_id: int | None = None, verdict: str = "",
        params: dict[str, Any] | None = None,
    ) -> int:
        """Keep what a model proposed for a query (ranked candidates + location estimate), so
        a later decision can say which model and rank it came from. Returns the run id.

        ``params`` (k, bandwidth, the index's content key …) is what a later start must match
        to re-use this run instead of ranking again (:meth:`find_run`). Logged but not on the
        undo stack: it is a cached computation, not a curator's act."""
        with self._cached_write("suggest", query_id=query_id) as tx:
            self._query_row(tx.db, query_id)
            model_id, model_name = self._model_ref(tx.db, model, create=True)
            run_id = tx.insert("suggestion_runs", {
                "query_id": query_id, "model_id": model_id, "model_name": model_name,
                "index_id": index_id,
                "est_lat": estimate.lat if estimate else None,
                "est_lon": estimate.lon if estimate else None,
                "est_radius_m": estimate.radius_m if estimate else None,
                "est_confidence": estimate.confidence if estimate else None,
                "created_at": now_iso(), "verdict": verdict,
                "params": json.dumps(params or {}, sort_keys=True),
            })
            image_ids = self._image_ids(tx.db, [c.path for c in candidates])
            tx.db.conn.executemany(
                "INSERT INTO suggestions (run_id, rank, score, path, image_id, lat, lon, heading,"
                " place_id, p_match) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [(run_id, int(c.rank), float(c.score), c.path, image_ids.get(c.path), c.lat,
                  c.lon, c.heading, c.place_id, getattr(c, "p_match", None))
                 for c in candidates])
            tx.description = (f"{len(candidates)} suggestions"
                              + (f" from model {model_name}" if model_name else ""))
            return run_id

    def update_run(
        self, run_id: int, candidates: list[Candidate], *, estimate: Estimate | None = None,
        verdict: str = "", params: dict[str, Any] | None = None,
    ) -> None:
        """A later, better reading of the same run (geometric verification): new ranks and
        p_match for its suggestions, matched by path, so suggestion ids — and decisions made
        on them meanwhile — stay valid; the estimate, verdict and ``params`` (the key
        :meth:`find_run` re-uses it by) replace the run's. One transaction; the candidates
        must be the run's own paths. Logged, not on the undo stack (a cached computation)."""
        with self._cached_write("verify") as tx:
            row = _first(tx.db, "SELECT query_id FROM suggestion_runs WHERE id = ?", [run_id])
            if row is None:
                raise NotFoundError(f"has no suggestion run {run_id}", self.path)
            tx.query_id = row["query_id"]
            known = {r[0] for r in tx.db.execute(
                "SELECT path FROM suggestions WHERE run_id = ?", [run_id])}
            paths = [c.path for c in candidates]
            if set(paths) != known or len(paths) != len(known):
                raise InvalidValueError(
                    f"the candidates are not the ones of suggestion run {run_id}")
            # ranks are UNIQUE per run: move them out of the way first, then set them
            tx.db.execute("UPDATE suggestions SET rank = -rank WHERE run_id = ?", [run_id])
            tx.db.conn.executemany(
                "UPDATE suggestions SET rank = ?, p_match = ? WHERE run_id = ? AND path = ?",
                [(int(c.rank), getattr(c, "p_match", None), run_id, c.path)
                 for c in candidates])
            values: dict[str, Any] = {
                "est_lat": estimate.lat if estimate else None,
                "est_lon": estimate.lon if estimate else None,
                "est_radius_m": estimate.radius_m if estimate else None,
                "est_confidence": estimate.confidence if estimate else None,
                "verdict": verdict}
            if params is not None:
                values["params"] = json.dumps(params, sort_keys=True)
            sets = ", ".join(f"{c} = :{c}" for c in values)
            tx.db.execute(f"UPDATE suggestion_runs SET {sets} WHERE id = :_id",
                          {**values, "_id": run_id})
            tx.description = ("suggestions verified geometrically"
                              + (f" (verdict: {verdict})" if verdict else ""))

    def find_run(self, query_id: int, *, model_id: int | None, index_id: int | None,
                 params: dict[str, Any] | None = None) -> SuggestionRun | None:
        """The newest run of this query by this model on this index with these parameters
        (what a restart re-uses instead of ranking again), or None."""
        row = _first(self._db(), """SELECT id FROM suggestion_runs WHERE query_id = ?
                     AND model_id IS ? AND index_id IS ? AND params = ? ORDER BY id DESC
                     LIMIT 1""", [query_id, model_id, index_id,
                                  json.dumps(params or {}, sort_keys=True)])
        return self.run(row["id"]) if row else None

    def run(self, run_id: int) -> SuggestionRun:
        with self._read() as db:
            row = _first(db, "SELECT * FROM suggestion_runs WHERE id = ?", [run_id])
            if row is None:
                raise NotFoundError(f"has no suggestion run {run_id}", self.path)
            sugg = tuple(from_row(SuggestionRecord, r) for r in db.query(
                "SELECT * FROM suggestions WHERE run_id = ? ORDER BY rank", [run_id]))
            return from_row(SuggestionRun, {**row, "suggestions": sugg})

    @staticmethod
    def _image_ids(db: sqlite_utils.Database, paths: list[str]) -> dict[str, int]:
        """Live gallery image ids of ``paths`` in one statement (newest row per path)."""
        unique = list(dict.fromkeys(paths))
        if not unique:
            return {}
        marks = ", ".join("?" * len(unique))
        return {r[1]: int(r[0]) for r in db.execute(
            f"SELECT max(id), path FROM images WHERE deleted = 0 AND path IN ({marks})"
            " GROUP BY path", unique)}

    def suggestion_runs(self, query_id: int) -> list[SuggestionRun]:
        """Every run for a query, newest first, each with its ranked suggestions."""
        with self._read() as db:
            runs = list(db.query("SELECT * FROM suggestion_runs WHERE query_id = ?"
                                 " ORDER BY id DESC", [query_id]))
            out = []
            for run in runs:
                sugg = tuple(from_row(SuggestionRecord, r) for r in db.query(
                    "SELECT * FROM suggestions WHERE run_id = ? ORDER BY rank", [run["id"]]))
                out.append(from_row(SuggestionRun, {**run, "suggestions": sugg}))
            return out

    def latest_run(self, query_id: int) -> SuggestionRun | None:
        runs = self.suggestion_runs(query_id)
        return runs[0] if runs else None

    def suggestion(self, suggestion_id: int) -> SuggestionRecord:
        row = _first(self._db(), "SELECT * FROM suggestions WHERE id = ?", [suggestion_id])
        if row is None:
            raise NotFoundError(f"has no suggestion {suggestion_id}", self.path)
        return from_row(SuggestionRecord, row)

    # ---- decisions --------------------------------------------------------------------------

    def decide(
        self, query_id: int, status: str, candidate_path: str | None = None,
        lat: float | None = None, lon: float | None = None, heading: float | None = None,
        curator: str = "", note: str = "", suggestion_id: int | None = None,
        model: str | int | None = None, run_id: int | None = None, rank: int | None = None,
        precision_m: float | None = None, placed: str = "", p_match: float | None = None,
    ) -> int:
        """Record a curator's decision about a query; returns the decision id.

        The place is a gallery candidate (``candidate_path`` or ``suggestion_id``; its location
        is copied from the gallery when not given) or a free map point (``lat``/``lon``, with an
        optional camera ``heading``). Model and rank come from the suggestion, or else from the
        newest suggestion run that listed this candidate. A caller that carries the run it
        showed passes ``run_id`` + ``rank`` (one lookup instead of a search).

        ``precision_m`` and ``placed`` ('camera' / 'subject') describe a hand placement;
        ``p_match`` is the calibrated probability the curator saw."""
        if run_id is not None and rank is not None and suggestion_id is None:
            # by path when the candidate is named: verification may re-order a run's ranks
            # between the moment the curator picked and this call (update_run)
            row = (_first(self._db(), "SELECT id FROM suggestions WHERE run_id = ? AND path = ?",
                          [run_id, str(candidate_path)]) if candidate_path is not None else
                   _first(self._db(), "SELECT id FROM suggestions WHERE run_id = ? AND rank = ?",
                          [run_id, int(rank)]))
            suggestion_id = int(row["id"]) if row else None
        if status not in STATUSES:
            raise ValueError(f"status must be one of {STATUSES}, not {status!r}")
        if candidate_path is not None and not str(candidate_path).strip():
            raise InvalidValueError("the candidate path is empty",
                                    hint="give the gallery photo's path, or a map point")
        _check_latlon(lat, lon)
        heading = _heading(heading)
        with self._write("decide", actor=curator, query_id=query_id) as tx:
            db = tx.db
            q = self._query_row(db, query_id)
            if q["unreadable"]:
                raise ValueError(f"cannot be decided: the file cannot be read "
                                 f"({q['unreadable']}); replace the file and add it again")
            rank = image_id = model_id = None
            model_name = ""
            if precision_m is not None and not precision_m >= 0:
                raise ValueError(f"precision must be a distance in metres, not {precision_m}")
            if placed not in ("", "camera", "subject"):
                raise ValueError(f"placed must be 'camera' or 'subject', not {placed!r}")
            if model is not None:
                model_id, model_name = self._model_ref(db, model)
            sugg = None
            if suggestion_id is not None:
                sugg = _first(db, """SELECT s.*, r.model_id AS run_model_id,
                    r.model_name AS run_model_name, r.query_id FROM suggestions s
                    JOIN suggestion_runs r ON r.id = s.run_id WHERE s.id = ?""", [suggestion_id])
                if sugg is None:
                    raise NotFoundError(f"has no suggestion {suggestion_id}", self.path)
                if sugg["query_id"] != query_id:
                    raise InvalidValueError(
                        f"suggestion {suggestion_id} belongs to another query")
                candidate_path = candidate_path or sugg["path"]
            elif candidate_path is not None:
                model_filter = "AND r.model_id = ?" if model_id is not None else ""
                args = [query_id, candidate_path] + ([model_id] if model_id is not None else [])
                sugg = _first(db, f"""SELECT s.*, r.model_id AS run_model_id,
                    r.model_name AS run_model_name FROM suggestions s
                    JOIN suggestion_runs r ON r.id = s.run_id
                    WHERE r.query_id = ? AND s.path = ? {model_filter}
                    ORDER BY r.id DESC LIMIT 1""", args)
                suggestion_id = sugg["id"] if sugg else None
            if sugg is not None:
                rank, image_id = sugg["rank"], sugg["image_id"]
                if model is None:
                    model_id, model_name = sugg["run_model_id"], sugg["run_model_name"]
            if candidate_path is not None:
                img = _first(db, "SELECT * FROM images WHERE path = ? AND deleted = 0"
                                 " ORDER BY id DESC", [candidate_path])
                src = img or sugg
                if img:
                    image_id = img["id"]
                if lat is None and src is not None and src["lat"] is not None:
                    lat, lon = src["lat"], src["lon"]
                    if heading is None:
                        heading = src["heading"]
            if status == "confirmed" and candidate_path is None and lat is None:
                raise InvalidValueError(
                    "a confirmation needs a candidate or a map point (lat, lon)")
            dec = {
                "query_id": query_id, "status": status, "candidate_path": candidate_path,
                "image_id": image_id, "lat": lat, "lon": lon, "heading": heading,
                "curator": curator, "note": note, "created_at": now_iso(),
                "suggestion_id": suggestion_id, "model_id": model_id, "model_name": model_name,
                "rank": rank, "deleted": 0, "precision_m": precision_m, "placed": placed,
                "p_match": p_match,
            }
            did = tx.insert("decisions", dec)
            record = from_row(DecisionRecord, {**dec, "id": did})
            tx.description = f"{Path(q['path']).name}: {hist.describe_decision(record)}"
            return did

    def decision(self, decision_id: int) -> DecisionRecord:
        row = _first(self._db(), "SELECT * FROM decisions WHERE id = ?", [decision_id])
        if row is None:
            raise NotFoundError(f"has no decision {decision_id}", self.path)
        return from_row(DecisionRecord, row)

    def decisions(self, query_id: int, *, include_undone: bool = False) -> list[DecisionRecord]:
        where = "" if include_undone else " AND deleted = 0"
        rows = self._db().query(
            f"SELECT * FROM decisions WHERE query_id = ?{where} ORDER BY id", [query_id])
        return [from_row(DecisionRecord, r) for r in rows]

    def current_decision(self, query_id: int, curator: str | None = None) -> DecisionRecord | None:
        """The newest decision still in force (of one curator, if given); per-candidate
        rejects are hard negatives, not the photo's decision (:meth:`negatives`)."""
        sql = f"SELECT * FROM decisions d WHERE query_id = ? AND deleted = 0 AND {IN_FORCE}"
        args: list[Any] = [query_id]
        if curator is not None:
            sql += " AND curator = ?"
            args.append(curator)
        row = _first(self._db(), sql + " ORDER BY id DESC LIMIT 1", args)
        return from_row(DecisionRecord, row) if row else None

    def confirmed(self, curator: str | None = None, *, reviewed: bool = False
                  ) -> list[tuple[QueryRecord, DecisionRecord]]:
        """Every live query whose current decision is a confirmation (what export writes);
        ``reviewed``: only confirmations a second curator accepted (and nobody disputes)."""
        with self._read() as db:
            sql = """SELECT d.* FROM decisions d JOIN queries q ON q.id = d.query_id
                WHERE q.deleted = 0 AND d.id = (SELECT max(x.id) FROM decisions x
                WHERE x.query_id = d.query_id AND x.deleted = 0 {who}
                AND NOT (x.status = 'rejected' AND x.candidate_path IS NOT NULL))
                AND d.status = 'confirmed' {rev} ORDER BY d.query_id"""
            who = "AND x.curator = :curator" if curator is not None else ""
            rev = ("AND EXISTS (SELECT 1 FROM reviews r WHERE r.decision_id = d.id AND "
                   "r.deleted = 0 AND r.verdict = 'accept') AND NOT EXISTS (SELECT 1 FROM "
                   "reviews r WHERE r.decision_id = d.id AND r.deleted = 0 AND "
                   "r.verdict = 'dispute')") if reviewed else ""
            rows = list(db.query(sql.format(who=who, rev=rev), {"curator": curator}))
            out = []
            for r in rows:
                q = self._query_row(db, r["query_id"])
                out.append((from_row(QueryRecord, {**q, "status": "confirmed"}),
                            from_row(DecisionRecord, r)))
            return out

    def negatives(self, curator: str | None = None) -> list[tuple[QueryRecord, DecisionRecord]]:
        """What the curators said is *not* the place: every live per-candidate reject (a hard
        negative, unless that candidate is now confirmed) and every "none of these" in force,
        ordered by query."""
        out = []
        for q in self.queries():
            current = self.current_decision(q.id, curator)
            for d in self.decisions(q.id):
                if curator is not None and d.curator != curator:
                    continue
                hard = d.status == "rejected" and d.candidate_path is not None
                if hard and not (current is not None and current.status == "confirmed"
                                 and current.candidate_path == d.candidate_path):
                    out.append((q, d))
            if current is not None and current.status == "none":
                out.append((q, current))
        return out

    # ---- reviews ----------------------------------------------------------------------------

    def review(self, decision_id: int, verdict: str, *, reviewer: str = "",
               note: str = "") -> int:
        """A second curator's verdict on a decision (accept / dispute); undoable. Returns the
        review id. A reviewer's newer review of the same decision replaces their older one."""
        if verdict not in VERDICTS:
            raise ValueError(f"verdict must be one of {VERDICTS}, not {verdict!r}")
        d = self.decision(decision_id)
        with self._write("review", actor=reviewer, query_id=d.query_id) as tx:
            q = self._query_row(tx.db, d.query_id)
            for (old,) in tx.db.execute("SELECT id FROM reviews WHERE decision_id = ? AND "
                                        "reviewer = ? AND deleted = 0",
                                        (decision_id, reviewer)).fetchall():
                tx.update("reviews", old, {"deleted": 1})
            rid = tx.insert("reviews", {"decision_id": decision_id, "reviewer": reviewer,
                                        "verdict": verdict, "note": note,
                                        "created_at": now_iso(), "deleted": 0})
            who = reviewer or "an unnamed reviewer"
            whose = d.curator or "an unnamed curator"
            tx.description = (f"{Path(q['path']).name}: {verdict} by {who} of {whose}'s "
                              f"{d.status}" + (f' — "{note}"' if note else ""))
            return rid

    def reviews(self, decision_id: int | None = None) -> list[ReviewRecord]:
        """Live reviews (of one decision, if given), oldest first."""
        where = "deleted = 0" + (" AND decision_id = ?" if decision_id is not None else "")
        args = [decision_id] if decision_id is not None else []
        return [from_row(ReviewRecord, r) for r in self._db().query(
            f"SELECT * FROM reviews WHERE {where} ORDER BY id", args)]

    def agreement(self, query_id: int) -> Agreement:
        """Each curator's current decision and whether they agree (none/single/agree/conflict)."""
        latest: dict[str, DecisionRecord] = {}
        for d in self.decisions(query_id):
            if d.status == "rejected" and d.candidate_path is not None:
                continue  # a hard negative, not the curator's decision about the photo
            latest[d.curator] = d  # ordered by id: the last one wins
        return hist.agreement_of(latest)

    def history(self, query_id: int) -> list[HistoryEntry]:
        """The query's story, oldest first: additions, suggestion runs, decisions (each with
        its fate: current / later changed / undone), undos and redos."""
        with self._read() as db:
            events = list(db.query(
                """SELECT e.* FROM events e WHERE e.query_id = ? OR e.target_id IN
                   (SELECT id FROM events WHERE query_id = ?) ORDER BY e.id""",
                [query_id, query_id]))
            decisions = [from_row(DecisionRecord, r) for r in db.query(
                "SELECT * FROM decisions WHERE query_id = ? ORDER BY id", [query_id])]
        by_id = {d.id: d for d in decisions}
        out = []
        for e in events:
            text, state = e["description"], ""
            if e["kind"] == "decide":
                ids = [i for c in undo.decode(e["changes"]) if c["table"] == "decisions"
                       for i in c.get("ids", [])]
                if ids and ids[0] in by_id:
                    d = by_id[ids[0]]
                    text = hist.describe_decision(d)
                    state = hist.fate(d, [x for x in decisions if x.id > d.id])
            elif e["kind"] in ("undo", "redo"):
                text = f"{e['kind']} by {e['actor'] or 'an unnamed curator'}: {text}"
            out.append(HistoryEntry(e["id"], e["ts"], e["kind"], e["actor"], text, state))
        return out

    # ---- undo / redo ------------------------------------------------------------------------

    def undo(self, curator: str | None = None) -> str | None:
        """Revert the newest applied user action (of ``curator``, if given); returns its
        description, or None when there is nothing to undo."""
        return self._undo_redo(undo_=True, curator=curator)

    def redo(self, curator: str | None = None) -> str | None:
        """Re-apply the most recently undone action; None when there is nothing to redo."""
        return self._undo_redo(undo_=False, curator=curator)

    def undo_description(self, curator: str | None = None) -> str | None:
        """What ``undo()`` would revert (for an "Undo …" menu label), without doing it."""
        e = undo.undo_target(self._db(), curator)
        return e["description"] if e else None

    def redo_description(self, curator: str | None = None) -> str | None:
        e = undo.redo_target(self._db(), curator)
        return e["description"] if e else None

    def _undo_redo(self, *, undo_: bool, curator: str | None) -> str | None:
        kind = "undo" if undo_ else "redo"
        find = undo.undo_target if undo_ else undo.redo_target
        try:
            with self._write(kind, actor=curator or "", undoable=False) as tx:
                target = find(tx.db, curator)
                if target is None:
                    raise _NothingToDo
                undo.apply_changes(tx.db, undo.decode(target["changes"]), undo=undo_)
                tx.query_id = target["query_id"]
                tx.target_id = target["id"]
                tx.description = target["description"]
                return str(target["description"])
        except _NothingToDo:
            return None

    # ---- log, stats -------------------------------------------------------------------------

    def events(self, limit: int = 100, query_id: int | None = None) -> list[EventRecord]:
        """The newest events first (the activity log)."""
        where = "WHERE query_id = ?" if query_id is not None else ""
        args = [query_id] if query_id is not None else []
        rows = self._db().query(f"SELECT * FROM events {where} ORDER BY id DESC LIMIT ?",
                                [*args, limit])
        return [from_row(EventRecord, r) for r in rows]

    def stats(self) -> dict[str, int]:
        """Counts for a status bar: queries by status, images, decisions, events."""
        with self._read() as db:
            counts = {s: 0 for s in (OPEN, *STATUSES)}
            for q in self.queries():
                counts[q.status] += 1
            counts["queries"] = sum(counts[s] for s in (OPEN, *STATUSES))
            for table in ("images", "decisions"):
                counts[table] = db.execute(
                    f"SELECT count(*) FROM {table} WHERE deleted = 0").fetchone()[0]
            counts["events"] = db.execute("SELECT count(*) FROM events").fetchone()[0]
            return counts

    # ---- helpers ----------------------------------------------------------------------------

    def _status(self, db: sqlite_utils.Database, query_id: int) -> str:
        row = db.execute(f"SELECT status FROM decisions d WHERE query_id = ? AND deleted = 0"
                         f" AND {IN_FORCE} ORDER BY id DESC LIMIT 1", (query_id,)).fetchone()
        return row[0] if row else OPEN

    def _query_row(self, db: sqlite_utils.Database, query_id: int,
                   live_only: bool = True) -> dict[str, Any]:
        row = _first(db, "SELECT * FROM queries WHERE id = ?", [query_id])
        if row is None or (live_only and row["deleted"]):
            raise NotFoundError(f"has no query {query_id}", self.path,
                                "add the photo first (add_query)")
        return row

    def _gallery_row(self, db: sqlite_utils.Database, gallery_id: int) -> dict[str, Any]:
        row = _first(db, "SELECT * FROM galleries WHERE id = ? AND deleted = 0", [gallery_id])
        if row is None:
            raise NotFoundError(f"has no gallery {gallery_id}", self.path)
        return row

    def _model_ref(self, db: sqlite_utils.Database, model: str | int | None,
                   create: bool = False) -> tuple[int | None, str]:
        """(model id, name) for a model given by id or name; unknown names are kept as text
        (and registered when ``create``)."""
        if model is None or model == "":
            return None, ""
        if isinstance(model, int):
            row = db.execute("SELECT id, name FROM models WHERE id = ?", (model,)).fetchone()
            if row is None:
                raise NotFoundError(f"has no model {model}", self.path)
            return int(row[0]), row[1]
        row = db.execute("SELECT id FROM models WHERE name = ? ORDER BY id DESC LIMIT 1",
                         (model,)).fetchone()
        if row:
            return int(row[0]), model
        if create:
            mid = db["models"].insert({"name": model, "weight_hash": "", "card": "",
                                       "fingerprint": "{}", "created_at": now_iso()}).last_pk
            return int(mid), model
        return None, model


class _NothingToDo(Exception):
    pass


def _insert(db: sqlite_utils.Database, table: str, row: dict[str, Any]) -> int:
    """One row, one statement (sqlite-utils' insert inspects the schema three times first).
    ``table`` and the keys are this module's own names, never user text."""
    cols = ", ".join(row)
    marks = ", ".join("?" * len(row))
    return int(db.execute(f"INSERT INTO {table} ({cols}) VALUES ({marks})",
                          list(row.values())).lastrowid)


def _first(db: sqlite_utils.Database, sql: str, args: list[Any] | dict) -> dict[str, Any] | None:
    """The first row as a dict (a plain cursor: no savepoint around a one-row read)."""
    cur = db.execute(sql, args)
    row = cur.fetchone()
    return dict(zip([c[0] for c in cur.description], row, strict=True)) if row else None


def _photo_dict(p: Photo) -> dict[str, Any]:
    return {"path": p.path, "lat": p.lat, "lon": p.lon, "heading": p.heading,
            "place_id": p.place_id}


def _heading(value: float | None) -> float | None:
    if value is None:
        return None
    if not math.isfinite(float(value)):
        raise InvalidValueError(f"heading {value} is not a number of degrees",
                                hint="give 0–360 degrees clockwise from north, or none")
    return float(value) % 360.0


def _check_latlon(lat: float | None, lon: float | None) -> None:
    if (lat is None) != (lon is None):
        raise InvalidValueError("give both lat and lon, or neither")
    if lat is not None and not (-90 <= lat <= 90 and -180 <= lon <= 180):  # type: ignore[operator]
        raise InvalidValueError(f"not a WGS84 position: {lat}, {lon}",
                                hint="latitude is -90..90, longitude -180..180")
