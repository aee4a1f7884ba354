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
