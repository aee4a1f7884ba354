"""Two small layout helpers for building panels out of widgets."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QSplitter, QVBoxLayout, QWidget


def column(*items) -> QWidget:
    box = QWidget()
    lay = QVBoxLayout(box)
    lay.setContentsMargins(0, 0, 0, 0)
    for item in items:
        widget, stretch = item if isinstance(item, tuple) else (item, 0)
        lay.addWidget(widget, stretch)
    return box


def split(orientation: Qt.Orientation, widgets: list[QWidget], sizes: list[int]) -> QSplitter:
    split = QSplitter(orientation)
    for w in widgets:
        split.addWidget(w)
    split.setSizes(sizes)
    return split
