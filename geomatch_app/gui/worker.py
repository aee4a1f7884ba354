"""The one way the GUI runs long work: a :class:`Worker` on a QThreadPool.

Any function that takes ``progress: Progress`` (build_index, occlusion_map, train, a query) runs
in a pool thread. ``Progress.report`` becomes the ``progress`` signal and the ``cancel()`` method
(wired to a Cancel button) makes ``Progress.cancelled()`` true, so the function raises
:class:`~geomatch_app.core.progress.Cancelled` at its next ``step``. The result or the error comes
back as a signal on the GUI thread; the GUI thread itself never waits (Orange3 / Anki QueryOp).

Usage::

    w = Worker(build_index, src, out, label="Indexing")
    w.signals.progress.connect(bar.update)      # (done, total, message)
    w.signals.result.connect(on_index)          # return value
    w.signals.error.connect(show_error)         # the exception object
    w.start()                                   # or jobs.start(w) to show it in the status bar
    ...
    w.cancel()

For streaming values (training curves), pass ``event_kwarg="on_event"``: the function then gets
``on_event=callable`` and each value it is called with arrives as ``signals.event``.
"""

from __future__ import annotations

import logging
import threading
import time
import traceback
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal

from geomatch_app.core.progress import Cancelled, Progress

log = logging.getLogger(__name__)

# Progress signals are throttled: a tight loop calling step() thousands of times a second must
# not flood the GUI thread's event queue.
REPORT_INTERVAL_S = 0.05


class WorkerSignals(QObject):
    """Signals of one job. Lives on the GUI thread, so connected slots run there."""

    started = Signal()
    progress = Signal(int, int, str)  # done, total, message
    event = Signal(object)  # streamed values (see event_kwarg)
    result = Signal(object)  # the function's return value
    error = Signal(object)  # the exception (GeomatchError for user-facing problems)
    cancelled = Signal()  # the function stopped because cancel() was asked
    finished = Signal()  # always last, after result / error / cancelled


class Worker(QRunnable):
    """Run ``fn(*args, progress=Progress(...), **kwargs)`` in a pool thread.

    ``pass_progress=False`` for functions that take no ``progress`` argument.
    """

    _live: set[Worker] = set()  # keep Python wrappers alive while Qt runs them

    def __init__(self, fn: Callable[..., Any], *args: Any, label: str = "",
                 pass_progress: bool = True, event_kwarg: str | None = None,
                 **kwargs: Any) -> None:
        super().__init__()
        self.setAutoDelete(False)
        self.fn = fn
        self.args = args
        self.kwargs = kwargs
        self.label = label or getattr(fn, "__name__", "job")
        self.pass_progress = pass_progress
        self.event_kwarg = event_kwarg
        self.signals = WorkerSignals()
        self._cancel = threading.Event()
        self._done = threading.Event()
        self._last_report = 0.0
        self.state = "queued"  # queued / running / done / failed / cancelled
        self.last_progress: tuple[int, int, str] = (0, 0, "")
        self.signals.progress.connect(self._remember_progress)
        self.signals.finished.connect(self._release)

    # --- GUI-thread API -------------------------------------------------------------------
    def start(self, pool: QThreadPool | None = None) -> Worker:
        Worker._live.add(self)
        (pool or QThreadPool.globalInstance()).start(self)
        return self

    def cancel(self) -> None:
        """Ask the job to stop at its next progress step (never blocks)."""
        self._cancel.set()

    def is_cancelled(self) -> bool:
        return self._cancel.is_set()

    def is_done(self) -> bool:
        return self._done.is_set()

    def wait(self, timeout_s: float | None = None) -> bool:
        """Block until the job ends — for tests and shutdown only, never in a slot."""
        return self._done.wait(timeout_s)

    def _remember_progress(self, done: int, total: int, msg: str) -> None:
        self.last_progress = (done, total, msg)

    def _release(self) -> None:
        Worker._live.discard(self)

    # --- pool thread ----------------------------------------------------------------------
    def _report(self, done: int, total: int, msg: str = "") -> None:
        now = time.monotonic()
        if done < total and now - self._last_report < REPORT_INTERVAL_S:
            return
        self._last_report = now
        if not self._emit(self.signals.progress, int(done), int(total), str(msg)):
            self._cancel.set()  # nobody is left to show it: stop at once
            raise Cancelled()

    def _emit(self, signal, *args: Any) -> bool:
        """Emit from the pool thread; False when the receiving side was destroyed (a window
        closed while its job ran) instead of an exception escaping the thread."""
        try:
            signal.emit(*args)
        except RuntimeError:
            return False
        return True

    def make_progress(self) -> Progress:
        return Progress(report=self._report, cancelled=self._cancel.is_set)

    def run(self) -> None:  # noqa: D401 - QRunnable API
        self.state = "running"
        self._emit(self.signals.started)
        kwargs = dict(self.kwargs)
        if self.pass_progress:
            kwargs["progress"] = self.make_progress()
        if self.event_kwarg:
            kwargs[self.event_kwarg] = self.signals.event.emit
        try:
            if self._cancel.is_set():
                raise Cancelled()
            value = self.fn(*self.args, **kwargs)
        except Cancelled:
            self.state = "cancelled"
            log.info("%s: cancelled", self.label)
            self._emit(self.signals.cancelled)
        except Exception as exc:  # noqa: BLE001 - every error goes to the GUI, none is lost
            self.state = "failed"
            log.warning("%s failed: %s\n%s", self.label, exc, traceback.format_exc())
            self._emit(self.signals.error, exc)
        else:
            self.state = "done"
            self._emit(self.signals.result, value)
        finally:
            self._done.set()
            if not self._emit(self.signals.finished):
                Worker._live.discard(self)


def run_in_background(fn: Callable[..., Any], *args: Any,
                      on_result: Callable[[Any], None] | None = None,
                      on_error: Callable[[BaseException], None] | None = None,
                      on_progress: Callable[[int, int, str], None] | None = None,
                      label: str = "", pass_progress: bool = True,
                      pool: QThreadPool | None = None, **kwargs: Any) -> Worker:
    """Shorthand: build a Worker, connect the callbacks, start it."""
    w = Worker(fn, *args, label=label, pass_progress=pass_progress, **kwargs)
    if on_result is not None:
        w.signals.result.connect(on_result)
    if on_error is not None:
        w.signals.error.connect(on_error)
    if on_progress is not None:
        w.signals.progress.connect(on_progress)
    return w.start(pool)
