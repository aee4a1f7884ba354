"""`geomatch db ACTION DB` and `geomatch db ACTION --db DB` both work (one spelling for every
command), and a missing or doubled database is one line, not a traceback."""

from __future__ import annotations

from geomatch_app.cli import main


def test_db_positional_and_option(tmp_path, capsys):
    db = tmp_path / "c.sqlite"
    assert main(["db", "init", str(db)]) == 0
    assert main(["db", "check", str(db)]) == 0
    assert main(["db", "check", "--db", str(db)]) == 0
    assert capsys.readouterr().out.count(": ok") == 2
    assert main(["db", "backup", "--db", str(db), str(tmp_path / "b.sqlite")]) == 0
    assert (tmp_path / "b.sqlite").is_file()
    assert main(["db", "check"]) == 1
    assert "needs a database" in capsys.readouterr().err
    assert main(["db", "check", str(db), "--db", str(tmp_path / "other.sqlite")]) == 1
    assert "two databases" in capsys.readouterr().err


def test_confirm_records_precision_and_what_was_placed(tmp_path, capsys):
    import sqlite3

    db = tmp_path / "c.sqlite"
    photo = tmp_path / "q.jpg"
    photo.write_bytes(b"q")
    assert main(["confirm", "--db", str(db), "--query", str(photo), "--lat", "55.7", "--lon",
                 "13.19", "--precision-m", "30", "--placed", "subject"]) == 0
    assert "± 30 m (map point, subject)" in capsys.readouterr().out
    with sqlite3.connect(db) as con:
        assert con.execute("SELECT precision_m, placed FROM decisions").fetchall() == [
            (30.0, "subject")]
    assert main(["confirm", "--db", str(db), "--query", str(photo), "--lat", "55.7", "--lon",
                 "13.19", "--precision-m", "-1"]) == 2
