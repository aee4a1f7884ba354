"""``db check`` passes a sound file and names each kind of damage."""

from __future__ import annotations

import sqlite3

from geomatch_app.store import SCHEMA_VERSION, Store
from geomatch_app.store.check import check_database


def _filled(tmp_path) -> Store:
    store = Store(tmp_path / "c.sqlite")
    g = store.add_gallery("g")
    store.add_images(g, [{"path": "/g/a.jpg", "lat": 1.0, "lon": 2.0}], hash_files=False)
    q = store.add_query(tmp_path / "q.jpg")
    store.decide(q, "confirmed", candidate_path="/g/a.jpg", curator="Ann")
    store.close()
    return store


def test_sound_file_passes(tmp_path):
    store = _filled(tmp_path)
    report = check_database(store.path)
    assert report.ok, report.problems
    assert report.counts["decisions"] == 1 and report.schema_version == SCHEMA_VERSION


def test_orphans_and_foreign_rows_found(tmp_path):
    store = _filled(tmp_path)
    conn = sqlite3.connect(store.path)  # writing behind the store's back, FKs off
    conn.execute("INSERT INTO decisions (query_id, status, curator, created_at) "
                 "VALUES (999, 'skipped', 'x', 'now')")
    conn.execute("UPDATE galleries SET deleted = 1")
    conn.commit()
    conn.close()
    problems = "\n".join(check_database(store.path).problems)
    assert "orphan: decisions row 2 points to a missing queries" in problems
    assert "decision 2 has no event" in problems
    assert "live image in a removed gallery" in problems


def test_corrupt_file_fails(tmp_path):
    store = _filled(tmp_path)
    data = bytearray(store.path.read_bytes())
    page = int.from_bytes(data[16:18], "big")
    for offset in range(page, len(data), page):  # break every b-tree page header but page 1
        data[offset:offset + 8] = b"\xff" * 8
    store.path.write_bytes(bytes(data))
    report = check_database(store.path)
    assert not report.ok
