"""The photo table: rows on demand by vector id, batches in order, read-only and lock-free."""

from __future__ import annotations

import pytest
from index_helpers import records, write

from geomatch_app.index import Index
from geomatch_app.index.metadata import PhotoTable, write_table


def test_rows_by_id_in_the_asked_order(tmp_path):
    recs = records(3, 2500)
    recs[7]["lat"] = None
    recs[8]["place_id"] = ""
    path = tmp_path / "photos.sqlite"
    assert write_table(path, [recs[:1000], recs[1000:]]) == 2500
    table = PhotoTable(path, 2500)
    assert len(table) == 2500 and table.check_count() == 2500
    assert table.row(1234) == recs[1234]
    ids = [2499, 0, 7, 0, 1999] + list(range(100, 1100))  # > 999 SQLite variables, repeats
    assert table.rows(ids) == [recs[i] for i in ids]
    assert table.row(7)["lat"] is None and table.row(8)["place_id"] == ""
    batches = list(table.batches(1000))
    assert [len(b) for b in batches] == [1000, 1000, 500]
    assert [r for b in batches for r in b] == recs
    with pytest.raises(IndexError):
        table.row(2500)
    with pytest.raises(IndexError):
        table.rows([3, 2500])
    table.close()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["photos.sqlite"]  # no -wal/-journal


def test_index_reads_photos_on_demand(tmp_path):
    write(tmp_path / "idx", seed=4, n=30)
    idx = Index.open(tmp_path / "idx")
    assert len(idx) == 30
    p = idx.photo(12)
    assert (p.path, p.lat, p.lon, p.place_id) == ("/photos/set4/12.jpg", 51.2, 8.8, "p4_12")
    assert [q.path for q in idx.photos] == [r["path"] for r in records(4, 30)]
    assert sum(len(b) for b in idx.record_batches(7)) == 30
    cands = idx.search(idx.descriptors([12, 3]), k=2)
    assert [c[0].path for c in cands] == ["/photos/set4/12.jpg", "/photos/set4/3.jpg"]
    assert cands[0][0].score == pytest.approx(1.0, abs=1e-5) and cands[0][0].lat == 51.2
    gen = tmp_path / "idx" / "gen-000001"
    assert not [f for f in gen.iterdir() if f.name.endswith(("-wal", "-journal", "-shm"))]


def test_content_key_changes_with_the_generation(tmp_path):
    write(tmp_path / "idx", seed=1)
    k1 = Index.open(tmp_path / "idx").content_key
    assert k1 == Index.open(tmp_path / "idx").content_key
    write(tmp_path / "idx", seed=2)
    assert Index.open(tmp_path / "idx").content_key not in ("", k1)


def test_one_column_and_the_labelled_rows_without_building_records(tmp_path):
    """column / labelled_ids (what the gallery statistics and the sequence detection read at
    a million photos) agree with the records, on the SQLite table and on the in-memory one
    of a first-format index; a name that is not a column is refused (no SQL is pasted)."""
    from geomatch_app.index.metadata import ListTable, labelled

    recs = records(5, 40)
    recs[3]["place_id"] = ""  # a position only: labelled
    recs[4].update(place_id="", lat=None)  # neither: not labelled
    recs[5].update(place_id="", lon=None)  # half a position: not labelled
    recs[6].update(lat=None, lon=None)  # a place only: labelled
    path = tmp_path / "photos.sqlite"
    write_table(path, [recs])
    want = [i for i in range(40) if i not in (4, 5)]
    assert [i for i, r in enumerate(recs) if labelled(r)] == want
    for table in (PhotoTable(path, 40), ListTable(recs)):
        assert table.labelled_ids() == want
        assert table.column("place_id") == [r["place_id"] for r in recs]
        assert table.column("lat") == [r["lat"] for r in recs]
        with pytest.raises(ValueError, match="not a column"):
            table.column("id FROM photos; DROP TABLE photos; --")
    assert PhotoTable(path, 40).check_count() == 40
