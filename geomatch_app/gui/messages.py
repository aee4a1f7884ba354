"""Non-modal error messages: a dismissible panel above the status bar.

Errors never block the curator with a modal dialog; each names the file (GeomatchError carries
it) and the queue goes on. The panel keeps the last few messages until dismissed.
"""

from __future__ import annotations

import logging

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QHBoxLayout, QLabel, QListWidget, QPushButton, QVBoxLayout, QWidget

from geomatch_app.core.errors import GeomatchError

log = logging.getLogger(__name__)

MAX_MESSAGES = 50


def describe(exc: BaseException) -> str:
    """A one-paragraph message for the curator: GeomatchErrors are complete sentences already."""
    if isinstance(exc, GeomatchError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


class MessagePanel(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.list = QListWidget()
        self.list.setMaximumHeight(64)
        self.list.setWordWrap(True)
        self.title = QLabel("")
        self.title.setStyleSheet("color: #a40000; font-weight: bold")
        dismiss = QPushButton("Dismiss")
        dismiss.clicked.connect(self.clear)
        top = QHBoxLayout()
        top.addWidget(self.title)
        top.addStretch(1)
        top.addWidget(dismiss)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 2, 4, 2)
        lay.addLayout(top)
        lay.addWidget(self.list)
        self.hide()

    def error(self, exc_or_text: BaseException | str) -> None:
        text = exc_or_text if isinstance(exc_or_text, str) else describe(exc_or_text)
        log.warning("%s", text)
        self._add(text, Qt.GlobalColor.darkRed)

    def info(self, text: str) -> None:
        self._add(text, Qt.GlobalColor.black)

    def messages(self) -> list[str]:
        return [self.list.item(i).text() for i in range(self.list.count())]

    def clear(self) -> None:
        self.list.clear()
        self.hide()

    def _add(self, text: str, color: Qt.GlobalColor) -> None:
        self.list.addItem(text)
        self.list.item(self.list.count() - 1).setForeground(color)
        while self.list.count() > MAX_MESSAGES:
            self.list.takeItem(0)
        self.list.scrollToBottom()
        n = self.list.count()
        self.title.setText(f"{n} message{'s' if n != 1 else ''}")
        self.show()
