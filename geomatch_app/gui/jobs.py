"""Background jobs in the status bar: what runs, its progress, and a Cancel button.

Every long action goes through :meth:`JobsBar.start` so the curator always sees what the app is
doing and can stop it; finished jobs disappear from the bar on their own.
"""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QProgressBar, QPushButton, QWidget

from geomatch_app.gui.worker import Worker


class JobsBar(QWidget):
    """Shows the most recent running job; Cancel stops it. ``idle`` fires when none is left."""

    idle = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.workers: list[Worker] = []
        self.label = QLabel("")
        self.bar = QProgressBar()
        self.bar.setMaximumWidth(220)
        self.bar.setTextVisible(True)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setToolTip("Stop the running background job")
        self.cancel_button.clicked.connect(self.cancel_current)
        lay = QHBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.label)
        lay.addWidget(self.bar)
        lay.addWidget(self.cancel_button)
        self._refresh()

    def start(self, worker: Worker) -> Worker:
        self.workers.append(worker)
        # bound methods (not lambdas): Qt drops these connections if the bar is destroyed
        worker.signals.progress.connect(self._on_progress)
        worker.signals.finished.connect(self._on_finished)
        self._refresh()
        return worker.start()

    def current(self) -> Worker | None:
        return self.workers[-1] if self.workers else None

    def cancel_current(self) -> None:
        w = self.current()
        if w is not None:
            w.cancel()
            self.label.setText(f"{w.label}: cancelling…")

    def cancel_all(self) -> None:
        for w in self.workers:
            w.cancel()

    def _on_progress(self, done: int, total: int, msg: str) -> None:
        self._refresh()

    def _on_finished(self) -> None:
        signals = self.sender()
        self.workers = [w for w in self.workers if w.signals is not signals and not w.is_done()]
        self._refresh()
        if not self.workers:
            self.idle.emit()

    def _refresh(self) -> None:
        w = self.current()
        visible = w is not None
        self.bar.setVisible(visible)
        self.cancel_button.setVisible(visible)
        if w is None:
            self.label.setText("")
            return
        done, total, msg = w.last_progress
        more = f" (+{len(self.workers) - 1})" if len(self.workers) > 1 else ""
        self.label.setText(f"{w.label}{more}: {msg}" if msg else f"{w.label}{more}")
        if total > 0:
            self.bar.setRange(0, total)
            self.bar.setValue(min(done, total))
        else:
            self.bar.setRange(0, 0)  # busy indicator until the first step


def start_for(widget, worker: Worker) -> Worker:
    """Start ``worker`` for a dialog: in its parent window's jobs bar when it has one (so the
    job shows progress and Cancel in the status bar), otherwise on its own."""
    jobs = getattr(widget.parent(), "jobs", None)
    return jobs.start(worker) if jobs is not None else worker.start()


class JobSlot:
    """One kind of work that only its latest job may finish (Orange3's ConcurrentWidgetMixin).

    ``start(worker, on_result, on_error)`` cancels the job that was running in this slot and
    disconnects it first, so a stale result can never reach the window, however late it comes.
    """

    def __init__(self, jobs: JobsBar | None = None) -> None:
        self.jobs = jobs
        self.current: Worker | None = None
        self._handlers: list[tuple] = []

    def start(self, worker: Worker, on_result=None, on_error=None, on_finished=None) -> Worker:
        self.cancel()
        self.current = worker
        self._handlers = [(sig, fn) for sig, fn in ((worker.signals.result, on_result),
                                                    (worker.signals.error, on_error),
                                                    (worker.signals.finished, on_finished))
                          if fn is not None]
        for sig, fn in self._handlers:
            sig.connect(fn)
        worker.signals.finished.connect(self._clear)
        return self.jobs.start(worker) if self.jobs is not None else worker.start()

    def cancel(self) -> None:
        """Stop the running job (if any); nothing it produces from now on arrives."""
        w = self.current
        if w is None:
            return
        for sig, fn in self._handlers:
            try:
                sig.disconnect(fn)
            except (RuntimeError, TypeError):  # already gone with the worker
                pass
        self._handlers = []
        w.cancel()
        self.current = None

    def busy(self) -> bool:
        return self.current is not None and not self.current.is_done()

    def _clear(self) -> None:
        if self.current is not None and self.current.is_done():
            self.current = None
            self._handlers = []
