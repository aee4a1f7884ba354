"""Small layout helpers for building panels and dialogs out of widgets."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLineEdit,
    QMenu,
    QPushButton,
    QSplitter,
    QVBoxLayout,
    QWidget,
)


def column(*items) -> QWidget:
    box = QWidget()
    lay = QVBoxLayout(box)
    lay.setContentsMargins(0, 0, 0, 0)
    for item in items:
        widget, stretch = item if isinstance(item, tuple) else (item, 0)
        lay.addWidget(widget, stretch)
    return box


def with_browse(edit: QLineEdit, slot_or_menu) -> QWidget:
    """A text field with a "Browse…" button beside it that calls ``slot_or_menu`` (or opens it,
    when it is a QMenu of choices)."""
    box = QWidget()
    lay = QHBoxLayout(box)
    lay.setContentsMargins(0, 0, 0, 0)
    lay.addWidget(edit, 1)
    b = QPushButton("Browse…")
    if isinstance(slot_or_menu, QMenu):
        b.setMenu(slot_or_menu)
    else:
        b.clicked.connect(slot_or_menu)
    lay.addWidget(b)
    return box


def split(orientation: Qt.Orientation, widgets: list[QWidget], sizes: list[int]) -> QSplitter:
    split = QSplitter(orientation)
    for w in widgets:
        split.addWidget(w)
    split.setSizes(sizes)
    return split
