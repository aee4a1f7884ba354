"""The gazetteer's memory-mapped table: round trip, string columns, damage, atomic writes."""

import numpy as np
import pytest

from geomatch_app.core import files
from geomatch_app.geo.names_table import TableError, open_table, write_table

WORDS = ["Lund", "", "Malmö", "Zürich", "北京", "a|b"]


def test_round_trip_of_numbers_and_strings(tmp_path):
    path = tmp_path / "t.names"
    xyz = np.arange(12, dtype=np.float64).reshape(4, 3) / 7
    write_table(path, 1, {"xyz": xyz, "rows": np.array([3, 1, 2], dtype=np.int64)},
                {"w": WORDS, "empty": []})
    arrays, strings = open_table(path, 1)
    assert np.array_equal(arrays["xyz"], xyz) and arrays["xyz"].shape == (4, 3)
    assert arrays["rows"].tolist() == [3, 1, 2] and arrays["rows"].dtype == np.int64
    assert not arrays["xyz"].flags.writeable  # a read-only view of the file
    col = strings["w"]
    assert len(col) == 6 and list(col) == WORDS
    assert col[4] == "北京" and col[-1] == "a|b" and col[1:3] == ["", "Malmö"]
    with pytest.raises(IndexError):
        col[6]
    assert col.equals("Malmö").tolist() == [False, False, True, False, False, False]
    assert col.equals("").tolist() == [False, True, False, False, False, False]
    assert col.equals("Lun").tolist() == [False] * 6  # a prefix is not equal
    assert len(strings["empty"]) == 0 and strings["empty"].equals("x").tolist() == []
    import bisect

    keys = sorted(WORDS)
    write_table(path, 1, {}, {"k": keys})
    sk = open_table(path, 1)[1]["k"]
    assert all(bisect.bisect_left(sk, w) == bisect.bisect_left(keys, w)
               for w in [*WORDS, "M", "zz", "Lunda"])


def test_damaged_foreign_or_older_files_are_refused(tmp_path):
    path = tmp_path / "t.names"
    write_table(path, 2, {"a": np.ones(1000)}, {"s": WORDS})
    with pytest.raises(TableError, match="version 2, not 3"):
        open_table(path, 3)
    data = path.read_bytes()
    path.write_bytes(data[:-100])
    with pytest.raises(TableError, match="truncated"):
        open_table(path, 2)
    path.write_bytes(data[:10])
    with pytest.raises(TableError, match="truncated"):
        open_table(path, 2)
    path.write_bytes(b"x" * 100)
    with pytest.raises(TableError, match="not a names table"):
        open_table(path, 2)


def test_a_failed_write_keeps_the_earlier_table(tmp_path, monkeypatch):
    """The table is written to a temporary file and renamed: a write that fails (a full
    disk) leaves the earlier table whole."""
    path = tmp_path / "t.names"
    write_table(path, 1, {"a": np.arange(5.0)}, {"s": ["old"]})
    before = path.read_bytes()
    monkeypatch.setattr(files.os, "fsync",
                        lambda fd: (_ for _ in ()).throw(OSError(28, "No space left")))
    with pytest.raises(OSError):
        write_table(path, 1, {"a": np.arange(9.0)}, {"s": ["new"]})
    assert path.read_bytes() == before and list(tmp_path.iterdir()) == [path]  # no debris
    assert open_table(path, 1)[1]["s"][0] == "old"
