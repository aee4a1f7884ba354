"""The main window: queue (left), query + candidates + side-by-side (centre), map and history
(right), background jobs (bottom). Everything slow runs in a Worker; every decision is written
to the store at once."""

from __future__ import annotations

import logging
from pathlib import Path

from PySide6.QtCore import Qt, QThreadPool, QTimer, Signal
from PySide6.QtGui import QAction, QCloseEvent, QImage, QKeySequence
from PySide6.QtWidgets import (
    QDoubleSpinBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QMainWindow,
    QPushButton,
    QSplitter,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from geomatch_app.core.errors import GeomatchError
from geomatch_app.core.paths import user_data_dir
from geomatch_app.gui import curation, pipeline
from geomatch_app.gui.candidates import CandidateGrid
from geomatch_app.gui.images import colorize, load_qimage, make_thumbnails
from geomatch_app.gui.imageview import ImageView
from geomatch_app.gui.inspect import SideBySide
from geomatch_app.gui.jobs import JobsBar
from geomatch_app.gui.mapwidget import MapWidget
from geomatch_app.gui.messages import MessagePanel
from geomatch_app.gui.queue import QueueWidget, expand_paths
from geomatch_app.gui.settings import Settings
from geomatch_app.gui.worker import Worker

log = logging.getLogger(__name__)

DECISION_KEYS = {"confirmed": "Return", "rejected": "X", "skipped": "S", "unsure": "U"}


class MainWindow(QMainWindow):
    query_ranked = Signal(str)  # a query photo got its candidates (tests and the demo wait on it)
    map_shown = Signal(str)  # the map page of a query finished loading

    def __init__(self, settings: Settings | None = None, index_dir: str | None = None,
                 db_path: str | None = None, remember_paths: bool = True) -> None:
        super().__init__()
        self.settings = settings or Settings.load()
        # the demo must not become the curator's default index and database
        self._saved_paths = None if remember_paths else (self.settings.index_dir,
                                                         self.settings.db_path)
        self.setWindowTitle("geomatch — where was this photo taken?")
        self.resize(1500, 900)
        self.index = None
        self.store = None
        self.results: dict[str, pipeline.QueryResult] = {}
        self.current: str | None = None
        self.pick: tuple | None = None  # ("candidate", rank) or
        # ("manual", lat, lon, heading, precision_m, placed)
        self._exif: dict[str, object] = {}
        self._rank_queue: list[str] = []
        self._rank_job: Worker | None = None
        self._heat_job: Worker | None = None
        self._heat_cache: dict[tuple[str, str, str], object] = {}
        self._query_images: dict[str, QImage] = {}
        self._build_ui()
        self._build_actions()
        if db_path or self.settings.db_path:
            self.open_store(db_path or self.settings.db_path)
        else:
            self.open_store(str(user_data_dir() / "geomatch.sqlite"))
        if index_dir:
            self.open_index(index_dir)

    def reopen_last_index(self) -> bool:
        """`geomatch gui` without --index: the index used last time, if it is still there."""
        last = self.settings.index_dir
        if last and (Path(last) / "index.faiss").is_file():
            self.open_index(last)
            return True
        return False

    # ------------------------------------------------------------------ layout
    def _build_ui(self) -> None:
        self.queue = QueueWidget()
        self.queue.files_dropped.connect(self.add_photos)
        self.queue.current_path_changed.connect(self.show_query)
        sort_btn = QPushButton("Sort by uncertainty")
        sort_btn.clicked.connect(self.queue.sort_by_uncertainty)
        left = QWidget()
        ll = QVBoxLayout(left)
        ll.setContentsMargins(0, 0, 0, 0)
        ll.addWidget(QLabel("Queue — drop photos or folders"))
        ll.addWidget(self.queue, 1)
        ll.addWidget(sort_btn)

        self.query_view = ImageView()
        self.query_view.placeholder = "Drop a photo here or use File → Open"
        self.inspect = SideBySide()
        self.inspect.method_changed.connect(self._refresh_heatmaps)
        self.inspect.opacity.setValue(self.settings.opacity)
        self.tabs = QTabWidget()
        self.tabs.addTab(self.query_view, "Query")
        self.tabs.addTab(self.inspect, "Side by side")
        self.grid = CandidateGrid()
        self.grid.candidate_selected.connect(self._on_candidate_selected)
        self.result_label = QLabel("")
        centre = QSplitter(Qt.Orientation.Vertical)
        centre.addWidget(self.tabs)
        gridbox = QWidget()
        gl = QVBoxLayout(gridbox)
        gl.setContentsMargins(0, 0, 0, 0)
        gl.addWidget(self.result_label)
        gl.addWidget(self.grid, 1)
        centre.addWidget(gridbox)
        centre.setSizes([520, 300])

        self.map = MapWidget(basemap=self.settings.basemap, overlay=self.settings.overlay,
                             overlay_opacity=self.settings.overlay_opacity)
        self.map.marker_clicked.connect(self.select_candidate)
        self.map.manual_placed.connect(self._on_manual_placed)
        self.map.error.connect(self._map_error)
        self.map.overlay_changed.connect(self._on_overlay_changed)
        self.map.show_message("The map appears when a photo is ranked.")
        self.pick_label = QLabel("Nothing picked")
        self.pick_label.setWordWrap(True)
        self.heading = QDoubleSpinBox()
        self.heading.setRange(-1, 359.9)
        self.heading.setSpecialValueText("no direction")
        self.heading.setValue(-1)
        self.heading.setSuffix("°")
        self.heading.setToolTip("Camera direction of a manually placed location (click the map)")
        self.heading.valueChanged.connect(self._on_heading)
        self.history = QListWidget()
        self.history.setToolTip("Everything decided about this photo, newest last")
        right = QSplitter(Qt.Orientation.Vertical)
        right.addWidget(self.map)
        info = QWidget()
        il = QVBoxLayout(info)
        il.setContentsMargins(0, 0, 0, 0)
        row = QHBoxLayout()
        row.addWidget(self.pick_label, 1)
        row.addWidget(QLabel("Direction:"))
        row.addWidget(self.heading)
        il.addLayout(row)
        il.addWidget(QLabel("History of this photo"))
        il.addWidget(self.history, 1)
        right.addWidget(info)
        right.setSizes([560, 240])

        split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(left)
        split.addWidget(centre)
        split.addWidget(right)
        split.setSizes([300, 640, 560])
        self.messages = MessagePanel()
        body = QWidget()
        bl = QVBoxLayout(body)
        bl.setContentsMargins(4, 4, 4, 0)
        bl.addWidget(split, 1)
        bl.addWidget(self.messages)
        self.setCentralWidget(body)

        self.jobs = JobsBar()
        self.index_label = QLabel("no index")
        self.statusBar().addWidget(self.index_label)
        self.statusBar().addPermanentWidget(self.jobs)

    def _build_actions(self) -> None:
        mb = self.menuBar()
        file = mb.addMenu("&File")
        self._action(file, "&Open photos…", self.open_photos_dialog, QKeySequence.StandardKey.Open)
        self._action(file, "Open &folder…", self.open_folder_dialog, "Ctrl+Shift+O")
        file.addSeparator()
        self._action(file, "Open &index…", self.open_index_dialog, "Ctrl+I")
        self._action(file, "&Build or update index…", self.build_index_dialog, "Ctrl+B")
        self._action(file, "Open &database…", self.open_store_dialog)
        file.addSeparator()
        self._action(file, "&Quit", self.close, QKeySequence.StandardKey.Quit)

        edit = mb.addMenu("&Edit")
        self.undo_action = self._action(edit, "&Undo decision", self.undo, "Ctrl+Z")
        self.redo_action = self._action(edit, "&Redo decision", self.redo, "Ctrl+Shift+Z")
        edit.addSeparator()
        self._action(edit, "&Settings…", self.settings_dialog, "Ctrl+,")

        cur = mb.addMenu("&Curate")
        self.decision_actions = {}
        labels = {"confirmed": "&Confirm location", "rejected": "Re&ject (no match)",
                  "skipped": "&Skip for now", "unsure": "Mark &unsure"}
        for status, key in DECISION_KEYS.items():
            keys = [key, "Enter"] if key == "Return" else [key]
            act = self._action(cur, labels[status], lambda s=status: self.decide(s), keys[0])
            act.setShortcuts([QKeySequence(k) for k in keys])
            self.decision_actions[status] = act
        cur.addSeparator()
        self._action(cur, "&Previous photo", lambda: self.queue.step(-1), "Left")
        self._action(cur, "&Next photo", lambda: self.queue.step(1), "Right")
        self._action(cur, "Sort by &uncertainty", self.queue.sort_by_uncertainty)
        pick = cur.addMenu("Pick candidate")
        for n in range(1, 10):
            self._action(pick, f"Candidate {n}", lambda n=n: self.select_candidate(n), str(n))

        view = mb.addMenu("&View")
        self._action(view, "&Query photo", lambda: self.tabs.setCurrentIndex(0), "Q")
        self._action(view, "Side by si&de", lambda: self.tabs.setCurrentIndex(1), "D")
        self._action(view, "&Fit photo", self._fit_views, "F")
        self.online_action = self._action(view, "&Online map tiles (OpenStreetMap)",
                                          self._toggle_online)
        self.online_action.setCheckable(True)
        self.online_action.setChecked(self.settings.basemap == "osm")

        tools = mb.addMenu("&Tools")
        self.finetune_action = self._action(tools, "&Fine-tune…", self.open_finetune)
        self.finetune_action.setEnabled(_train_dialog_available())
        if not self.finetune_action.isEnabled():
            self.finetune_action.setToolTip("the fine-tuning dialog is not installed")
        self._action(tools, "Cancel background &job", self.jobs.cancel_current, "Esc")

    def _action(self, menu, text: str, slot, shortcut=None) -> QAction:
        act = QAction(text, self)
        if shortcut is not None:
            act.setShortcut(QKeySequence(shortcut))
            act.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
        act.triggered.connect(lambda checked=False: slot())
        menu.addAction(act)
        self.addAction(act)
        return act

    # ------------------------------------------------------------------ jobs
    def run_job(self, fn, *args, label: str, on_result=None, on_error=None,
                **kwargs) -> Worker:
        w = Worker(fn, *args, label=label, **kwargs)
        if on_result is not None:
            w.signals.result.connect(on_result)
        w.signals.error.connect(on_error or self.messages.error)
        self.jobs.start(w)
        return w

    # ------------------------------------------------------------------ index and store
    def open_index(self, index_dir: str) -> Worker:
        self.index_label.setText(f"opening index {index_dir}…")
        return self.run_job(pipeline.open_index, str(index_dir), self.settings.device,
                            label="Opening index", on_result=self._on_index,
                            on_error=self._on_index_error)

    def _on_index(self, index) -> None:
        self.index = index
        self.settings.index_dir = str(index.folder)
        self.index_label.setText(f"index: {index.folder.name} · {len(index)} photos · "
                                 f"model {index.model_name}")
        self._heat_cache.clear()
        if getattr(index, "_model", None) is not None:
            self._set_heatmap_methods(pipeline.heatmap_methods(index.model))
        else:  # loading a model takes seconds: never on the GUI thread
            self.run_job(lambda: pipeline.heatmap_methods(index.model), pass_progress=False,
                         label="Loading model", on_result=self._set_heatmap_methods)
        self.results.clear()
        self._rank_queue = [p for p in self.queue.paths() if self.queue.status(p) != "error"]
        self._schedule_rank()

    def _set_heatmap_methods(self, methods: list[str]) -> None:
        self.inspect.set_methods(methods, self.settings.heatmap)

    def _on_index_error(self, exc: BaseException) -> None:
        self.index_label.setText("no index")
        self.messages.error(exc)

    def open_store(self, db_path: str) -> None:
        try:
            self.store = curation.open_store(db_path)
        except GeomatchError as exc:
            self.store = None
            self.messages.error(exc)
            return
        self.settings.db_path = str(db_path)
        for p in self.queue.paths():
            self._refresh_status(p)
        self._refresh_history()
        self._refresh_undo_labels()
        self._restore_queue()

    def _restore_queue(self) -> None:
        """Photos registered in the database come back into the queue (work is never lost
        between sessions); files that moved away are skipped."""
        try:
            paths = [q.path for q in self.store.queries() if Path(q.path).is_file()]
        except Exception as exc:  # noqa: BLE001 - an unreadable database is reported
            self.messages.error(exc)
            return
        if paths:
            self.add_photos(paths)

    def _refresh_undo_labels(self) -> None:
        undo = redo = None
        if self.store is not None:
            try:
                undo, redo = self.store.undo_description(), self.store.redo_description()
            except Exception:  # noqa: BLE001 - labels only
                pass
        self.undo_action.setText(f"&Undo: {undo}" if undo else "&Undo")
        self.undo_action.setEnabled(bool(undo))
        self.redo_action.setText(f"&Redo: {redo}" if redo else "&Redo")
        self.redo_action.setEnabled(bool(redo))

    # ------------------------------------------------------------------ photos
    def add_photos(self, paths: list[str]) -> list[str]:
        new = self.queue.add_paths([str(p) for p in paths])
        if not new:
            return new
        for p in new:
            self._refresh_status(p)
        self.run_job(make_thumbnails, new, label="Thumbnails", on_result=self._on_thumbs)
        self._rank_queue.extend(new)
        if self.queue.currentItem() is None:
            self.queue.select_path(new[0])
        self._schedule_rank()
        return new

    def _on_thumbs(self, thumbs: dict) -> None:
        for path, img in thumbs.items():
            if isinstance(img, QImage):
                self.queue.set_thumbnail(path, img)
                self.grid.set_thumbnail(path, img)
            elif path in self.queue.paths():
                self._photo_error(path, img)

    def _photo_error(self, path: str, error) -> None:
        self.queue.set_status(path, "error", str(error))
        if path in self._rank_queue:
            self._rank_queue.remove(path)
        self.messages.error(error)

    def open_photos_dialog(self) -> None:
        files, _ = QFileDialog.getOpenFileNames(
            self, "Open query photos", "", "Images (*.jpg *.jpeg *.png *.tif *.tiff *.bmp "
            "*.webp);;All files (*)")
        if files:
            self.add_photos(expand_paths(files))

    def open_folder_dialog(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Open a folder of query photos")
        if folder:
            self.add_photos(expand_paths([folder]))

    def open_index_dialog(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Open an index folder",
                                                  self.settings.index_dir)
        if folder:
            self.open_index(folder)

    def open_store_dialog(self) -> None:
        path, _ = QFileDialog.getSaveFileName(
            self, "Open or create a curation database", self.settings.db_path,
            "SQLite (*.sqlite *.db);;All files (*)",
            options=QFileDialog.Option.DontConfirmOverwrite)
        if path:
            self.open_store(path)

    # ------------------------------------------------------------------ ranking
    def _schedule_rank(self) -> None:
        if self.index is None or self._rank_job is not None or not self._rank_queue:
            return
        if self.current in self._rank_queue:  # the photo on screen first
            self._rank_queue.remove(self.current)
            self._rank_queue.insert(0, self.current)
        path = self._rank_queue.pop(0)
        w = Worker(pipeline.rank_query, self.index, path, self.settings.k,
                   self.settings.sigma_km, store=self.store, label=f"Ranking {Path(path).name}")
        w.signals.result.connect(self._on_ranked)
        w.signals.error.connect(lambda exc, p=path: self._photo_error(p, exc))
        w.signals.finished.connect(self._rank_done)
        self._rank_job = w
        self.jobs.start(w)

    def _rank_done(self) -> None:
        self._rank_job = None
        QTimer.singleShot(0, self._schedule_rank)

    def _on_ranked(self, result: pipeline.QueryResult) -> None:
        self.results[result.path] = result
        est = result.estimate
        self.queue.set_uncertainty(result.path, est.radius_m if est else None)
        if result.store_error:
            self.messages.error(result.store_error)
        self._refresh_status(result.path)
        self._refresh_undo_labels()
        if result.path == self.current:
            self._show_result(result)
            self._refresh_history()
        self.query_ranked.emit(result.path)

    # ------------------------------------------------------------------ showing a query
    def show_query(self, path: str) -> None:
        if not path:
            return
        self.current = path
        self.pick = None
        self.map.clear_manual()
        self.heading.blockSignals(True)
        self.heading.setValue(-1)
        self.heading.blockSignals(False)
        self._update_pick_label()
        self.tabs.setCurrentIndex(0)
        self.grid.set_candidates([])
        self.result_label.setText("ranking…" if self.index else "open or build an index")
        self.query_view.set_image(None, "loading…")
        self.run_job(load_qimage, path, 2048, pass_progress=False, label="Loading photo",
                     on_result=lambda img, p=path: self._on_query_image(p, img),
                     on_error=lambda exc, p=path: self._on_query_image_error(p, exc))
        self._refresh_history()
        if path in self.results:
            self._show_result(self.results[path])
        elif self.index is not None and path in self._rank_queue:
            self._schedule_rank()

    def _on_query_image(self, path: str, image: QImage) -> None:
        self._query_images = {path: image}
        if path == self.current:
            self.query_view.set_image(image)
            self.inspect.set_query(path, image)

    def _on_query_image_error(self, path: str, exc: BaseException) -> None:
        if path == self.current:
            self.query_view.set_image(None, str(exc))
        if self.queue.status(path) != "error":
            self._photo_error(path, exc)

    def _show_result(self, result: pipeline.QueryResult) -> None:
        self.grid.set_candidates(result.candidates)
        est = result.estimate
        if est is not None:
            self.result_label.setText(
                f"{len(result.candidates)} candidates · estimate {est.lat:.5f}, {est.lon:.5f} "
                f"± {est.radius_m:.0f} m · confidence {est.confidence:.2f} · "
                f"model {result.model}")
        else:
            self.result_label.setText(f"{len(result.candidates)} candidates · no location "
                                      "estimate (no candidate has GPS)")
        paths = list(dict.fromkeys(c.path for c in result.candidates))
        self.run_job(make_thumbnails, paths, label="Candidate thumbnails",
                     on_result=self._on_thumbs)
        self._render_map(result)

    def _render_map(self, result: pipeline.QueryResult) -> None:
        """One JSON payload to the map page (loaded once): no re-render, the view is kept."""
        confirmed = curation.confirmed_location(self.store, result.path, result) \
            if self.store is not None else None
        selected = self.pick[1] if self.pick and self.pick[0] == "candidate" else None
        if result.path not in self._exif:  # the photo's own GPS: a header read, once
            from geomatch_app.data.images import read_geotag

            try:
                self._exif[result.path] = read_geotag(result.path)
            except Exception:  # noqa: BLE001 - no usable EXIF is no marker
                self._exif[result.path] = None
        self.map.show_query(result.path, result.candidates, result.estimate,
                            confirmed=confirmed, exif=self._exif[result.path],
                            selected=selected)
        self.map_shown.emit(result.path)

    def _map_error(self, exc) -> None:  # the map exists before the message panel
        self.messages.error(exc)

    def _on_overlay_changed(self, path: str, opacity: int) -> None:
        self.settings.overlay, self.settings.overlay_opacity = path, int(opacity)

    def _fit_views(self) -> None:
        for v in (self.query_view, self.inspect.query_view, self.inspect.cand_view):
            v.fit()

    # ------------------------------------------------------------------ picking
    def select_candidate(self, rank: int) -> None:
        """Key 1–9 or a marker click: select that candidate in the grid (and thus everywhere)."""
        if not self.grid.select_rank(int(rank)):
            return
        if self.grid.selected_rank() == rank and self.pick != ("candidate", rank):
            self._on_candidate_selected(rank)

    def _on_candidate_selected(self, rank: int) -> None:
        c = self.grid.candidate(rank)
        if c is None or (self.pick == ("candidate", rank) and self.tabs.currentIndex() == 1):
            return
        self.pick = ("candidate", rank)
        self._update_pick_label()
        self.map.highlight(rank)
        self.tabs.setCurrentIndex(1)
        title = f"#{c.rank} {Path(c.path).name} · score {c.score:.3f}"
        if c.distance_m is not None:
            title += f" · {c.distance_m:.0f} m from estimate"
        self.inspect.set_candidate(title, None)
        self.run_job(load_qimage, c.path, 2048, pass_progress=False, label="Loading candidate",
                     on_result=lambda img, p=c.path: self._on_cand_image(p, img))
        self._refresh_heatmaps()

    def _on_cand_image(self, path: str, image: QImage) -> None:
        c = self._picked_candidate()
        if c is not None and c.path == path:
            self.inspect.set_candidate(self.inspect.cand_label.text(), image)
            self._apply_heatmaps()

    def _picked_candidate(self):
        if self.pick and self.pick[0] == "candidate":
            return self.grid.candidate(self.pick[1])
        return None

    def place_manual(self, lat: float, lon: float) -> None:
        """The curator's own location for this photo (Enter confirms it); the map does the
        same on a click, a drag of the point or of its direction handle."""
        if self.current is None:
            return
        heading = self.heading.value() if self.heading.value() >= 0 else None
        self.map.set_manual(lat, lon, heading)

    def _on_manual_placed(self, lat: float, lon: float, heading, precision_m: float,
                          placed: str) -> None:
        if self.current is None:
            return
        self.pick = ("manual", lat, lon, heading, precision_m, placed)
        self.grid.clearSelection()
        self.heading.blockSignals(True)
        self.heading.setValue(-1 if heading is None else heading)
        self.heading.blockSignals(False)
        self._update_pick_label()

    def _on_heading(self, value: float) -> None:
        if self.pick and self.pick[0] == "manual":
            self.map.set_heading(value if value >= 0 else None)

    def _update_pick_label(self) -> None:
        if self.pick is None:
            self.pick_label.setText("Nothing picked: 1–9 picks a candidate, a map click places "
                                    "the location by hand")
        elif self.pick[0] == "candidate":
            self.pick_label.setText(f"Picked candidate {self.pick[1]} — Enter confirms")
        else:
            _, lat, lon, heading, precision_m, placed = self.pick
            h = f", facing {heading:.0f}°" if heading is not None else ""
            what = "Camera position" if placed == "camera" else "Subject"
            self.pick_label.setText(f"{what} {lat}, {lon} ± {precision_m:g} m{h} — "
                                    "Enter confirms")

    # ------------------------------------------------------------------ heatmaps
    def _refresh_heatmaps(self, *_args) -> None:
        method = self.inspect.current_method()
        self.settings.heatmap = method
        c = self._picked_candidate()
        if self._heat_job is not None:
            self._heat_job.cancel()
            self._heat_job = None
        if method == "none" or c is None or self.index is None or self.current is None:
            self.inspect.set_overlays(None, None)
            return
        todo = [(p, o) for p, o in ((self.current, c.path), (c.path, self.current))
                if (p, o if method == "occlusion" else "", method) not in self._heat_cache]
        if not todo:
            self._apply_heatmaps()
            return

        def compute(progress=None):
            out = {}
            for p, other in todo:
                out[(p, other if method == "occlusion" else "", method)] = \
                    pipeline.compute_heatmap(self.index.model, method, p, other, progress)
            return out

        w = Worker(compute, label=f"Heatmap ({method})")
        w.signals.result.connect(self._on_heatmaps)
        w.signals.error.connect(self.messages.error)
        self._heat_job = w
        self.jobs.start(w)

    def _on_heatmaps(self, maps: dict) -> None:
        self._heat_cache.update(maps)
        self._apply_heatmaps()

    def _apply_heatmaps(self) -> None:
        method = self.inspect.current_method()
        c = self._picked_candidate()
        if c is None or method == "none":
            self.inspect.set_overlays(None, None)
            return
        occl = method == "occlusion"
        q = self._heat_cache.get((self.current, c.path if occl else "", method))
        k = self._heat_cache.get((c.path, self.current if occl else "", method))
        self.inspect.set_overlays(colorize(q) if q is not None else None,
                                  colorize(k) if k is not None else None)

    # ------------------------------------------------------------------ decisions
    def decide(self, status: str) -> None:
        """Write the curator's decision about the current photo to the store at once."""
        if self.current is None:
            return
        if self.store is None:
            self.messages.error("no curation database is open — File → Open database")
            return
        cand = None
        manual = None
        if status == "confirmed":
            if self.pick is None:
                self.messages.error(f"{self.current}: pick a candidate (1–9) or click the map "
                                    "before confirming")
                return
            if self.pick[0] == "candidate":
                cand = self.grid.candidate(self.pick[1])
            else:
                manual = self.pick[1:]
        result = self.results.get(self.current)
        try:
            curation.decide(self.store, self.current, status, candidate=cand, manual=manual,
                            curator=self.settings.curator,
                            model=result.model if result else "")
        except Exception as exc:  # noqa: BLE001 - shown, never lost silently
            self.messages.error(exc)
            return
        self._after_change(self.current)

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
            self.messages.error(exc)
            return
        if path is None:
            self.statusBar().showMessage("nothing to undo or redo", 3000)
            return
        if path in self.queue.paths() and path != self.current:
            self.queue.select_path(path)
        self._after_change(path)

    def _after_change(self, path: str) -> None:
        self._refresh_status(path)
        self._refresh_undo_labels()
        if path == self.current:
            self._refresh_history()
            if path in self.results:
                self._render_map(self.results[path])

    def _refresh_status(self, path: str) -> None:
        if self.store is None or self.queue.status(path) == "error":
            return
        status = curation.current_status(self.store, path)
        self.queue.set_status(path, status or "pending")

    def _refresh_history(self) -> None:
        self.history.clear()
        if self.store is None or self.current is None:
            return
        self.history.addItems(curation.history_lines(self.store, self.current))
        self.history.scrollToBottom()

    # ------------------------------------------------------------------ dialogs
    def settings_dialog(self) -> None:
        from geomatch_app.gui.settings_dialog import SettingsDialog

        dlg = SettingsDialog(self.settings, self)
        if dlg.exec():
            self.settings.save()
            self.map.set_basemap(self.settings.basemap)
            self.online_action.setChecked(self.map.online)

    def build_index_dialog(self) -> None:
        from geomatch_app.gui.index_dialog import IndexDialog

        dlg = IndexDialog(self, self.settings)
        dlg.index_built.connect(self._on_index)
        dlg.show()

    def open_finetune(self) -> None:
        """Tools → Fine-tune…: the training helper's dialog, loaded only when asked for."""
        try:
            from geomatch_app.gui import train_dialog
        except ImportError as exc:
            self.messages.error(f"the fine-tuning dialog is not available ({exc})")
            return
        dlg = train_dialog.open_dialog(self)
        if hasattr(dlg, "index_built"):
            dlg.index_built.connect(self._on_index)  # queries re-rank with the new model
        dlg.show()

    def _toggle_online(self) -> None:
        self.settings.basemap = "osm" if self.online_action.isChecked() else "offline"
        self.map.set_basemap(self.settings.basemap)

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 - Qt API
        self.settings.opacity = self.inspect.opacity.value()
        if self._saved_paths is not None:
            self.settings.index_dir, self.settings.db_path = self._saved_paths
        self.settings.save()
        self.jobs.cancel_all()
        QThreadPool.globalInstance().waitForDone(3000)
        super().closeEvent(event)


def _train_dialog_available() -> bool:
    import importlib.util

    try:
        return importlib.util.find_spec("geomatch_app.gui.train_dialog") is not None
    except (ImportError, ValueError):
        return False
