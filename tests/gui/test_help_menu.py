"""Help → Open log folder shows the folder that holds geomatch.log."""

from __future__ import annotations

from PySide6.QtGui import QDesktopServices

from geomatch_app.core import paths
from geomatch_app.gui import help_menu


def _action(window, text):
    help_menu_ = next(a.menu() for a in window.menuBar().actions() if a.text() == "&Help")
    return next(a for a in help_menu_.actions() if a.text() == text)


def test_open_log_folder_opens_the_log_folder(window, monkeypatch, tmp_path):
    opened = []
    monkeypatch.setattr(QDesktopServices, "openUrl", lambda url: opened.append(url) or True)
    _action(window, "Open &log folder").trigger()
    assert [u.toLocalFile() for u in opened] == [str(paths.user_log_dir())]
    assert paths.user_log_dir() == tmp_path / "home" / "logs"
    assert paths.user_log_dir().is_dir()
    _action(window, "Open &data folder").trigger()
    assert opened[-1].toLocalFile() == str(tmp_path / "home")


def test_about_names_the_log_file():
    text = help_menu.about_text()
    assert str(paths.user_log_dir() / "geomatch.log") in text
    assert "OpenStreetMap" in text
