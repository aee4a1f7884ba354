"""Work around a PySide6 6.12 bug on Python 3.11: every wrapped Qt call that returns None
drops one reference to ``None`` without having taken it (measured: ``QTimer.setInterval`` ×1000
lowers ``sys.getrefcount(None)`` by 1000; 6.11.3 does not). On 3.11 ``None`` is not immortal,
so a GUI session dies with "Fatal Python error: none_dealloc" after a few hundred thousand
calls (minutes of progress updates). The real fix is a PySide6 version without the bug
(pin ``PySide6<6.12``); until then :func:`install` keeps a reserve of references to ``None``
and tops it up from a timer, but only when the leak is actually measured.
"""

from __future__ import annotations

import ctypes
import logging
import sys

from PySide6.QtCore import QObject, QTimer

log = logging.getLogger(__name__)

CHUNK = 1_000_000  # references per top-up (8 MB of list slots)
LOW_WATER = 2_000_000  # top up when None's refcount falls below this
CHECK_MS = 5_000

_reserve: list[list[None]] = []
_timer: QTimer | None = None


def none_leak_per_call(n: int = 200) -> float:
    """References to None lost per void Qt call (0 on a healthy PySide6)."""
    probe = QObject()
    before = sys.getrefcount(None)
    for _ in range(n):
        probe.setObjectName("probe")
    return (before - sys.getrefcount(None)) / n


def top_up() -> None:
    while sys.getrefcount(None) < LOW_WATER:
        chunk = [None] * CHUNK
        # Leak the list on purpose: if it were freed at exit, None would lose these references
        # on top of the ones PySide already took, and the interpreter would die on shutdown.
        ctypes.pythonapi.Py_IncRef(ctypes.py_object(chunk))
        _reserve.append(chunk)


def install(parent: QObject | None = None) -> bool:
    """Start the guard if this PySide6 leaks None; returns whether it did. Idempotent."""
    global _timer
    if sys.version_info >= (3, 12) or _timer is not None:
        return _timer is not None
    if none_leak_per_call() < 0.5:
        return False
    log.warning("PySide6 %s leaks references to None on this Python; guarding against the "
                "crash (install PySide6<6.12 to fix)", _pyside_version())
    top_up()
    _timer = QTimer(parent)
    _timer.setInterval(CHECK_MS)
    _timer.timeout.connect(top_up)
    _timer.start()
    return True


def _pyside_version() -> str:
    import PySide6

    return PySide6.__version__
