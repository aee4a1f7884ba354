"""GUI tests run offscreen with an isolated QSettings store and user data folder per test.

QtWebEngine must be imported before pytest-qt creates the QApplication, and Chromium needs
``--no-sandbox --disable-gpu`` in containers; both are set here, at import time.
"""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("QTWEBENGINE_CHROMIUM_FLAGS", "--no-sandbox --disable-gpu")

import PySide6.QtWebEngineWidgets  # noqa: E402,F401 - must precede the QApplication
import pytest  # noqa: E402
from PySide6.QtCore import QSettings  # noqa: E402


@pytest.fixture(autouse=True)
def isolated_settings(tmp_path, monkeypatch):
    """Each test gets its own settings file and GEOMATCH_HOME, never the user's."""
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope,
                      str(tmp_path / "qsettings"))
    monkeypatch.setenv("GEOMATCH_HOME", str(tmp_path / "home"))
    yield tmp_path
