"""The left column: the queue with its view (filter bar), the done / to-do counts (always
visible) and batch actions on the selected photos. The rules are ``app.queue_view``'s; this
only draws them."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from geomatch_app.app.queue_view import STATUS_CHOICES, QueueFilter, describe_counts
from geomatch_app.gui.queue import QueueWidget


class QueuePanel(QWidget):
    batch = Signal(str, list)  # status ('skipped' / 'unsure'), the selected paths
    view_changed = Signal(object)  # the QueueFilter now applied

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.queue = QueueWidget()
        self.text = QLineEdit()
        self.text.setPlaceholderText("search title, archive id, place, file…")
        self.text.setClearButtonEnabled(True)
        self.status = QComboBox()
        self.status.addItems(STATUS_CHOICES)
        self.status.setToolTip("done: confirmed, none of these or rejected; to do: pending, "
                               "skipped or unsure")
        self.curator = QComboBox()
        self.curator.setEditable(True)
        self.curator.setToolTip("only the photos this curator decided ('' = anyone)")
        self.curator.lineEdit().setPlaceholderText("any curator")
        self.verdict = QLineEdit()
        self.verdict.setPlaceholderText("verdict")
        self.verdict.setToolTip("text of the ranking's verdict, e.g. 'not in gallery'")
        self.min_radius = QDoubleSpinBox()
        self.min_radius.setRange(0, 20_000)
        self.min_radius.setSuffix(" km")
        self.min_radius.setSpecialValueText("any ±")
        self.min_radius.setToolTip("only photos whose location is uncertain by at least this")
        self.date_from = QLineEdit()
        self.date_from.setPlaceholderText("from year")
        self.date_to = QLineEdit()
        self.date_to.setPlaceholderText("to year")
        for w in (self.text, self.verdict, self.date_from, self.date_to):
            w.textChanged.connect(self.apply)
        self.curator.currentTextChanged.connect(self.apply)
        self.status.currentTextChanged.connect(self.apply)
        self.min_radius.valueChanged.connect(self.apply)
        self.counts = QLabel("0 done · 0 to do")
        self.counts.setObjectName("queueCounts")
        self.sort_button = QPushButton("Sort by verdict")
        self.sort_button.setToolTip("Confident matches first, then uncertain, then no match")
        self.sort_button.clicked.connect(self.queue.sort_by_verdict)
        self.skip_button = QPushButton("Skip selected")
        self.skip_button.clicked.connect(lambda: self._batch("skipped"))
        self.unsure_button = QPushButton("Unsure selected")
        self.unsure_button.clicked.connect(lambda: self._batch("unsure"))

        grid = QGridLayout()
        grid.setContentsMargins(0, 0, 0, 0)
        grid.addWidget(self.text, 0, 0, 1, 2)
        grid.addWidget(self.status, 1, 0)
        grid.addWidget(self.curator, 1, 1)
        grid.addWidget(self.verdict, 2, 0)
        grid.addWidget(self.min_radius, 2, 1)
        grid.addWidget(self.date_from, 3, 0)
        grid.addWidget(self.date_to, 3, 1)
        batch = QHBoxLayout()
        batch.addWidget(self.skip_button)
        batch.addWidget(self.unsure_button)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(QLabel("Queue — drop photos or folders"))
        lay.addLayout(grid)
        lay.addWidget(self.counts)
        lay.addWidget(self.queue, 1)
        lay.addLayout(batch)
        lay.addWidget(self.sort_button)

    def view(self) -> QueueFilter:
        km = self.min_radius.value()
        return QueueFilter(status=self.status.currentText(), curator=self.curator.currentText(),
                           verdict=self.verdict.text().strip(),
                           min_radius_m=km * 1000 if km > 0 else None,
                           date_from=self.date_from.text().strip(),
                           date_to=self.date_to.text().strip(), text=self.text.text().strip())

    def apply(self, *_args) -> None:
        view = self.view()
        shown = self.queue.apply_view(view)
        self.update_counts(shown)
        self.view_changed.emit(view)

    def update_counts(self, shown: int | None = None) -> None:
        rows = self.queue.rows()
        if shown is None:
            shown = sum(not self.queue.isRowHidden(i, self.queue.rootIndex())
                        for i in range(self.queue.topLevelItemCount()))
        self.counts.setText(describe_counts(rows, shown))
        curators = sorted({r.curator for r in rows if r.curator})
        known = [self.curator.itemText(i) for i in range(self.curator.count())]
        if curators != [k for k in known if k]:
            text = self.curator.currentText()
            self.curator.blockSignals(True)
            self.curator.clear()
            self.curator.addItems(["", *curators])
            self.curator.setCurrentText(text)
            self.curator.blockSignals(False)

    def _batch(self, status: str) -> None:
        paths = self.queue.selected_paths()
        if paths:
            self.batch.emit(status, paths)
