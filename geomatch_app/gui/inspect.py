"""Side-by-side inspection: query and selected candidate, with the evidence for the match.

- Heatmaps (attention, CRN mask, NetVLAD assignment, feature magnitude, occlusion) are computed
  in the Worker; while one is computed the old overlay is cleared, so a map is never shown under
  the wrong label. A colour legend says what the colours and the selected map mean.
- "Correspondences" draws the geometrically verified matches (models.verify: RootSIFT +
  MAGSAC++ fundamental matrix) as lines between the two photos, with the inlier count.
- "Blend" and "Swipe" lay the candidate over the query (rephotography comparison).
- The two photos zoom and pan together (a checkbox unlinks them).
- :class:`VerdictBanner` states the calibrated verdict in words (training.calibration).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QColor, QImage, QLinearGradient, QPainter, QPen, QPixmap
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QGraphicsEllipseItem,
    QGraphicsLineItem,
    QGraphicsPixmapItem,
    QGraphicsScene,
    QGraphicsView,
    QHBoxLayout,
    QLabel,
    QSizePolicy,
    QSlider,
    QSplitter,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from geomatch_app.gui.images import _RAMP
from geomatch_app.gui.imageview import CompareView, ImageView

LABELS = {
    "none": "none",
    "magnitude": "feature magnitude",
    "attention": "attention (A1/A2)",
    "crn-mask": "CRN context mask",
    "netvlad-cluster": "NetVLAD assignment",
    "netvlad-entropy": "NetVLAD assignment entropy",
    "haf-scores": "HAF detection scores",
    "occlusion": "occlusion (background, a few seconds)",
}

# What the colours mean, per method (shown beside the legend).
HELP = {
    "magnitude": "where the network's features are strongest — what it looks at, "
                 "not necessarily what matches",
    "attention": "the attention weights of the pooling head: regions it counts most",
    "crn-mask": "the context re-weighting mask: regions the CRN keeps",
    "netvlad-cluster": "which visual word (cluster) each region is assigned to — "
                       "colours are labels, not strengths",
    "netvlad-entropy": "how unsure the cluster assignment is (bright = ambiguous region)",
    "haf-scores": "the fused HAF detection scores: salient regions across levels",
    "occlusion": "how much the similarity to the other photo drops when this region is "
                 "hidden: bright = this region makes the match",
}

VIEWS = (("side", "Side by side"), ("matches", "Correspondences"), ("blend", "Blend"),
         ("swipe", "Swipe"))


class HeatLegend(QWidget):
    """The heatmap colour ramp (gui.images.colorize), low → high."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setFixedSize(120, 14)
        self.setToolTip("heatmap colours: dark blue = low, yellow = high (scaled per photo)")

    def paintEvent(self, event) -> None:  # noqa: N802 - Qt API
        p = QPainter(self)
        g = QLinearGradient(0, 0, self.width(), 0)
        for i, (r, gr, b) in enumerate(_RAMP):
            g.setColorAt(i / (len(_RAMP) - 1), QColor(int(r), int(gr), int(b)))
        p.fillRect(self.rect(), g)
        p.end()


class MatchView(QGraphicsView):
    """Both photos next to each other (the candidate scaled to the query's height) and one
    line per verified correspondence."""

    MAX_LINES = 150

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setScene(QGraphicsScene(self))
        self.setRenderHints(QPainter.RenderHint.Antialiasing
                            | QPainter.RenderHint.SmoothPixmapTransform)
        self.setDragMode(QGraphicsView.DragMode.ScrollHandDrag)
        self.setMinimumSize(160, 90)
        self.left = QGraphicsPixmapItem()
        self.right = QGraphicsPixmapItem()
        for item in (self.left, self.right):
            item.setTransformationMode(Qt.TransformationMode.SmoothTransformation)
            self.scene().addItem(item)
        self.lines: list[QGraphicsLineItem] = []
        self._right_scale = 1.0
        self.placeholder = "select a candidate"

    def set_pair(self, query: QImage | None, cand: QImage | None) -> None:
        self.clear_matches()
        self.left.setPixmap(QPixmap.fromImage(query) if query is not None else QPixmap())
        right = QPixmap.fromImage(cand) if cand is not None else QPixmap()
        if not right.isNull() and not self.left.pixmap().isNull():
            h = self.left.pixmap().height()
            self._right_scale = h / max(right.height(), 1)
            right = right.scaledToHeight(h, Qt.TransformationMode.SmoothTransformation)
        self.right.setPixmap(right)
        self.right.setPos(self.left.pixmap().width() + 8, 0)
        self.scene().setSceneRect(self.scene().itemsBoundingRect())
        self._fit()

    def clear_matches(self) -> None:
        for item in self.lines:
            self.scene().removeItem(item)
        self.lines = []

    def set_matches(self, query_points: np.ndarray, cand_points: np.ndarray,
                    query_size: tuple[int, int], cand_size: tuple[int, int]) -> int:
        """Draw the correspondences (points in each photo's original pixels); returns how many
        lines were drawn (at most MAX_LINES, evenly sampled)."""
        self.clear_matches()
        lp, rp = self.left.pixmap(), self.right.pixmap()
        if lp.isNull() or rp.isNull() or len(query_points) == 0:
            return 0
        sx_l = lp.width() / max(query_size[0], 1)
        sy_l = lp.height() / max(query_size[1], 1)
        sx_r = rp.width() / max(cand_size[0], 1)
        sy_r = rp.height() / max(cand_size[1], 1)
        idx = np.linspace(0, len(query_points) - 1, min(len(query_points), self.MAX_LINES))
        off = self.right.pos().x()
        for n, i in enumerate(np.unique(idx.round().astype(int))):
            a = QPointF(query_points[i][0] * sx_l, query_points[i][1] * sy_l)
            b = QPointF(off + cand_points[i][0] * sx_r, cand_points[i][1] * sy_r)
            colour = QColor.fromHsv((n * 47) % 360, 220, 255)
            pen = QPen(colour)
            pen.setWidth(0)
            line = QGraphicsLineItem(a.x(), a.y(), b.x(), b.y())
            line.setPen(pen)
            self.scene().addItem(line)
            self.lines.append(line)
            for pt in (a, b):
                dot = QGraphicsEllipseItem(QRectF(pt.x() - 2, pt.y() - 2, 4, 4), line)
                dot.setPen(pen)
        return len(self.lines)

    def _fit(self) -> None:
        if not self.scene().itemsBoundingRect().isEmpty():
            self.fitInView(self.scene().itemsBoundingRect(), Qt.AspectRatioMode.KeepAspectRatio)

    def resizeEvent(self, event) -> None:  # noqa: N802 - Qt API
        super().resizeEvent(event)
        self._fit()

    def mouseDoubleClickEvent(self, event) -> None:  # noqa: N802 - Qt API
        self._fit()

    def wheelEvent(self, event) -> None:  # noqa: N802 - Qt API
        if event.angleDelta().y():
            f = 1.25 if event.angleDelta().y() > 0 else 0.8
            self.scale(f, f)


def verdict_text(verdict: str | None, p_best: float | None = None) -> str:
    """The verdict in the words a curator reads (None: the model is not calibrated)."""
    from geomatch_app.training.calibration import VERDICT_TEXT

    if verdict is None:
        return "Scores are not calibrated for this model — compare the photos yourself"
    text = VERDICT_TEXT.get(verdict, verdict)
    if p_best is not None:
        text += f" (best match probability {100 * p_best:.0f} %)"
    return text


VERDICT_COLOURS = {"match": "#1b7a3a", "uncertain": "#9a6a00", "no_match": "#a12b2b"}


class VerdictBanner(QLabel):
    """One line above the candidates: the calibrated verdict of the current ranking."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWordWrap(True)
        self.verdict: str | None = None
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Maximum)
        self.set_verdict(None, None, shown=False)

    def set_verdict(self, verdict: str | None, p_best: float | None = None,
                    shown: bool = True, note: str = "") -> None:
        """``note``: the state of geometric verification ("verifying…", what it changed)."""
        self.verdict = verdict
        self.setText((verdict_text(verdict, p_best) + (f" · {note}" if note else ""))
                     if shown else "")
        colour = VERDICT_COLOURS.get(verdict or "", "#555")
        self.setStyleSheet(f"QLabel {{ color: {colour}; font-weight: bold; padding: 2px; }}")
        self.setVisible(shown)


class SideBySide(QWidget):
    method_changed = Signal(str)
    opacity_changed = Signal(int)
    # the window runs models.verify for the current pair and calls set_correspondences()
    correspondences_requested = Signal()
    view_mode_changed = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.query_view = ImageView()
        self.cand_view = ImageView()
        self.query_view.link(self.cand_view)
        self.match_view = MatchView()
        self.compare_view = CompareView()
        self.query_label = QLabel("query")
        self.cand_label = QLabel("candidate")
        for lbl in (self.query_label, self.cand_label):
            lbl.setAlignment(Qt.AlignmentFlag.AlignCenter)
            lbl.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self._query_image: QImage | None = None
        self._cand_image: QImage | None = None
        self._pair_key: tuple[str, str] = ("", "")
        self._matches_key: tuple[str, str] | None = None
        self.inliers: int | None = None

        self.method = QComboBox()
        self.method.setToolTip("Heatmap: which image regions drive the match")
        self._fill(["none", "magnitude"])
        self.opacity = QSlider(Qt.Orientation.Horizontal)
        self.opacity.setRange(0, 100)
        self.opacity.setValue(50)
        self.opacity.setMaximumWidth(140)
        self.opacity.setToolTip("Heatmap opacity")
        self.view_mode = QComboBox()
        for key, label in VIEWS:
            self.view_mode.addItem(label, key)
        self.view_mode.setToolTip("Side by side with heatmaps; verified correspondences; "
                                  "the candidate blended or swiped over the query")
        self.position = QSlider(Qt.Orientation.Horizontal)
        self.position.setRange(0, 100)
        self.position.setValue(50)
        self.position.setMaximumWidth(140)
        self.position.setToolTip("Blend: query ← → candidate; swipe: where the line is")
        self.link_box = QCheckBox("Link zoom")
        self.link_box.setChecked(True)
        self.link_box.setToolTip("Zoom and pan both photos together")
        self.status = QLabel("")
        bar = QHBoxLayout()
        bar.addWidget(QLabel("View:"))
        bar.addWidget(self.view_mode)
        bar.addWidget(self.position)
        bar.addWidget(QLabel("Heatmap:"))
        bar.addWidget(self.method)
        bar.addWidget(QLabel("Opacity:"))
        bar.addWidget(self.opacity)
        bar.addWidget(self.link_box)
        bar.addWidget(self.status, 1)

        self.legend = HeatLegend()
        self.legend_text = QLabel("")
        self.legend_text.setWordWrap(True)
        legend = QHBoxLayout()
        legend.addWidget(QLabel("low"))
        legend.addWidget(self.legend)
        legend.addWidget(QLabel("high"))
        legend.addWidget(self.legend_text, 1)
        self.legend_row = QWidget()
        self.legend_row.setLayout(legend)
        legend.setContentsMargins(0, 0, 0, 0)

        split = QSplitter(Qt.Orientation.Horizontal)
        for lbl, view in ((self.query_label, self.query_view), (self.cand_label, self.cand_view)):
            box = QWidget()
            lay = QVBoxLayout(box)
            lay.setContentsMargins(0, 0, 0, 0)
            lay.addWidget(lbl)
            lay.addWidget(view, 1)
            split.addWidget(box)
        self.stack = QStackedWidget()
        self.stack.addWidget(split)
        self.stack.addWidget(self.match_view)
        self.stack.addWidget(self.compare_view)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addLayout(bar)
        lay.addWidget(self.legend_row)
        lay.addWidget(self.stack, 1)
        self.method.currentIndexChanged.connect(self._on_method)
        self.opacity.valueChanged.connect(self._on_opacity)
        self.view_mode.currentIndexChanged.connect(lambda _i: self._on_view())
        self.position.valueChanged.connect(
            lambda v: self.compare_view.set_position(v / 100.0))
        self.link_box.toggled.connect(self._on_link)
        self._on_opacity(self.opacity.value())
        self._on_view()
        self._update_legend()

    # -- heatmap methods ---------------------------------------------------------------------
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
        self._update_legend()

    def select_method(self, method: str) -> bool:
        idx = self.method.findData(method)
        if idx >= 0:
            self.method.setCurrentIndex(idx)
        return idx >= 0

    def current_method(self) -> str:
        return self.method.currentData() or "none"

    def _on_method(self, _i: int) -> None:
        self._update_legend()
        self.method_changed.emit(self.current_method())

    def _update_legend(self) -> None:
        m = self.current_method()
        self.legend_row.setVisible(m != "none")
        self.legend_text.setText(HELP.get(m, ""))

    # -- photos ------------------------------------------------------------------------------
    def set_query(self, path: str, image: QImage | None) -> None:
        self.query_label.setText(f"query: {Path(path).name}")
        self._query_image = image
        self._pair_key = (path, self._pair_key[1])
        self.query_view.set_image(image, "cannot show this photo")
        self._pair_changed()

    def set_candidate(self, title: str, image: QImage | None, path: str = "") -> None:
        self.cand_label.setText(title)
        self._cand_image = image
        self._pair_key = (self._pair_key[0], path or title)
        self.cand_view.set_image(image, "select a candidate")
        self._pair_changed()

    def _pair_changed(self) -> None:
        self.match_view.set_pair(self._query_image, self._cand_image)
        self.compare_view.set_pair(self._query_image, self._cand_image)
        self._matches_key = None
        self.inliers = None
        if self.current_view() == "matches":
            self._request_matches()
        else:
            self._show_status()

    # -- overlays ----------------------------------------------------------------------------
    def set_overlays(self, query: QImage | None, cand: QImage | None) -> None:
        self.query_view.set_overlay(query)
        self.cand_view.set_overlay(cand)
        self._show_status()

    def set_computing(self, what: str = "heatmap") -> None:
        """Clear the overlays while a new heatmap is computed (never show the old one under
        the new label)."""
        self.query_view.clear_overlay()
        self.cand_view.clear_overlay()
        self.status.setText(f"computing {LABELS.get(what, what)}…")

    def _on_opacity(self, value: int) -> None:
        for v in (self.query_view, self.cand_view):
            v.set_overlay_opacity(value / 100.0)
        self.opacity_changed.emit(value)

    def _on_link(self, on: bool) -> None:
        if on:
            self.query_view.link(self.cand_view)
            self.cand_view.set_view_state(self.query_view.view_state())
        else:
            self.query_view.unlink(self.cand_view)

    # -- views -------------------------------------------------------------------------------
    def current_view(self) -> str:
        return self.view_mode.currentData() or "side"

    def set_view(self, key: str) -> bool:
        idx = self.view_mode.findData(key)
        if idx >= 0:
            self.view_mode.setCurrentIndex(idx)
        return idx >= 0

    def _on_view(self) -> None:
        key = self.current_view()
        self.stack.setCurrentIndex({"side": 0, "matches": 1}.get(key, 2))
        if key in CompareView.MODES:
            self.compare_view.set_mode(key)
        self.position.setVisible(key in CompareView.MODES)
        for w in (self.method, self.opacity):
            w.setEnabled(key == "side")
        if key == "matches":
            self._request_matches()
        else:
            self._show_status()
        self.view_mode_changed.emit(key)

    def _request_matches(self) -> None:
        if self._cand_image is None or self._query_image is None:
            self.status.setText("select a candidate to verify")
            return
        if self._matches_key != self._pair_key:
            self.status.setText("verifying geometry…")
            self.correspondences_requested.emit()
        else:
            self._show_status()

    def set_correspondences(self, verification, pair: tuple[str, str] | None = None) -> None:
        """Show a models.verify.Verification (None: could not verify). ``pair`` = (query
        path, candidate path) it belongs to; a result for another pair is ignored."""
        if pair is not None and pair != self._pair_key:
            return
        self._matches_key = self._pair_key
        if verification is None:
            self.inliers = None
            self.match_view.clear_matches()
            self.status.setText("geometric verification failed for this pair")
            return
        self.inliers = int(verification.inliers)
        self.match_view.set_matches(verification.query_points, verification.cand_points,
                                    verification.query_size, verification.cand_size)
        self._show_status()

    def pair(self) -> tuple[str, str]:
        """(query path, candidate path) of what is shown."""
        return self._pair_key

    def _show_status(self) -> None:
        if self.current_view() == "matches" and self.inliers is not None:
            few = " — too few to count as geometric evidence" if self.inliers < 20 else ""
            self.status.setText(f"{self.inliers} verified correspondences (RANSAC inliers of "
                                f"one camera geometry){few}")
        elif self.current_view() in CompareView.MODES:
            self.status.setText("drag the slider to compare; the candidate is resized to the "
                                "query")
        else:
            self.status.setText("")
