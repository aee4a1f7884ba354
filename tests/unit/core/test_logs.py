"""The log file a user attaches to a bug report."""

from __future__ import annotations

import logging

from geomatch_app.core import logs


def _ours():
    return [h for h in logging.getLogger().handlers if getattr(h, logs._MARK, False)]


def test_log_file_in_the_log_folder_gets_info_and_errors(monkeypatch, tmp_path):
    monkeypatch.setenv("GEOMATCH_HOME", str(tmp_path))
    try:
        path = logs.setup_logging(0)
        assert path == tmp_path / "logs" / "geomatch.log"
        logging.getLogger("geomatch_app.test").info("indexed 40 photos")
        logging.getLogger("geomatch_app.test").debug("not at INFO")
        for h in _ours():
            h.flush()
        text = path.read_text(encoding="utf-8")
        assert "geomatch 0." in text.splitlines()[0]  # the header names the version
        assert "INFO    " in text and "indexed 40 photos" in text
        assert "not at INFO" not in text
        logs.setup_logging(1)  # a second call replaces, never duplicates, the handlers
        assert len(_ours()) == 2
    finally:
        for h in _ours():
            logging.getLogger().removeHandler(h)
            h.close()


def test_cli_writes_the_log(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("GEOMATCH_HOME", str(tmp_path))
    monkeypatch.setenv("QT_QPA_PLATFORM", "offscreen")
    from geomatch_app.cli import main

    try:
        assert main(["doctor"]) == 0
        out = capsys.readouterr().out
        assert str(tmp_path / "logs") in out
        assert "command: doctor" in (tmp_path / "logs" / "geomatch.log").read_text()
    finally:
        for h in _ours():
            logging.getLogger().removeHandler(h)
            h.close()
