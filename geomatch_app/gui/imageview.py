"""Photo views: zoom (wheel, +/-), pan (drag), a heatmap overlay, linking two views so they
zoom and pan together, and a blend / swipe comparison of two photos (rephotography style)."""

from __future__ import annotations

from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QImage, QPainter, QPen, QPixmap, QWheelEvent
from PySide6.QtWidgets import (
    QGraphicsLineItem,
    QGraphicsPixmapItem,
    QGraphicsScene,
    QGraphicsView,
    QWidget,
)


class ImageView(QGraphicsView):
    """One photo. ``view_changed`` fires on every zoom or pan so a linked view can follow."""

    ZOOM_STEP = 1.25
    view_changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setScene(QGraphicsScene(self))
        self.photo = QGraphicsPixmapItem()
        self.photo.setTransformationMode(Qt.TransformationMode.SmoothTransformation)
        self.overlay = QGraphicsPixmapItem(self.photo)
        self.overlay.setTransformationMode(Qt.TransformationMode.SmoothTransformation)
        self.overlay.setOpacity(0.5)
        self.scene().addItem(self.photo)
        self.setDragMode(QGraphicsView.DragMode.ScrollHandDrag)
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.AnchorUnderMouse)
        self.setRenderHints(QPainter.RenderHint.SmoothPixmapTransform)
        self.setMinimumSize(120, 90)
        self._fit = True
        self._syncing = False
        self._linked: list[ImageView] = []
        self.placeholder = ""
        for bar in (self.horizontalScrollBar(), self.verticalScrollBar()):
            bar.valueChanged.connect(self._emit_changed)

    def set_image(self, image: QImage | None, placeholder: str = "") -> None:
        self.photo.setPixmap(QPixmap.fromImage(image) if image is not None else QPixmap())
        self.overlay.setPixmap(QPixmap())
        self.placeholder = placeholder
        if image is not None:
            self.scene().setSceneRect(QRectF(self.photo.pixmap().rect()))
        self.fit()
        self.viewport().update()

    def has_image(self) -> bool:
        return not self.photo.pixmap().isNull()

    def set_overlay(self, image: QImage | None) -> None:
        if image is None or not self.has_image():
            self.overlay.setPixmap(QPixmap())
            return
        pm = QPixmap.fromImage(image)
        size = self.photo.pixmap().size()
        if pm.size() != size:
            pm = pm.scaled(size, Qt.AspectRatioMode.IgnoreAspectRatio,
                           Qt.TransformationMode.SmoothTransformation)
        self.overlay.setPixmap(pm)

    def clear_overlay(self) -> None:
        """Remove the heatmap (while a new one is computed, the old one must not linger)."""
        self.overlay.setPixmap(QPixmap())

    def has_overlay(self) -> bool:
        return not self.overlay.pixmap().isNull()

    def set_overlay_opacity(self, value: float) -> None:
        self.overlay.setOpacity(max(0.0, min(1.0, value)))

    # -- zoom and pan ------------------------------------------------------------------------
    def fit(self) -> None:
        self._fit = True
        if self.has_image():
            self.fitInView(self.photo, Qt.AspectRatioMode.KeepAspectRatio)
        self._emit_changed()

    def zoom(self, factor: float) -> None:
        self._fit = False
        self.scale(factor, factor)
        self._emit_changed()

    def zoom_factor(self) -> float:
        return self.transform().m11()

    def fit_factor(self) -> float:
        """The zoom at which the whole photo fits the viewport."""
        if not self.has_image():
            return 1.0
        r = self.photo.pixmap().rect()
        vp = self.viewport().rect()
        return min(vp.width() / max(r.width(), 1), vp.height() / max(r.height(), 1))

    def view_state(self) -> tuple[float, float, float]:
        """(zoom relative to fit, centre x, centre y as fractions of the photo) — the same
        state means the same part of the scene for photos of any resolution."""
        r = self.photo.pixmap().rect()
        c = self.mapToScene(self.viewport().rect().center())
        return (self.zoom_factor() / max(self.fit_factor(), 1e-9),
                c.x() / max(r.width(), 1), c.y() / max(r.height(), 1))

    def set_view_state(self, state: tuple[float, float, float]) -> None:
        if not self.has_image():
            return
        rel, fx, fy = state
        self._syncing = True
        try:
            self._fit = abs(rel - 1.0) < 1e-6
            f = rel * self.fit_factor()
            self.resetTransform()
            self.scale(f, f)
            r = self.photo.pixmap().rect()
            self.centerOn(QPointF(fx * r.width(), fy * r.height()))
        finally:
            self._syncing = False

    def link(self, other: ImageView) -> None:
        """Zoom and pan together with ``other`` (both ways)."""
        if other not in self._linked:
            self._linked.append(other)
        if self not in other._linked:
            other._linked.append(self)

    def unlink(self, other: ImageView) -> None:
        if other in self._linked:
            self._linked.remove(other)
        if self in other._linked:
            other._linked.remove(self)

    def is_linked(self, other: ImageView) -> bool:
        return other in self._linked

    def _emit_changed(self, *_args) -> None:
        if self._syncing:
            return
        self.view_changed.emit()
        if self.has_image():
            state = self.view_state()
            for v in self._linked:
                if not v._syncing:
                    v.set_view_state(state)

    def wheelEvent(self, event: QWheelEvent) -> None:  # noqa: N802 - Qt API
        if event.angleDelta().y() == 0:
            return super().wheelEvent(event)
        self.zoom(self.ZOOM_STEP if event.angleDelta().y() > 0 else 1 / self.ZOOM_STEP)

    def mouseDoubleClickEvent(self, event) -> None:  # noqa: N802 - Qt API
        self.fit()

    def resizeEvent(self, event) -> None:  # noqa: N802 - Qt API
        super().resizeEvent(event)
        if self._fit:
            self.fit()

    def drawForeground(self, painter: QPainter, rect: QRectF) -> None:  # noqa: N802
        if not self.has_image() and self.placeholder:
            painter.save()
            painter.resetTransform()
            painter.setPen(Qt.GlobalColor.darkGray)
            painter.drawText(self.viewport().rect(), Qt.AlignmentFlag.AlignCenter
                             | Qt.TextFlag.TextWordWrap, self.placeholder)
            painter.restore()


class CompareView(ImageView):
    """The candidate laid over the query, resized to it: "blend" fades between them with
    ``position`` (0 = query, 1 = candidate); "swipe" shows the candidate left of a vertical line
    at ``position`` of the width — how rephotographers compare a then-and-now pair."""

    MODES = ("blend", "swipe")

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.top = QGraphicsPixmapItem(self.photo)
        self.top.setTransformationMode(Qt.TransformationMode.SmoothTransformation)
        self.line = QGraphicsLineItem(self.photo)
        pen = QPen(Qt.GlobalColor.white)
        pen.setWidth(0)  # cosmetic: one pixel at any zoom
        self.line.setPen(pen)
        self.overlay.setZValue(2)
        self.line.setZValue(3)
        self._top_full = QPixmap()
        self.mode = "blend"
        self.position = 0.5

    def set_pair(self, query: QImage | None, cand: QImage | None) -> None:
        self.set_image(query, "select a candidate to compare")
        self._top_full = QPixmap()
        if query is not None and cand is not None:
            self._top_full = QPixmap.fromImage(cand).scaled(
                self.photo.pixmap().size(), Qt.AspectRatioMode.IgnoreAspectRatio,
                Qt.TransformationMode.SmoothTransformation)
        self._apply()

    def set_mode(self, mode: str) -> None:
        if mode not in self.MODES:
            raise ValueError(f"unknown comparison {mode!r}; use one of {self.MODES}")
        self.mode = mode
        self._apply()

    def set_position(self, value: float) -> None:
        self.position = max(0.0, min(1.0, value))
        self._apply()

    def _apply(self) -> None:
        full = self._top_full
        if full.isNull():
            self.top.setPixmap(QPixmap())
            self.line.setVisible(False)
            return
        if self.mode == "blend":
            self.top.setPixmap(full)
            self.top.setOpacity(self.position)
            self.line.setVisible(False)
        else:
            w = round(full.width() * self.position)
            self.top.setPixmap(full.copy(0, 0, w, full.height()) if w > 0 else QPixmap())
            self.top.setOpacity(1.0)
            self.line.setLine(w, 0, w, full.height())
            self.line.setVisible(True)
