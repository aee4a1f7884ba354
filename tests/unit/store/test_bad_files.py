"""Database files and media that are not what the store expects (issue 17): odd names, read-only
and full media, another program's SQLite file, a newer schema in rollback-journal mode."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from geomatch_app.store import InvalidValueError, SchemaTooNewError, Store, StoreError
from geomatch_app.store import store as store_module
from geomatch_app.store.check import check_database

REAL_CONNECT = sqlite3.connect


def _journal_mode(path: Path) -> str:
    conn = REAL_CONNECT(path)
    try:
        return conn.execute("PRAGMA journal_mode").fetchone()[0]
    finally:
        conn.close()


# ---- `db check` with URI characters in the name ------------------------------------------------

@pytest.mark.parametrize("name", ["cur#1.sqlite", "a?b.sqlite", "100%.sqlite", "sp ace.sqlite"])
def test_check_opens_the_file_it_was_given(tmp_path, name):
    db = tmp_path / name
    with Store(db) as s:
        s.add_query(tmp_path / "scan.jpg")
    before = sorted(p.name for p in tmp_path.iterdir())
    report = check_database(db)
    assert report.ok and report.counts["queries"] == 1  # read the right file...
    after = sorted(p.name for p in tmp_path.iterdir())
    assert not (set(after) - set(before) - {f"{name}-wal", f"{name}-shm"})  # ...created no other
    assert not (tmp_path / "cur").exists() and not (tmp_path / "a").exists()


# ---- read-only medium ------------------------------------------------------------------------

def _read_only_connect(monkeypatch):
    """Open every store connection read-only, as on a read-only mount (tests run as root, where
    chmod cannot take write access away)."""
    def connect(path, *args, **kwargs):
        return REAL_CONNECT(f"{Path(path).resolve().as_uri()}?mode=ro", *args, uri=True, **kwargs)

    monkeypatch.setattr(store_module.sqlite3, "connect", connect)


def test_read_only_file_can_be_browsed_and_writes_say_read_only(tmp_path, monkeypatch):
    db = tmp_path / "c.sqlite"
    with Store(db) as s:
        s.add_query(tmp_path / "a.jpg")
    REAL_CONNECT(db).execute("PRAGMA journal_mode = DELETE").connection.close()
    before = db.read_bytes()
    _read_only_connect(monkeypatch)
    with Store(db) as s:
        assert [Path(q.path).name for q in s.queries()] == ["a.jpg"]
        with pytest.raises(StoreError) as err:
            s.add_query(tmp_path / "b.jpg")
    text = str(err.value)
    assert str(db) in text and "is read-only" in text
    assert "not a geomatch database" not in text and "backup" not in text
    assert db.read_bytes() == before


def test_read_only_wal_file_write_is_a_message(tmp_path, monkeypatch):
    db = tmp_path / "c.sqlite"
    Store(db).close()
    _read_only_connect(monkeypatch)
    with Store(db) as s, pytest.raises(StoreError, match="is read-only"):
        s.add_gallery("g")


def test_read_only_old_schema_cannot_migrate_message(tmp_path, monkeypatch):
    db = tmp_path / "v1.sqlite"
    db.write_bytes((Path(__file__).parents[2] / "fixtures" / "store_v1.sqlite").read_bytes())
    _read_only_connect(monkeypatch)
    with pytest.raises(StoreError, match="is read-only"):
        Store(db, backup_before_migrate=False)


# ---- full medium -----------------------------------------------------------------------------

def test_full_disk_is_reported_as_full_and_loses_nothing(tmp_path):
    db = tmp_path / "c.sqlite"
    with Store(db) as s:
        gid = s.add_gallery("g")
        s.add_images(gid, [{"path": f"/g/{i}.jpg"} for i in range(5)], hash_files=False)
        conn = s._db().conn
        pages = conn.execute("PRAGMA page_count").fetchone()[0]
        conn.execute(f"PRAGMA max_page_count = {pages}")  # the disk is now full
        with pytest.raises(StoreError) as err:
            s.add_images(gid, [{"path": f"/g/new{i}_{'x' * 200}.jpg"} for i in range(500)],
                         hash_files=False)
        text = str(err.value)
        assert "disk is full" in text and "not a geomatch database" not in text
        assert "backup" not in text
        assert len(s.images(gid)) == 5  # the failed action left nothing half-written
        conn.execute("PRAGMA max_page_count = 1073741823")
        s.add_images(gid, [{"path": "/g/later.jpg"}], hash_files=False)  # and the store works
        assert len(s.images(gid)) == 6
    assert check_database(db).ok


def test_full_disk_while_creating_is_a_message(tmp_path, monkeypatch):
    def tiny_disk(path, *args, **kwargs):
        conn = REAL_CONNECT(path, *args, **kwargs)
        conn.execute("PRAGMA max_page_count = 2")
        return conn

    monkeypatch.setattr(store_module.sqlite3, "connect", tiny_disk)
    with pytest.raises(StoreError, match="disk is full"):
        Store(tmp_path / "new.sqlite")


# ---- files that are not (this version's) geomatch databases ----------------------------------

def test_other_programs_sqlite_file_is_refused_untouched(tmp_path):
    db = tmp_path / "photos.db"
    conn = REAL_CONNECT(db)
    conn.execute("CREATE TABLE albums (id INTEGER PRIMARY KEY, title TEXT)")
    conn.execute("INSERT INTO albums (title) VALUES ('holiday')")
    conn.commit()
    conn.close()
    before = db.read_bytes()
    with pytest.raises(StoreError) as err:
        Store(db)
    assert "another program" in str(err.value) and "albums" in str(err.value)
    assert "not changed" in str(err.value)
    assert db.read_bytes() == before and _journal_mode(db) == "delete"


def test_empty_file_becomes_a_database(tmp_path):
    db = tmp_path / "empty.sqlite"
    db.write_bytes(b"")
    with Store(db) as s:
        assert s.schema_version > 0


def test_newer_schema_in_rollback_mode_is_not_switched_to_wal(tmp_path):
    db = tmp_path / "future.sqlite"
    Store(db).close()
    conn = REAL_CONNECT(db)
    conn.execute("PRAGMA journal_mode = DELETE")
    conn.execute("INSERT INTO schema_version VALUES (99, 'future')")
    conn.commit()
    conn.close()
    before = db.read_bytes()
    with pytest.raises(SchemaTooNewError, match="not changed"):
        Store(db)
    assert _journal_mode(db) == "delete"  # the message says unchanged: it must be
    assert db.read_bytes() == before
    assert not Path(f"{db}-wal").exists()


def test_folder_given_as_database(tmp_path):
    with pytest.raises(StoreError, match="is not a file"):
        Store(tmp_path)


def test_database_in_unwritable_place(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(StoreError, match="cannot create its folder"):
        Store(blocker / "sub" / "c.sqlite")


# ---- values ----------------------------------------------------------------------------------

@pytest.mark.parametrize("kwargs,words", [
    ({"lat": 200.0, "lon": 0.0}, "not a WGS84 position"),
    ({"lat": float("nan"), "lon": 0.0}, "not a WGS84 position"),
    ({"lat": 1.0, "lon": 2.0, "heading": float("nan")}, "heading nan"),
    ({"lat": 1.0, "lon": 2.0, "heading": float("inf")}, "heading inf"),
    ({"candidate_path": ""}, "candidate path is empty"),
    ({"candidate_path": "  "}, "candidate path is empty"),
])
def test_bad_decision_values_are_messages(tmp_path, kwargs, words):
    with Store(tmp_path / "c.sqlite") as s:
        qid = s.add_query(tmp_path / "q.jpg")
        with pytest.raises(InvalidValueError, match=words) as err:
            s.decide(qid, "confirmed", **kwargs)
        assert isinstance(err.value, ValueError)  # older callers catch ValueError
        assert s.decisions(qid) == []
