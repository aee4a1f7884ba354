"""Old files upgrade and keep every row; newer files and non-databases are refused clearly."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import pytest

from geomatch_app.store import SCHEMA_VERSION, SchemaTooNewError, Store, StoreError
from geomatch_app.store.check import check_database
from geomatch_app.store.schema import parse_date_range

FIXTURE = Path(__file__).parents[2] / "fixtures" / "store_v1.sqlite"
FIXTURE_V3 = Path(__file__).parents[2] / "fixtures" / "store_v3.sqlite"


def test_v1_fixture_migrates_and_keeps_everything(tmp_path):
    db = tmp_path / "old.sqlite"
    shutil.copyfile(FIXTURE, db)
    store = Store(db)
    assert store.schema_version == SCHEMA_VERSION == 4
    assert (tmp_path / "old.v1.bak.sqlite").is_file()  # a copy from before the migration
    qs = store.queries()
    assert [(q.title, q.archive_id, q.status) for q in qs] == [
        ("Keating Hall", "A-17", "confirmed"), ("Rose Hill", "A-18", "confirmed"),
        ("Unknown", "", "skipped")]
    assert [(q.date_text, q.date_from, q.date_to) for q in qs] == [
        ("c. 1920-1925", "1920-01-01", "1925-12-31"), ("1931-05-07", "1931-05-07", "1931-05-07"),
        ("undated", None, None)]
    d = store.current_decision(qs[0].id)
    assert (d.curator, d.model_name, d.rank, d.candidate_path, d.heading) == (
        "Ann", "effnetlite2-gem", 2, "images/p0_i1.jpg", None)
    assert store.latest_run(qs[0].id).est_radius_m == 120.0
    assert [i.place_id for i in store.images()] == ["fordham_p0", "fordham_p1"]
    assert "using model effnetlite2-gem at rank 2" in str(store.history(qs[0].id)[0])
    # the migrated file works like a new one: new columns, undo of the old events
    store.decide(qs[1].id, "confirmed", lat=40.86, lon=-73.88, heading=45, curator="Ann")
    assert store.current_decision(qs[1].id).heading == 45.0
    store.undo()
    store.undo()  # reaches into the v1 event log
    assert store.query(qs[2].id).status == "open"
    store.close()
    assert check_database(db).ok
    with sqlite3.connect(db) as conn:
        versions = [r[0] for r in conn.execute("SELECT version FROM schema_version ORDER BY 1")]
    assert versions == [1, 2, 3, 4]


def test_v3_keeps_decision_ids_and_guards(tmp_path):
    db = tmp_path / "old.sqlite"
    shutil.copyfile(FIXTURE, db)
    with sqlite3.connect(db) as conn:
        before = conn.execute("SELECT id, query_id, status, curator FROM decisions"
                              " ORDER BY id").fetchall()
    store = Store(db)
    with sqlite3.connect(db) as conn:
        after = conn.execute("SELECT id, query_id, status, curator FROM decisions"
                             " ORDER BY id").fetchall()
        assert after == before
        with pytest.raises(sqlite3.DatabaseError, match="never deleted"):
            conn.execute("DELETE FROM decisions")
        with pytest.raises(sqlite3.IntegrityError):
            conn.execute("UPDATE decisions SET status = 'maybe'")
    qid = store.queries()[2].id
    store.decide(qid, "none", curator="Ann")  # "none of these": a v3 status
    assert store.query(qid).status == "none"
    store.close()


def _dump(db: Path, sql: str) -> list[tuple]:
    with sqlite3.connect(db) as conn:
        return conn.execute(sql).fetchall()


def test_v3_file_migrates_to_v4_keeping_every_decision_review_and_record(tmp_path):
    db = tmp_path / "day.sqlite"
    shutil.copyfile(FIXTURE_V3, db)
    tables = ("decisions", "reviews", "images", "suggestion_runs")
    before = {t: _dump(db, f"SELECT * FROM {t} ORDER BY id") for t in tables}
    queries_before = _dump(db, "SELECT * FROM queries ORDER BY id")
    store = Store(db)
    assert store.schema_version == 4
    backup = tmp_path / "day.v3.bak.sqlite"  # the file as it was, before the migration
    assert backup.is_file()
    assert _dump(backup, "SELECT max(version) FROM schema_version") == [(3,)]
    assert _dump(backup, "SELECT * FROM decisions ORDER BY id") == before["decisions"]
    for t in tables:  # every row kept, unchanged
        assert _dump(db, f"SELECT * FROM {t} ORDER BY id") == before[t]
    # the old query columns unchanged; the two new ones at their defaults
    after = _dump(db, "SELECT * FROM queries ORDER BY id")
    assert [row[:-2] for row in after] == queries_before
    assert {row[-2:] for row in after} == {("", 1)}
    qs = store.queries()
    assert [(q.title, q.status, q.place_text, q.assigned_to, bool(q.use_prior))
            for q in qs] == [("Market", "confirmed", "Lund, Stortorget", "", True),
                             ("Street", "none", "Berlin", "", True),
                             ("Harbour", "open", "", "", True),
                             ("", "open", "", "", True)]
    assert qs[3].unreadable == "not an image file"
    assert store.negatives()[0][1].candidate_path == "/g/berlin_01.jpg"
    assert [r.verdict for r in store.reviews()] == ["accept"]
    # v4 at work: assign (undoable), turn the prior off
    assert store.assign([qs[0].id, qs[1].id], "Bob", curator="Ann") == 2
    assert [q.assigned_to for q in store.queries()][:2] == ["Bob", "Bob"]
    assert store.curators() == ["Ann", "Bob", "Cleo"]
    store.update_query(qs[1].id, use_prior=False)
    assert not store.query(qs[1].id).use_prior
    store.undo()
    store.undo()
    assert [q.assigned_to for q in store.queries()][:2] == ["", ""]
    assert store.query(qs[1].id).use_prior
    store.close()
    assert check_database(db).ok
    # opening again neither migrates nor overwrites the backup
    stamp = backup.stat().st_mtime_ns
    Store(db).close()
    assert backup.stat().st_mtime_ns == stamp


def test_newer_file_is_refused_untouched(tmp_path):
    db = tmp_path / "new.sqlite"
    Store(db).close()
    with sqlite3.connect(db) as conn:
        conn.execute("INSERT INTO schema_version VALUES (99, 'future')")
    before = db.read_bytes()
    with pytest.raises(SchemaTooNewError, match="newer geomatch") as err:
        Store(db)
    assert str(db) in str(err.value) and "update geomatch" in str(err.value)
    assert db.read_bytes() == before


def test_not_a_database(tmp_path):
    bad = tmp_path / "notes.sqlite"
    bad.write_text("this is not sqlite" * 100)
    with pytest.raises(StoreError, match="not a geomatch database"):
        Store(bad)


def test_missing_file_without_create(tmp_path):
    with pytest.raises(StoreError, match="does not exist"):
        Store(tmp_path / "none.sqlite", create=False)


@pytest.mark.parametrize("text,want", [
    ("1923", ("1923-01-01", "1923-12-31")),
    ("c. 1920-1925", ("1920-01-01", "1925-12-31")),
    ("1923-05", ("1923-05-01", "1923-05-31")),
    ("1923-02-14", ("1923-02-14", "1923-02-14")),
    ("ca. 1900 – 1910", ("1900-01-01", "1910-12-31")),
    ("", (None, None)),
    ("winter", (None, None)),
])
def test_parse_date_range(text, want):
    assert parse_date_range(text) == want
