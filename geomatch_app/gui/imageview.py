"""A photo view with zoom (wheel, +/-), pan (drag) and an optional heatmap overlay."""

from __future__ import annotations

from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QImage, QPainter, QPixmap, QWheelEvent
from PySide6.QtWidgets import QGraphicsPixmapItem, QGraphicsScene, QGraphicsView, QWidget


class ImageView(QGraphicsView):
    ZOOM_STEP = 1.25

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
        self.placeholder = ""

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

    def set_overlay_opacity(self, value: float) -> None:
        self.overlay.setOpacity(max(0.0, min(1.0, value)))

    def fit(self) -> None:
        self._fit = True
        if self.has_image():
            self.fitInView(self.photo, Qt.AspectRatioMode.KeepAspectRatio)

    def zoom(self, factor: float) -> None:
        self._fit = False
        self.scale(factor, factor)

    def zoom_factor(self) -> float:
        return self.transform().m11()

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
