"""One protocol for long work: every long function takes a Progress.

The CLI passes one that drives a terminal bar, the GUI one that emits a Qt signal and whose
``cancelled`` reads a flag set by a Cancel button (Orange3-style progress + interrupt).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field


class Cancelled(Exception):
    """Raised inside long work when the user asked to stop."""


def _no_report(done: int, total: int, msg: str) -> None:
    return None


def _never() -> bool:
    return False


@dataclass
class Progress:
    report: Callable[[int, int, str], None] = _no_report
    cancelled: Callable[[], bool] = _never

    def step(self, done: int, total: int, msg: str = "") -> None:
        """Report progress; raise Cancelled if the user asked to stop."""
        self.check()
        self.report(done, total, msg)

    def check(self) -> None:
        if self.cancelled():
            raise Cancelled()


@dataclass
class TerminalBar:
    """A minimal progress bar on stderr (no extra dependency). When stderr is not a terminal
    (CI logs, pipes) only the final line is written."""

    label: str = ""
    width: int = 30
    stream: object = field(default=sys.stderr)
    _last: float = 0.0

    def __call__(self, done: int, total: int, msg: str = "") -> None:
        now = time.monotonic()
        tty = getattr(self.stream, "isatty", lambda: False)()
        if done < total and (not tty or now - self._last < 0.1):
            return
        self._last = now
        frac = done / total if total else 1.0
        bar = "#" * int(frac * self.width)
        line = f"\r{self.label} [{bar:<{self.width}}] {done}/{total} {msg[:40]:<40}"
        self.stream.write(line)  # type: ignore[attr-defined]
        if done >= total:
            self.stream.write("\n")  # type: ignore[attr-defined]
        self.stream.flush()  # type: ignore[attr-defined]


def terminal_progress(label: str) -> Progress:
    return Progress(report=TerminalBar(label=label))
