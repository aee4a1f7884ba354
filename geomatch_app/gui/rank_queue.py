"""Ranks the queue in the background, one photo at a time, the photo on screen first — in two
stages (app.ranking): the ranking with the base calibration (shown at once), then geometric
verification, which updates p_match, the verdict and the order of the top 5.

Two job slots, one job at a time (two cores shared with the model): the photo on screen is
ranked first, then verified; then the other photos are ranked, then verified. Moving to another
photo that still needs its ranking cancels a running verification (its features and inlier
counts stay in the project's verifier, so it resumes cheaply later). Each slot is latest-wins:
opening another index cancels both and nothing they return arrives; a verification result
arrives only for the ranking it verified (``verified`` carries the first-stage result too, and
the session drops it when that is no longer the ranking it holds)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import shiboken6
from PySide6.QtCore import QObject, QTimer, Signal

from geomatch_app.app.project import Project
from geomatch_app.app.ranking import RankResult, rank, verify_ranking
from geomatch_app.gui.jobs import JobsBar, JobSlot
from geomatch_app.gui.worker import Worker


class RankQueue(QObject):
    ranked = Signal(object)  # RankResult of stage 1 (result.pending: verification to come)
    verified = Signal(object, object)  # (first-stage RankResult, verified RankResult)
    failed = Signal(str, object)  # path, exception (the photo cannot be ranked)
    verify_failed = Signal(str, object)  # path, exception (the stage-1 ranking stays)

    def __init__(self, jobs: JobsBar, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.slot = JobSlot(jobs)
        self.verify_slot = JobSlot(jobs)
        self.todo: list[str] = []
        self.to_verify: dict[str, RankResult] = {}  # path -> stage-1 result (ranking order)
        self.project: Project | None = None
        self.k = 20
        self.sigma_km: float | None = None
        self.first: str | None = None  # the photo on screen, ranked before the others
        self._running: str | None = None
        self._verifying: str | None = None
        self._again: str | None = None

    def restart(self, project: Project | None, paths: list[str]) -> None:
        """Another index (or none): forget what was running, rank ``paths`` against it."""
        self.slot.cancel()
        self.verify_slot.cancel()
        self._running = self._verifying = self._again = None
        self.project = project
        self.todo = list(paths)
        self.to_verify.clear()
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
        self.to_verify.pop(path, None)

    def prefer(self, path: str) -> None:
        """``path`` is on screen: rank (then verify) it before anything else."""
        self.first = path
        if self._verifying is not None and self._verifying != path \
                and (path in self.todo or path in self.to_verify):
            self._cancel_verification()  # the photo on screen must not wait for another
        self.schedule()

    def verifying_path(self) -> str | None:
        return self._verifying

    def schedule(self) -> None:
        if not shiboken6.isValid(self) or (self.slot.jobs is not None
                                           and not shiboken6.isValid(self.slot.jobs)):
            return  # the window is closing: start nothing more
        if self.project is None or self.project.index is None or self.slot.busy() \
                or self.verify_slot.busy():
            return
        first = self.first
        if first in self.todo:
            self._rank(first)
        elif first in self.to_verify:
            self._verify(first)
        elif self.todo:
            self._rank(self.todo[0])
        elif self.to_verify:
            self._verify(next(iter(self.to_verify)))

    # -- stage 1 -----------------------------------------------------------------------------
    def _rank(self, path: str) -> None:
        self.todo.remove(path)
        self._running = path
        w = Worker(rank, self.project, path, k=self.k, sigma_km=self.sigma_km, wait=False,
                   label=f"Ranking {Path(path).name}")
        self.slot.start(w, on_result=self._on_result,
                        on_error=lambda exc, p=path: self.failed.emit(p, exc),
                        on_finished=self._on_finished)

    def _on_result(self, result: RankResult) -> None:
        if result.pending:
            self.to_verify[result.path] = result
        self.ranked.emit(result)

    def _on_finished(self) -> None:
        if self._again is not None and self._again == self._running:
            self.todo.insert(0, self._again)
        self._again = None
        self._running = None
        QTimer.singleShot(0, self, self.schedule)

    # -- stage 2 -----------------------------------------------------------------------------
    def _verify(self, path: str) -> None:
        first = self.to_verify.pop(path)
        self._verifying = path
        w = Worker(verify_ranking, self.project, first, label=f"Verifying {Path(path).name}")
        w.signals.cancelled.connect(lambda w=w, f=first: self._on_verify_cancelled(w, f))
        self.verify_slot.start(
            w, on_result=lambda out, f=first: self.verified.emit(f, out),
            on_error=lambda exc, p=path: self.verify_failed.emit(p, exc),
            on_finished=self._on_verify_finished)

    def _on_verify_cancelled(self, worker: Worker, first: RankResult) -> None:
        """The curator pressed Cancel on the verification (a job this queue stopped itself
        has left the slot by then): the stage-1 ranking stays, no longer "verifying…"; its
        stored run stays pending, so it is verified on a later ranking of the photo."""
        if shiboken6.isValid(self) and self.verify_slot.current is worker:
            self.verified.emit(first, replace(first, pending=False))

    def _cancel_verification(self) -> None:
        """Stop the running verification; its photo goes back to the list, to finish later."""
        path = self._verifying
        first = getattr(self.verify_slot.current, "args", (None, None))[1]
        self.verify_slot.cancel()
        self._verifying = None
        if path is not None and isinstance(first, RankResult):
            self.to_verify.setdefault(path, first)

    def _on_verify_finished(self) -> None:
        self._verifying = None
        QTimer.singleShot(0, self, self.schedule)
