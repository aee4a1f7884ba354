"""Side-by-side inspection: query and selected candidate with heatmap overlays.

The method selector lists what the model can explain (attention, CRN mask, NetVLAD
assignment, feature magnitude, occlusion); heatmaps are computed in the Worker (occlusion
shows progress and can be cancelled), the opacity slider only changes the overlay.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QImage
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QSlider,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from geomatch_app.gui.imageview import ImageView

LABELS = {
    "none": "none",
    "magnitude": "feature magnitude",
    "attention": "attention (A1/A2)",
    "crn-mask": "CRN context mask",
    "netvlad-cluster": "NetVLAD assignment",
    "netvlad-entropy": "NetVLAD assignment entropy",
    "haf-scores": "HAF detection scores",
    "occlusion": "occlusion (slow, background)",
}


class SideBySide(QWidget):
    method_changed = Signal(str)
    opacity_changed = Signal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.query_view = ImageView()
        self.cand_view = ImageView()
        self.query_label = QLabel("query")
        self.cand_label = QLabel("candidate")
        for lbl in (self.query_label, self.cand_label):
            lbl.setAlignment(Qt.AlignmentFlag.AlignCenter)
            lbl.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.method = QComboBox()
        self.method.setToolTip("Heatmap: which image regions drive the match")
        self._fill(["none", "magnitude"])
        self.opacity = QSlider(Qt.Orientation.Horizontal)
        self.opacity.setRange(0, 100)
        self.opacity.setValue(50)
        self.opacity.setMaximumWidth(160)
        self.opacity.setToolTip("Heatmap opacity")
        self.status = QLabel("")
        bar = QHBoxLayout()
        bar.addWidget(QLabel("Heatmap:"))
        bar.addWidget(self.method)
        bar.addWidget(QLabel("Opacity:"))
        bar.addWidget(self.opacity)
        bar.addWidget(self.status, 1)
        split = QSplitter(Qt.Orientation.Horizontal)
        for lbl, view in ((self.query_label, self.query_view), (self.cand_label, self.cand_view)):
            box = QWidget()
            lay = QVBoxLayout(box)
            lay.setContentsMargins(0, 0, 0, 0)
            lay.addWidget(lbl)
            lay.addWidget(view, 1)
            split.addWidget(box)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addLayout(bar)
        lay.addWidget(split, 1)
        self.method.currentIndexChanged.connect(
            lambda _i: self.method_changed.emit(self.current_method()))
        self.opacity.valueChanged.connect(self._on_opacity)
        self._on_opacity(self.opacity.value())

    def _fill(self, methods: list[str]) -> None:
        for m in methods:
            self.method.addItem(LABELS.get(m, m), m)

    def set_methods(self, methods: list[str], current: str = "") -> None:
        keep = current or self.current_method()
        self.method.blockSignals(True)
        self.method.clear()
        self._fill(["none", *methods])
        idx = self.method.findData(keep)
        self.method.setCurrentIndex(idx if idx >= 0 else min(1, self.method.count() - 1))
        self.method.blockSignals(False)

    def select_method(self, method: str) -> bool:
        idx = self.method.findData(method)
        if idx >= 0:
            self.method.setCurrentIndex(idx)
        return idx >= 0

    def current_method(self) -> str:
        return self.method.currentData() or "none"

    def set_query(self, path: str, image: QImage | None) -> None:
        self.query_label.setText(f"query: {Path(path).name}")
        self.query_view.set_image(image, "cannot show this photo")

    def set_candidate(self, title: str, image: QImage | None) -> None:
        self.cand_label.setText(title)
        self.cand_view.set_image(image, "select a candidate")

    def set_overlays(self, query: QImage | None, cand: QImage | None) -> None:
        self.query_view.set_overlay(query)
        self.cand_view.set_overlay(cand)

    def _on_opacity(self, value: int) -> None:
        for v in (self.query_view, self.cand_view):
            v.set_overlay_opacity(value / 100.0)
        self.opacity_changed.emit(value)
