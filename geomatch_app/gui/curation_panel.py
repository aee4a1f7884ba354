"""The right bottom: what the curator picked (and the camera direction of a hand placement) and
the history of the current photo."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QDoubleSpinBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QVBoxLayout,
    QWidget,
)

from geomatch_app.app.session import ManualPick, Session


class CurationPanel(QWidget):
    heading_changed = Signal(object)  # float degrees, or None for "no direction"

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.pick_label = QLabel("Nothing picked")
        self.pick_label.setWordWrap(True)
        self.heading = QDoubleSpinBox()
        self.heading.setRange(-1, 359.9)
        self.heading.setSpecialValueText("no direction")
        self.heading.setValue(-1)
        self.heading.setSuffix("°")
        self.heading.setToolTip("Camera direction of a manually placed location (click the map)")
        self.heading.valueChanged.connect(
            lambda v: self.heading_changed.emit(v if v >= 0 else None))
        self.note = QLineEdit()
        self.note.setPlaceholderText("note kept with the next decision (optional)")
        self.history = QListWidget()
        self.history.setToolTip("Everything decided about this photo, newest last")
        row = QHBoxLayout()
        row.addWidget(self.pick_label, 1)
        row.addWidget(QLabel("Direction:"))
        row.addWidget(self.heading)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addLayout(row)
        lay.addWidget(self.note)
        lay.addWidget(QLabel("History of this photo"))
        lay.addWidget(self.history, 1)

    def show_pick(self, session: Session) -> None:
        self.pick_label.setText(session.describe_pick())
        heading = session.pick.heading if isinstance(session.pick, ManualPick) else None
        self.heading.blockSignals(True)
        self.heading.setValue(heading if heading is not None else -1)
        self.heading.blockSignals(False)

    def show_history(self, lines: list[str]) -> None:
        self.history.clear()
        self.history.addItems(lines)
        self.history.scrollToBottom()
