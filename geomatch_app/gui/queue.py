"""The queue of query photos: drop files or folders, thumbnails, status, sort by uncertainty."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QColor, QDragEnterEvent, QDropEvent, QIcon, QImage, QPixmap
from PySide6.QtWidgets import (
    QAbstractItemView,
    QLabel,
    QPushButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from geomatch_app.data.files import expand_paths  # noqa: F401 - re-exported for the window

STATUSES = ("pending", "confirmed", "rejected", "skipped", "unsure", "error")
STATUS_COLORS = {
    "pending": "#555555", "confirmed": "#1a7f37", "rejected": "#a40000",
    "skipped": "#8a6d00", "unsure": "#8250df", "error": "#a40000",
}
COL_NAME, COL_STATUS, COL_UNCERTAINTY, COL_VERDICT = 0, 1, 2, 3
PATH_ROLE = Qt.ItemDataRole.UserRole
SORT_ROLE = Qt.ItemDataRole.UserRole + 1
VERDICT_ROLE = Qt.ItemDataRole.UserRole + 2  # (order, -p_best): training.calibration's key
VERDICT_TEXT = {"match": "match", "uncertain": "uncertain", "no_match": "no match"}


class _Item(QTreeWidgetItem):
    """Sorts the uncertainty column numerically (unranked photos last)."""

    def __lt__(self, other: QTreeWidgetItem) -> bool:
        col = self.treeWidget().sortColumn() if self.treeWidget() else 0
        if col == COL_UNCERTAINTY:
            a, b = self.data(0, SORT_ROLE), other.data(0, SORT_ROLE)
            a = float("inf") if a is None else a
            b = float("inf") if b is None else b
            return a < b
        if col == COL_VERDICT:
            return (self.data(0, VERDICT_ROLE) or (9, 0.0)) < (other.data(0, VERDICT_ROLE)
                                                             or (9, 0.0))
        return self.text(col).lower() < other.text(col).lower()


class QueueWidget(QTreeWidget):
    files_dropped = Signal(list)  # image paths added by drop
    current_path_changed = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setColumnCount(4)
        self.setHeaderLabels(["Photo", "Status", "± m", "Verdict"])
        self.setIconSize(QSize(56, 56))
        self.setRootIsDecorated(False)
        self.setAcceptDrops(True)
        self.setDragDropMode(QAbstractItemView.DragDropMode.DropOnly)
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.setSortingEnabled(True)
        self.sortByColumn(-1, Qt.SortOrder.AscendingOrder)  # insertion order until asked
        self.setColumnWidth(COL_NAME, 170)
        self.setColumnWidth(COL_STATUS, 80)
        self.setToolTip("Drop photos or folders here (or File → Open)")
        self._items: dict[str, _Item] = {}
        self.currentItemChanged.connect(self._on_current)

    # --- content --------------------------------------------------------------------------
    def add_paths(self, paths: list[str]) -> list[str]:
        """Add photos not yet queued; returns the new ones in order."""
        new = []
        for p in paths:
            if p in self._items:
                continue
            item = _Item([Path(p).name, "pending", ""])
            item.setData(0, PATH_ROLE, p)
            item.setToolTip(0, p)
            self.addTopLevelItem(item)
            self._items[p] = item
            self._paint_status(item, "pending")
            new.append(p)
        return new

    def paths(self) -> list[str]:
        return [self.topLevelItem(i).data(0, PATH_ROLE) for i in range(self.topLevelItemCount())]

    def current_path(self) -> str | None:
        item = self.currentItem()
        return item.data(0, PATH_ROLE) if item is not None else None

    def select_path(self, path: str) -> None:
        item = self._items.get(path)
        if item is not None:
            self.setCurrentItem(item)

    def status(self, path: str) -> str | None:
        item = self._items.get(path)
        return item.text(COL_STATUS) if item else None

    def set_status(self, path: str, status: str, tooltip: str = "") -> None:
        item = self._items.get(path)
        if item is not None:
            item.setText(COL_STATUS, status)
            item.setToolTip(COL_STATUS, tooltip or status)
            self._paint_status(item, status)

    def set_uncertainty(self, path: str, radius_m: float | None) -> None:
        item = self._items.get(path)
        if item is None:
            return
        item.setData(0, SORT_ROLE, radius_m)
        item.setText(COL_UNCERTAINTY, "" if radius_m is None else _short_m(radius_m))

    def set_thumbnail(self, path: str, image: QImage) -> None:
        item = self._items.get(path)
        if item is not None and not image.isNull():
            item.setIcon(COL_NAME, QIcon(QPixmap.fromImage(image)))

    def set_verdict(self, path: str, verdict: str | None, sort_key: tuple) -> None:
        """The calibrated verdict of the photo's ranking (``sort_key`` orders the column:
        confident matches first, then uncertain, then no match, then uncalibrated)."""
        item = self._items.get(path)
        if item is not None:
            item.setData(0, VERDICT_ROLE, tuple(sort_key))
            item.setText(COL_VERDICT, VERDICT_TEXT.get(verdict or "", ""))

    def set_place(self, path: str, place: str) -> None:
        """The reverse-geocoded name of the photo's estimate, under its file name."""
        item = self._items.get(path)
        if item is not None:
            name = Path(path).name
            item.setText(COL_NAME, f"{name}\n{place}" if place else name)

    def sort_by_verdict(self) -> None:
        self.sortByColumn(COL_VERDICT, Qt.SortOrder.AscendingOrder)

    def sort_by_uncertainty(self) -> None:
        """Most uncertain first: the photos that need the curator's eye."""
        self.sortByColumn(COL_UNCERTAINTY, Qt.SortOrder.DescendingOrder)

    def step(self, delta: int) -> None:
        """Select the previous (-1) or next (+1) photo."""
        n = self.topLevelItemCount()
        if n == 0:
            return
        item = self.currentItem()
        row = self.indexOfTopLevelItem(item) if item is not None else -1
        self.setCurrentItem(self.topLevelItem(max(0, min(n - 1, row + delta))))

    def _paint_status(self, item: QTreeWidgetItem, status: str) -> None:
        item.setForeground(COL_STATUS, QColor(STATUS_COLORS.get(status, "#000000")))

    def _on_current(self, cur: QTreeWidgetItem | None, prev: QTreeWidgetItem | None) -> None:
        if cur is not None:
            self.current_path_changed.emit(cur.data(0, PATH_ROLE))

    # --- drag and drop --------------------------------------------------------------------
    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802 - Qt API
        if event.mimeData().hasUrls():
            event.acceptProposedAction()
        else:
            super().dragEnterEvent(event)

    def dragMoveEvent(self, event) -> None:  # noqa: N802 - Qt API
        if event.mimeData().hasUrls():
            event.acceptProposedAction()
        else:
            super().dragMoveEvent(event)

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802 - Qt API
        urls = [u.toLocalFile() for u in event.mimeData().urls() if u.isLocalFile()]
        if not urls:
            return super().dropEvent(event)
        event.acceptProposedAction()
        self.files_dropped.emit(expand_paths(urls))


def _short_m(m: float) -> str:
    return f"{m / 1000:.1f} km" if m >= 1000 else f"{m:.0f} m"


class QueuePanel(QWidget):
    """The left column: the queue with its title and sort button."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.queue = QueueWidget()
        sort = QPushButton("Sort by verdict")
        sort.setToolTip("Confident matches first, then uncertain, then no match")
        sort.clicked.connect(self.queue.sort_by_verdict)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(QLabel("Queue — drop photos or folders"))
        lay.addWidget(self.queue, 1)
        lay.addWidget(sort)
