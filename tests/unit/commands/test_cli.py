"""The `geomatch` entry point: a missing dependency is one line naming the package."""

from __future__ import annotations

import importlib.util

from geomatch_app import cli


def test_missing_package_is_named_at_start(monkeypatch, capsys):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "faiss" else real(name, *a))
    assert cli.main(["models"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "faiss-cpu" in err and "./scripts/run" in err


def test_gui_needs_qt_packages_the_cli_does_not(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "PySide6" else real(name, *a))
    assert cli.missing_packages("query") == []
    assert cli.missing_packages("gui") == ["PySide6"]
