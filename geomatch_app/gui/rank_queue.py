"""Ranks the queue in the background, one photo at a time, the photo on screen first. One job
slot: opening another index cancels the running ranking and nothing it returns arrives."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QObject, QTimer, Signal

from geomatch_app.app.project import Project
from geomatch_app.app.ranking import RankResult, rank
from geomatch_app.gui.jobs import JobsBar, JobSlot
from geomatch_app.gui.worker import Worker


class RankQueue(QObject):
    ranked = Signal(object)  # RankResult
    failed = Signal(str, object)  # path, exception

    def __init__(self, jobs: JobsBar, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.slot = JobSlot(jobs)
        self.todo: list[str] = []
        self.project: Project | None = None
        self.k = 20
        self.sigma_km: float | None = None
        self.first: str | None = None  # the photo on screen, ranked before the others
        self._running: str | None = None
        self._again: str | None = None

    def restart(self, project: Project | None, paths: list[str]) -> None:
        """Another index (or none): forget what was running, rank ``paths`` against it."""
        self.slot.cancel()
        self._running = self._again = None
        self.project = project
        self.todo = list(paths)
        self.schedule()

    def add(self, paths: list[str]) -> None:
        """Rank these too; one being ranked now is ranked again afterwards (its record
        changed while it ran)."""
        if self._running in paths:
            self._again = self._running
        self.todo += [p for p in paths if p not in self.todo and p != self._running]
        self.schedule()

    def drop(self, path: str) -> None:
        if path in self.todo:
            self.todo.remove(path)

    def prefer(self, path: str) -> None:
        self.first = path
        self.schedule()

    def schedule(self) -> None:
        if self.project is None or self.project.index is None or self.slot.busy() \
                or not self.todo:
            return
        path = self.first if self.first in self.todo else self.todo[0]
        self.todo.remove(path)
        self._running = path
        w = Worker(rank, self.project, path, k=self.k, sigma_km=self.sigma_km,
                   label=f"Ranking {Path(path).name}")
        self.slot.start(w, on_result=self._on_result,
                        on_error=lambda exc, p=path: self.failed.emit(p, exc),
                        on_finished=self._on_finished)

    def _on_result(self, result: RankResult) -> None:
        self.ranked.emit(result)

    def _on_finished(self) -> None:
        if self._again is not None and self._again == self._running:
            self.todo.insert(0, self._again)
        self._again = None
        self._running = None
        QTimer.singleShot(0, self.schedule)
