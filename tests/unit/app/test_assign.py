"""Batch assignment to a curator: one undoable action, the queue's "assigned to" filter, the
CLI, and the export's provenance column."""

from __future__ import annotations

from geomatch_app.app import curation
from geomatch_app.app.queue_view import UNASSIGNED, QueueFilter, rows_for
from geomatch_app.cli import main
from geomatch_app.store import Store


def _photos(tmp_path, n=4):
    out = []
    for i in range(n):
        p = tmp_path / f"scan_{i}.jpg"
        p.write_bytes(b"not decoded here %d" % i)
        out.append(str(p))
    return out


def test_assign_filter_and_undo(tmp_path):
    paths = _photos(tmp_path)
    with Store(tmp_path / "c.sqlite") as store:
        assert curation.assign(store, paths[:2], "Bob", curator="Ann") == 2
        assert curation.assign(store, paths[1:3], "Ann", curator="Ann") == 2
        rows = rows_for(store, paths)
        assert [r.assigned_to for r in rows] == ["Bob", "Ann", "Ann", ""]
        mine = QueueFilter(assigned="Ann")
        assert [r.path for r in rows if mine.matches(r)] == paths[1:3]
        nobody = QueueFilter(assigned=UNASSIGNED)
        assert [r.path for r in rows if nobody.matches(r)] == paths[3:]
        assert all(QueueFilter().matches(r) for r in rows)
        assert store.curators() == ["Ann", "Bob"]
        # one Ctrl+Z undoes the whole second batch
        assert curation.undo(store) == ""  # several photos: no single one to show
        assert [r.assigned_to for r in rows_for(store, paths)] == ["Bob", "Bob", "", ""]
        assert curation.redo(store) == ""
        assert [r.assigned_to for r in rows_for(store, paths)] == ["Bob", "Ann", "Ann", ""]
        assert curation.assign(store, [paths[0]], "") == 1  # taken back
        assert store.find_query(paths[0]).assigned_to == ""


def test_cli_assign_and_undo(tmp_path, capsys):
    paths = _photos(tmp_path, 3)
    db = str(tmp_path / "c.sqlite")
    assert main(["assign", "--db", db, "--to", "Cleo", *paths]) == 0
    assert "3 of 3 photos assigned to Cleo" in capsys.readouterr().out
    with Store(db) as store:
        assert {q.assigned_to for q in store.queries()} == {"Cleo"}
    assert main(["undo", "--db", db]) == 0
    with Store(db) as store:
        assert {q.assigned_to for q in store.queries()} == {""}
    assert main(["assign", "--db", db, "--to", "", paths[0]]) == 0
    assert "0 of 1 photos unassigned" in capsys.readouterr().out


def test_cli_assign_refuses_a_missing_photo(tmp_path, capsys):
    db = tmp_path / "c.sqlite"
    assert main(["assign", "--db", str(db), "--to", "Cleo", str(tmp_path / "gone.jpg")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "gone.jpg" in err[0] and "does not exist" in err[0]
