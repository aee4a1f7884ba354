"""PySide6 6.12.0 drops a reference to ``None`` on every Qt call that returns None; on Python
3.11 a long GUI session then aborts ("none_dealloc"). pyproject pins PySide6 below 6.12; this
test fails if an installed PySide6 has the bug again."""

from __future__ import annotations

import sys

from PySide6.QtCore import QTimer


def test_void_qt_calls_keep_none_refcount(qapp):
    timer = QTimer()
    before = sys.getrefcount(None)
    for _ in range(10_000):
        timer.setInterval(5)
    assert sys.getrefcount(None) > before - 1_000
