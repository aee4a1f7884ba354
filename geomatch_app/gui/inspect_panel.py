"""The centre top: the query photo, and the side-by-side view of the picked candidate with its
heatmaps. Each photo is decoded once per view size (``ImageCache``); heatmaps are computed in one
latest-wins job slot and cached per (photo, other photo, method)."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Signal
from PySide6.QtGui import QImage
from PySide6.QtWidgets import QTabWidget, QWidget

from geomatch_app.app import explain
from geomatch_app.core.types import Candidate
from geomatch_app.gui.drops import PhotoDrop
from geomatch_app.gui.images import ImageCache, colorize, load_qimage
from geomatch_app.gui.imageview import ImageView
from geomatch_app.gui.inspect import SideBySide
from geomatch_app.gui.jobs import JobsBar, JobSlot
from geomatch_app.gui.worker import Worker

VIEW_SIDE = 2048  # photos are decoded at most this large for the views


class InspectPanel(QTabWidget):
    """Tab 0: the query photo; tab 1: side by side with the picked candidate."""

    error = Signal(object)  # a photo or heatmap that failed (shown in the message panel)
    query_failed = Signal(str, object)  # path, exception: the query photo cannot be decoded

    def __init__(self, jobs: JobsBar, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.query_view = ImageView()
        self.query_view.placeholder = ("Drop photos or folders here or on the queue (or use "
                                       "File → Open), then choose one in the queue")
        self.drop = PhotoDrop(self.query_view)  # photos dropped here join the queue
        self.inspect = SideBySide()
        self.addTab(self.query_view, "Query")
        self.addTab(self.inspect, "Side by side")
        self.images = ImageCache()
        self.query_slot = JobSlot(jobs)
        self.cand_slot = JobSlot(jobs)
        self.heat_slot = JobSlot(jobs)
        self.verify_slot = JobSlot(jobs)
        self.heat_cache: dict[tuple[str, str, str], object] = {}
        self.model = None
        self.index = None  # its stored descriptors spare occlusion one embedding
        self.verifier = explain.new_verifier()
        self.inspect.correspondences_requested.connect(self.verify_pair)
        self.query_path: str | None = None
        self.candidate: Candidate | None = None

    # -- photos ------------------------------------------------------------------------------
    def show_query(self, path: str) -> None:
        self.query_path = path
        self.candidate = None
        self.setCurrentIndex(0)
        self.inspect.set_candidate("candidate", None)
        self.inspect.set_overlays(None, None)
        self.heat_slot.cancel()
        cached = self.images.get(path, VIEW_SIDE)
        if cached is not None:
            self._on_query_image(path, cached)
            return
        self.query_view.set_image(None, "loading…")
        w = Worker(load_qimage, path, VIEW_SIDE, pass_progress=False, label="Loading photo")
        self.query_slot.start(w, on_result=lambda img, p=path: self._on_query_image(p, img),
                              on_error=lambda exc, p=path: self._on_query_error(p, exc))

    def _on_query_image(self, path: str, image: QImage) -> None:
        self.images.put(path, VIEW_SIDE, image)
        if path == self.query_path:
            self.query_view.set_image(image)
            self.inspect.set_query(path, image)

    def _on_query_error(self, path: str, exc: BaseException) -> None:
        if path == self.query_path:
            self.query_view.set_image(None, str(exc))
        self.query_failed.emit(path, exc)

    @staticmethod
    def _title(c: Candidate) -> str:
        title = f"#{c.rank} {Path(c.path).name} · score {c.score:.3f}"
        if c.distance_m is not None:
            title += f" · {c.distance_m:.0f} m from estimate"
        return title

    def show_candidate(self, c: Candidate | None) -> None:
        """Side by side with ``c`` (None: nothing picked)."""
        self.candidate = c
        if c is None:
            self.inspect.set_candidate("candidate", None)
            self.inspect.set_overlays(None, None)
            return
        self.setCurrentIndex(1)
        cached = self.images.get(c.path, VIEW_SIDE)
        self.inspect.set_candidate(self._title(c), cached, path=c.path)
        if cached is None:
            w = Worker(load_qimage, c.path, VIEW_SIDE, pass_progress=False,
                       label="Loading candidate")
            self.cand_slot.start(w, on_result=lambda img, p=c.path: self._on_cand_image(p, img),
                                 on_error=self.error.emit)
        self.refresh_heatmaps()

    def retitle(self, c: Candidate) -> None:
        """The shown candidate got a new rank (verification): its title follows, nothing is
        loaded or recomputed."""
        if self.candidate is not None and self.candidate.path == c.path:
            self.candidate = c
            self.inspect.cand_label.setText(self._title(c))

    def _on_cand_image(self, path: str, image: QImage) -> None:
        self.images.put(path, VIEW_SIDE, image)
        if self.candidate is not None and self.candidate.path == path:
            self.inspect.set_candidate(self.inspect.cand_label.text(), image, path=path)
            self.apply_heatmaps()

    def fit(self) -> None:
        for v in (self.query_view, self.inspect.query_view, self.inspect.cand_view):
            v.fit()

    # -- heatmaps ----------------------------------------------------------------------------
    def set_model(self, model, methods: list[str], current: str, index=None) -> None:
        """The index's model arrived: which heatmaps it can draw."""
        self.model = model
        self.index = index
        self.heat_cache.clear()
        self.inspect.set_methods(methods, current)

    def refresh_heatmaps(self) -> None:
        """Draw (computing in the background when needed) the chosen heatmap of the pair; the
        old overlay is cleared at once so it never stands under the new label."""
        method = self.inspect.current_method()
        c, q = self.candidate, self.query_path
        self.heat_slot.cancel()
        if method == explain.NONE or c is None or q is None or self.model is None:
            self.inspect.set_overlays(None, None)
            return
        if all(explain.cache_key(p, o, method) in self.heat_cache
               for p, o in ((q, c.path), (c.path, q))):
            self.apply_heatmaps()
            return
        self.inspect.set_computing(method)
        w = Worker(explain.heatmap_pair, self.model, method, q, c.path, index=self.index,
                   label=f"Heatmap ({method})")
        self.heat_slot.start(w, on_result=self._on_heatmaps, on_error=self.error.emit)

    def _on_heatmaps(self, maps: dict) -> None:
        self.heat_cache.update(maps)
        self.apply_heatmaps()

    def apply_heatmaps(self) -> None:
        method = self.inspect.current_method()
        c, q = self.candidate, self.query_path
        if c is None or q is None or method == explain.NONE:
            self.inspect.set_overlays(None, None)
            return
        hq = self.heat_cache.get(explain.cache_key(q, c.path, method))
        hc = self.heat_cache.get(explain.cache_key(c.path, q, method))
        self.inspect.set_overlays(colorize(hq) if hq is not None else None,
                                  colorize(hc) if hc is not None else None)

    # -- geometric verification --------------------------------------------------------------
    def verify_pair(self) -> None:
        """Verified correspondences of the pair on show (asked for by the Correspondences
        view); the result names its pair, so a late one for another pair is dropped."""
        q, c = self.inspect.pair()
        if not q or not c:
            return
        w = Worker(explain.verify_pair, self.verifier, q, c, pass_progress=False,
                   label="Verifying geometry")
        self.verify_slot.start(
            w, on_result=lambda r: self.inspect.set_correspondences(r[2], pair=(r[0], r[1])),
            on_error=self._on_verify_error)

    def _on_verify_error(self, exc: BaseException) -> None:
        self.inspect.set_correspondences(None)
        self.error.emit(exc)
