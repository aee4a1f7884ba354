"""Curate → Review: a second curator accepts or disputes other curators' decisions (the
curator name in Settings is the reviewer), and the agreement report — per photo, and Cohen's
kappa on the shared decisions (``app.review``). Reviews are undoable like decisions."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QDialog,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
)

from geomatch_app.app import review
from geomatch_app.gui.messages import describe

ID_ROLE = Qt.ItemDataRole.UserRole


class ReviewDialog(QDialog):
    reviewed = Signal(str)  # path of the photo whose decision was just reviewed

    def __init__(self, win) -> None:
        super().__init__(win)
        self.win = win
        self.store = win.store
        self.setWindowTitle("Review decisions")
        self.resize(820, 560)
        self.who = QLabel("")
        self.items = QTreeWidget()
        self.items.setRootIsDecorated(False)
        self.items.setHeaderLabels(["Photo", "Decision", "By", "Place", "Your verdict"])
        self.items.setColumnWidth(0, 220)
        self.items.itemDoubleClicked.connect(self._show_photo)
        self.note = QLineEdit()
        self.note.setPlaceholderText("why (kept with the review; optional)")
        self.accept_button = QPushButton("&Accept")
        self.accept_button.clicked.connect(lambda: self.give("accept"))
        self.dispute_button = QPushButton("&Dispute")
        self.dispute_button.clicked.connect(lambda: self.give("dispute"))
        self.report = QLabel("")
        self.report.setWordWrap(True)
        self.per_photo = QTreeWidget()
        self.per_photo.setRootIsDecorated(False)
        self.per_photo.setHeaderLabels(["Photo", "First", "Second", "Agree"])
        self.per_photo.setColumnWidth(0, 220)
        self.per_photo.setColumnWidth(1, 200)
        self.per_photo.setColumnWidth(2, 260)
        self.message = QLabel("")
        self.message.setWordWrap(True)
        row = QHBoxLayout()
        row.addWidget(self.note, 1)
        row.addWidget(self.accept_button)
        row.addWidget(self.dispute_button)
        lay = QVBoxLayout(self)
        lay.addWidget(self.who)
        lay.addWidget(self.items, 2)
        lay.addLayout(row)
        lay.addWidget(self.message)
        lay.addWidget(QLabel("Agreement"))
        lay.addWidget(self.report)
        lay.addWidget(self.per_photo, 1)
        self.refresh()

    @property
    def reviewer(self) -> str:
        return self.win.settings.curator

    def refresh(self) -> None:
        self.who.setText(f"Reviewing as <b>{self.reviewer or 'an unnamed curator'}</b> "
                         "(the curator name in Settings); double-click a row to see the photo.")
        current = self.selected_decision()
        self.items.clear()
        for item in review.to_review(self.store, self.reviewer):
            d = item.decision
            place = (Path(d.candidate_path).name if d.candidate_path else
                     f"{d.lat:.5f}, {d.lon:.5f}" if d.lat is not None else "")
            row = QTreeWidgetItem([Path(item.query.path).name, d.status, d.curator or "—",
                                   place, item.verdict or "to review"])
            row.setData(0, ID_ROLE, d.id)
            row.setToolTip(0, item.query.path)
            self.items.addTopLevelItem(row)
            if d.id == current:
                self.items.setCurrentItem(row)
        if self.items.currentItem() is None and self.items.topLevelItemCount():
            self.items.setCurrentItem(self.items.topLevelItem(0))
        rep = review.agreement_report(self.store)
        self.report.setText(rep.text())
        self.per_photo.clear()
        for ph in rep.photos:
            self.per_photo.addTopLevelItem(QTreeWidgetItem([
                Path(ph.path).name, f"{ph.first or '—'}: {ph.first_label}",
                f"{ph.second or '—'}: {ph.second_label} ({ph.via})",
                "yes" if ph.agree else "no"]))

    def selected_decision(self) -> int | None:
        item = self.items.currentItem()
        return int(item.data(0, ID_ROLE)) if item is not None else None

    def give(self, verdict: str) -> int | None:
        did = self.selected_decision()
        if did is None:
            self.message.setText("Nothing to review: choose a decision in the list.")
            return None
        try:
            rid = review.review(self.store, did, verdict, reviewer=self.reviewer,
                                note=self.note.text().strip())
        except Exception as exc:  # noqa: BLE001 - shown in the dialog
            self.message.setText(describe(exc))
            return None
        self.note.clear()
        path = self.store.query(self.store.decision(did).query_id).path
        self.message.setText(f"{verdict} recorded for {Path(path).name} (Ctrl+Z undoes it)")
        self.refresh()
        self._next_unreviewed()
        self.reviewed.emit(path)
        return rid

    def _next_unreviewed(self) -> None:
        for i in range(self.items.topLevelItemCount()):
            item = self.items.topLevelItem(i)
            if item.text(4) == "to review":
                self.items.setCurrentItem(item)
                return

    def _show_photo(self, item: QTreeWidgetItem) -> None:
        self.win.queue.select_path(item.toolTip(0))
