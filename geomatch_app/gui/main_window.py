"""The main window: layout and wiring only. Panels draw (queue, inspect, results, map,
curation); the Qt-free ``Session`` holds what is on screen; every use case is a call into
``geomatch_app.app``; slow work runs in latest-wins job slots."""

from __future__ import annotations

import logging
from pathlib import Path

from PySide6.QtCore import Qt, QThreadPool, Signal
from PySide6.QtGui import QCloseEvent, QImage
from PySide6.QtWidgets import QLabel, QMainWindow, QTabWidget

from geomatch_app.app import curation, explain, recent
from geomatch_app.app.project import Project, load_index, open_project
from geomatch_app.app.ranking import RankResult
from geomatch_app.app.session import ManualPick, Session
from geomatch_app.core.paths import user_data_dir
from geomatch_app.gui import decide_flow
from geomatch_app.gui import window_actions as actions
from geomatch_app.gui.curation_panel import CurationPanel
from geomatch_app.gui.images import thumbnails_job
from geomatch_app.gui.inspect_panel import InspectPanel
from geomatch_app.gui.jobs import JobsBar, JobSlot
from geomatch_app.gui.layout import column, split
from geomatch_app.gui.map_panel import MapPanel
from geomatch_app.gui.mapwidget import MapWidget
from geomatch_app.gui.menus import build_menus, update_undo_labels
from geomatch_app.gui.messages import MessagePanel
from geomatch_app.gui.queue import QueuePanel
from geomatch_app.gui.rank_queue import RankQueue
from geomatch_app.gui.record_panel import RecordPanel
from geomatch_app.gui.results_panel import ResultsPanel, place_of
from geomatch_app.gui.settings import Settings
from geomatch_app.gui.worker import Worker
from geomatch_app.training.calibration import verdict_sort_key

log = logging.getLogger(__name__)


class MainWindow(QMainWindow):
    query_ranked = Signal(str)  # a query photo got its candidates (tests and the demo wait on it)
    query_verified = Signal(str)  # ... and their geometric verification landed
    index_opened = Signal(object)  # the Index now in use

    def __init__(self, settings: Settings | None = None, index_dir: str | None = None,
                 db_path: str | None = None) -> None:
        super().__init__()
        self.settings = settings or Settings.load()
        self.session = Session()
        self.project: Project | None = None
        self.resize(1500, 900)
        self._build_ui()
        build_menus(self)
        self.session.changed.connect(self._on_session)
        self.open_store(db_path or str(user_data_dir() / "geomatch.sqlite"))
        if index_dir:
            self.open_index(index_dir)

    # -- layout ------------------------------------------------------------------------------
    def _build_ui(self) -> None:
        self.jobs = JobsBar()
        self.queue_panel = left = QueuePanel()
        self.queue = left.queue
        self.queue.files_dropped.connect(self.add_photos)
        self.queue.current_path_changed.connect(self.show_query)
        left.batch.connect(lambda status, paths: decide_flow.batch(self, status, paths))
        left.assign.connect(lambda paths: decide_flow.assign(self, paths))
        left.set_me(self.settings.curator)
        self.inspect_panel = InspectPanel(self.jobs)
        self.inspect_panel.error.connect(self._error)
        self.inspect_panel.query_failed.connect(self._photo_error)
        self.inspect_panel.drop.dropped.connect(lambda paths: actions.drop_photos(self, paths))
        self.inspect_panel.drop.refused.connect(self._error)
        self.inspect = self.inspect_panel.inspect
        self.inspect.method_changed.connect(self._on_heatmap_method)
        self.inspect.opacity.setValue(self.settings.opacity)
        self.results = ResultsPanel()
        self.grid = self.results.grid
        self.grid.candidate_selected.connect(self.session.pick_candidate)
        centre = split(Qt.Orientation.Vertical, [self.inspect_panel, self.results], [520, 300])
        self.map = MapWidget(basemap=self.settings.basemap, overlay=self.settings.overlay,
                             overlay_opacity=self.settings.overlay_opacity)
        self.map.marker_clicked.connect(self.select_candidate)
        self.map.manual_placed.connect(self.session.place)  # click, drag, heading, precision
        self.map.error.connect(lambda exc: self._error(exc))
        self.map.overlay_changed.connect(self._on_overlay_changed)
        self.map_panel = MapPanel(self.map)
        self.map_panel.message("The map appears when a photo is ranked.")
        self.curation = CurationPanel()
        self.curation.heading_changed.connect(self.map.set_heading)
        self.record = RecordPanel()
        self.record.saved.connect(lambda qid, values: actions.save_record(self, qid, values))
        self.side_tabs = QTabWidget()
        self.side_tabs.addTab(self.curation, "Decision")
        self.side_tabs.addTab(self.record, "Catalogue record")
        right = split(Qt.Orientation.Vertical, [self.map, self.side_tabs], [520, 280])
        self.messages = MessagePanel()
        self.setCentralWidget(column((split(Qt.Orientation.Horizontal, [left, centre, right],
                                              [480, 500, 520]), 1), self.messages))
        self.project_label = QLabel("no project")
        self.statusBar().addWidget(self.project_label, 1)
        self.statusBar().messageChanged.connect(lambda m: self.project_label.setVisible(not m))
        self.statusBar().addPermanentWidget(self.jobs)
        self.ranker = RankQueue(self.jobs, self)
        self.ranker.ranked.connect(self._on_ranked)
        self.ranker.failed.connect(self._photo_error)
        self.ranker.verified.connect(self._on_verified)
        self.ranker.verify_failed.connect(lambda path, exc: self._error(exc))
        self.index_slot = JobSlot(self.jobs)

    # -- project: database + index -----------------------------------------------------------
    @property
    def index(self):
        return self.project.index if self.project is not None else None

    @property
    def store(self):
        return self.project.store if self.project is not None else None

    @property
    def current(self) -> str | None:
        return self.session.path

    @property
    def pick(self):
        return self.session.pick

    def open_store(self, db_path: str) -> None:
        """Open (or create) a database: the queue comes back from it, the index stays."""
        try:
            project = open_project(db_path, remember=False, device=self.settings.device)
        except Exception as exc:  # noqa: BLE001 - an unreadable database is a message
            self._error(exc)
            return
        old = self.project
        self.project = project
        # the side by side's correspondences and the ranking's verification describe each
        # photo once between them (and read earlier sessions' features from the user cache)
        self.inspect_panel.verifier = project.verifier()
        self._show_project()
        self.ranker.restart(project, [])
        paths = [q.path for q in project.store.queries() if Path(q.path).is_file()]
        decide_flow.refresh(self, self.queue.paths())
        if paths:
            self.add_photos(paths)
        if old is not None:
            if old.index is not None:  # the open index goes on, registered in the new database
                self.set_index(old.index)
            old.close()

    def open_index(self, index_dir: str) -> Worker:
        self.project_label.setText(f"opening index {index_dir}…")
        w = Worker(load_index, self.store, str(index_dir), self.settings.device,
                   label="Opening index")
        return self.index_slot.start(w, on_result=lambda r: self.set_index(*r),
                                     on_error=self._on_index_error)

    def set_index(self, index, sync=None) -> None:
        """Rank against ``index`` from now on (``sync``: its rows in the store)."""
        if sync is None and self.store is not None:
            from geomatch_app.app.project import register_index

            sync = register_index(self.store, index)
        self.project.use_index(index, sync)
        recent.remember(self.project.ref)
        self.session.forget_results()
        self._show_project()
        if getattr(index, "_model", None) is not None:
            methods = explain.heatmap_methods(index.model)
            self.inspect_panel.set_model(index.model, methods,
                                         explain.preferred_heatmap(methods,
                                                                   self.settings.heatmap),
                                         index=index)
        self.ranker.k, self.ranker.sigma_km = self.settings.k, self.settings.sigma_km or None
        self.ranker.restart(self.project, [p for p in self.queue.paths()
                                           if self.queue.status(p) not in decide_flow.UNREADABLE])
        if self.current:
            self.show_query(self.current)
        self.index_opened.emit(index)

    def _on_index_error(self, exc: BaseException) -> None:
        self._show_project()
        self._error(exc)

    def _show_project(self) -> None:
        p = self.project
        self.setWindowTitle(p.title if p else "")  # Qt appends " — geomatch"
        self.project_label.setText(p.describe() if p else "no project")
        update_undo_labels(self)

    # -- photos ------------------------------------------------------------------------------
    def add_photos(self, paths: list[str]) -> list[str]:
        new = self.queue.add_paths([str(p) for p in paths])
        if not new:
            return new
        decide_flow.refresh(self, new)
        self.jobs.start(thumbnails_job(new, self._on_thumbs))
        self.ranker.add([p for p in new if self.queue.status(p) not in decide_flow.UNREADABLE])
        if self.queue.currentItem() is None:
            self.queue.select_path(new[0])
        return new

    def _on_thumbs(self, thumbs: dict) -> None:
        for path, img in thumbs.items():
            if isinstance(img, QImage):
                self.queue.set_thumbnail(path, img)
                self.grid.set_thumbnail(path, img)
            elif path in self.queue.paths():
                self._photo_error(path, img)

    def _photo_error(self, path: str, error) -> None:
        if self.queue.status(path) in decide_flow.UNREADABLE:
            return  # one message per broken photo
        self.ranker.drop(path)
        decide_flow.mark_unreadable(self, path, error)
        self._error(error)

    def show_query(self, path: str) -> None:
        if path:
            self.session.show(path)
            self.ranker.prefer(path)

    def _on_ranked(self, result: RankResult) -> None:
        self._show_in_queue(result)
        self._refresh_status(result.path)
        self.session.set_result(result)
        self.query_ranked.emit(result.path)

    def _on_verified(self, first: RankResult, result: RankResult) -> None:
        """Stage 2 of a ranking (geometric verification) for ``first``; dropped when the
        session holds a newer ranking of that photo by now."""
        if self.session.update_result(first, result):
            self._show_in_queue(result)
            self.query_verified.emit(result.path)

    def _show_in_queue(self, result: RankResult) -> None:
        est = result.estimate
        self.queue.set_uncertainty(result.path, est.radius_m if est else None)
        self.queue.set_verdict(result.path, result.verdict,
                               verdict_sort_key(result.verdict, result.p_best))
        self.queue.set_place(result.path, place_of(result))
        if result.store_error:
            self._error(result.store_error)

    # -- session → panels --------------------------------------------------------------------
    def _on_session(self, what: str) -> None:
        s = self.session
        if what == "photo":
            self.inspect_panel.show_query(s.path)
        if what in ("photo", "result"):  # a new photo is registered by its ranking job
            self._refresh_history()
        if what in ("photo", "result") and self.queue.status(s.path) in decide_flow.UNREADABLE:
            decide_flow.show_unreadable(self, s.path)
        elif what in ("photo", "result"):
            if s.result is None:
                self.results.show_waiting("ranking…" if self.index else "open or build an index")
            else:
                self.results.show_result(s.result)
                paths = list(dict.fromkeys(c.path for c in s.result.candidates))
                self.jobs.start(thumbnails_job(paths, self._on_thumbs))
                self.draw_map()
            self.inspect_panel.show_candidate(None)
        if what == "verified":  # same photo, re-read: keep the pick and the side by side
            self.results.show_result(s.result)
            c = s.picked_candidate
            if c is not None:
                self.grid.select_rank(c.rank)
                self.inspect_panel.retitle(c)
            self.draw_map()
        if what in ("photo", "result", "pick", "verified"):
            self.curation.show_pick(s)
        if what == "pick":
            c = s.picked_candidate
            if c is not None:
                self.grid.select_rank(c.rank)
                self.map_panel.highlight(c.rank)
            else:
                self.grid.clearSelection()
            self.inspect_panel.show_candidate(c)
            self.map_panel.place(s.pick if isinstance(s.pick, ManualPick) else None)

    def draw_map(self) -> None:
        s = self.session
        if s.result is None:
            return
        confirmed = curation.confirmed_location(self.store, s.path) if self.store else None
        sel = s.picked_candidate.rank if s.picked_candidate is not None else None
        self.map_panel.show(s.result, confirmed, sel)

    def select_candidate(self, rank: int) -> None:
        """Key 1–9 or a marker click: that candidate is picked everywhere."""
        self.session.pick_candidate(int(rank))

    def place_manual(self, lat: float, lon: float) -> None:
        """The curator's own location for this photo (Enter confirms it); a map click, a drag
        of the point or of its direction handle do the same through the map."""
        heading = self.curation.heading.value()
        self.map.set_manual(lat, lon, heading if heading >= 0 else None)

    def _on_overlay_changed(self, path: str, opacity: int) -> None:
        self.settings.overlay, self.settings.overlay_opacity = path, int(opacity)

    def _on_heatmap_method(self, method: str) -> None:
        self.settings.heatmap = method
        self.inspect_panel.refresh_heatmaps()

    # -- decisions ---------------------------------------------------------------------------
    def decide(self, status: str) -> None:
        """Write the curator's decision about the current photo to the store at once (X
        rejects the picked candidate only); then, if set, show the next photo to decide."""
        decide_flow.decide(self, status)

    def undo(self) -> None:
        self._undo_redo(curation.undo)

    def redo(self) -> None:
        self._undo_redo(curation.redo)

    def _undo_redo(self, fn) -> None:
        if self.store is None:
            return
        try:
            path = fn(self.store)
        except Exception as exc:  # noqa: BLE001
            self._error(exc)
            return
        if path is None:
            self.statusBar().showMessage("nothing to undo or redo", 3000)
            return
        if path == "":  # an action on several photos (a batch assignment)
            decide_flow.refresh(self, self.queue.paths())
        if path in self.queue.paths() and path != self.current:
            self.queue.select_path(path)
        self._after_change(path)

    def _after_change(self, path: str) -> None:
        self._refresh_status(path)
        update_undo_labels(self)
        actions.rerank_if_prior_changed(self, path)
        if path == self.current:
            self._refresh_history()
            self.draw_map()

    def _refresh_status(self, path: str) -> None:
        if path:
            decide_flow.refresh(self, [path])

    def _refresh_history(self) -> None:
        s = self.session
        lines = curation.history_lines(self.store, s.path) if self.store and s.path else []
        self.curation.show_history(lines)
        found = self.store.find_query(s.path, by_content=False) if self.store and s.path \
            else None
        self.record.show_query(found)

    def _error(self, exc_or_text) -> None:
        self.messages.error(exc_or_text)

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 - Qt API
        self.settings.opacity = self.inspect.opacity.value()
        self.settings.save()
        self.jobs.cancel_all()
        QThreadPool.globalInstance().waitForDone(3000)
        super().closeEvent(event)
