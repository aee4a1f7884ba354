"""The queue of query photos: drop files or folders, thumbnails, status, verdict, catalogue
title and date, sort by verdict or uncertainty; rows outside the current view
(``app.queue_view``: the filter bar of ``QueuePanel``) are hidden."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QColor, QDragEnterEvent, QDropEvent, QIcon, QImage, QPixmap
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDoubleSpinBox,
    QGridLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QStyledItemDelegate,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from geomatch_app.app.queue_view import (
    STATUS_CHOICES,
    UNASSIGNED,
    QueueFilter,
    QueueRow,
    describe_counts,
)
from geomatch_app.data.files import expand_paths  # noqa: F401 - re-exported for the window

STATUSES = ("pending", "confirmed", "rejected", "none", "skipped", "unsure", "unreadable",
            "error")
STATUS_COLORS = {
    "pending": "#555555", "confirmed": "#1a7f37", "rejected": "#a40000", "none": "#0a5ea8",
    "skipped": "#8a6d00", "unsure": "#8250df", "error": "#a40000", "unreadable": "#a40000",
}
COL_NAME, COL_STATUS, COL_UNCERTAINTY, COL_VERDICT, COL_TITLE, COL_DATE, COL_ASSIGNED = range(7)
ANYONE, MINE = "assigned: anyone", "assigned to me"
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


class _RowHeight(QStyledItemDelegate):
    """Every cell is as tall as the row's photo cell (thumbnail, name and place): Qt sizes a
    row from the columns in view, so a row laid out while scrolled sideways (photo column out
    of view) would otherwise stay one text line high."""

    def sizeHint(self, option, index):  # noqa: N802 - Qt API
        size = super().sizeHint(option, index)
        if index.column() != COL_NAME:
            photo = super().sizeHint(option, index.siblingAtColumn(COL_NAME))
            size.setHeight(max(size.height(), photo.height()))
        return size


class QueueWidget(QTreeWidget):
    files_dropped = Signal(list)  # image paths added by drop
    current_path_changed = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setColumnCount(7)
        self.setHeaderLabels(["Photo", "Status", "± m", "Verdict", "Title", "Date", "Assigned"])
        self.setIconSize(QSize(56, 56))
        self.setItemDelegate(_RowHeight(self))
        self.setRootIsDecorated(False)
        self.setAcceptDrops(True)
        self.setDragDropMode(QAbstractItemView.DragDropMode.DropOnly)
        # several rows for batch skip / unsure; the current row is the photo on screen
        self.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.setSortingEnabled(True)
        self.sortByColumn(-1, Qt.SortOrder.AscendingOrder)  # insertion order until asked
        header = self.header()
        header.setStretchLastSection(False)
        header.setSectionResizeMode(COL_NAME, QHeaderView.ResizeMode.Interactive)
        for col in (COL_STATUS, COL_UNCERTAINTY, COL_VERDICT, COL_DATE, COL_ASSIGNED):
            header.setSectionResizeMode(col, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(COL_TITLE, QHeaderView.ResizeMode.Interactive)
        self.setColumnWidth(COL_TITLE, 150)  # the archive's title; the view scrolls sideways
        self.setColumnWidth(COL_NAME, 110)
        self.setMinimumWidth(340)
        self.setToolTip("Drop photos or folders here (or File → Open)")
        self._items: dict[str, _Item] = {}
        self._rows: dict[str, QueueRow] = {}
        self._view = QueueFilter()
        self.currentItemChanged.connect(self._on_current)

    # --- content --------------------------------------------------------------------------
    def add_paths(self, paths: list[str]) -> list[str]:
        """Add photos not yet queued; returns the new ones in order."""
        new = []
        for p in paths:
            if p in self._items:
                continue
            item = _Item([Path(p).name, "pending", "", "", "", "", ""])
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

    def toolTipOf(self, path: str) -> str:  # noqa: N802 - Qt naming
        item = self._items.get(path)
        return item.toolTip(COL_STATUS) if item else ""

    def set_status(self, path: str, status: str, tooltip: str = "") -> None:
        item = self._items.get(path)
        if item is not None:
            item.setText(COL_STATUS, status)
            item.setToolTip(COL_STATUS, tooltip or status)
            self._paint_status(item, status)

    def set_row(self, row: QueueRow) -> None:
        """Show what the store knows about a queued photo (status, catalogue title, date)."""
        item = self._items.get(row.path)
        if item is None:
            return
        self._rows[row.path] = row
        if self.status(row.path) != "error" or row.status == "unreadable":
            self.set_status(row.path, row.status, row.unreadable or row.status)
        item.setText(COL_TITLE, row.title or row.place_text)
        item.setToolTip(COL_TITLE, "\n".join(t for t in (row.title, row.archive_id,
                                                          row.place_text) if t))
        item.setText(COL_DATE, row.date_text)
        item.setText(COL_ASSIGNED, row.assigned_to)
        item.setHidden(not self._view.matches(self.row(row.path)))

    def row(self, path: str) -> QueueRow:
        """The photo's row as the view sees it (with the status and uncertainty shown now)."""
        from dataclasses import replace

        base = self._rows.get(path) or QueueRow(path)
        item = self._items[path]
        status = item.text(COL_STATUS)
        return replace(base, status="unreadable" if status == "error" else status,
                       radius_m=item.data(0, SORT_ROLE),
                       verdict=item.text(COL_VERDICT) or base.verdict)

    def rows(self) -> list[QueueRow]:
        return [self.row(p) for p in self.paths()]

    def apply_view(self, view: QueueFilter) -> int:
        """Hide the photos outside ``view``; returns how many are shown."""
        self._view = view
        shown = 0
        for p, item in self._items.items():
            visible = view.matches(self.row(p))
            item.setHidden(not visible)
            shown += visible
        cur = self.currentItem()
        if cur is not None and cur.isHidden():
            nxt = next((self._items[p] for p in self.paths() if not self._items[p].isHidden()),
                       None)
            if nxt is not None:
                self.setCurrentItem(nxt)
        return shown

    def selected_paths(self) -> list[str]:
        """The selected photos (visible ones only), in queue order."""
        chosen = {id(i) for i in self.selectedItems() if not i.isHidden()}
        return [p for p in self.paths() if id(self._items[p]) in chosen]

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
        """Select the previous (-1) or next (+1) photo in the view."""
        visible = [self.topLevelItem(i) for i in range(self.topLevelItemCount())
                   if not self.topLevelItem(i).isHidden()]
        if not visible:
            return
        item = self.currentItem()
        row = visible.index(item) if item in visible else -1
        self.setCurrentItem(visible[max(0, min(len(visible) - 1, row + delta))])

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
    """The left column: the queue with its view (filter bar), the done / to-do counts (always
    visible) and batch actions on the selected photos. The rules are ``app.queue_view``'s; this
    only draws them."""

    batch = Signal(str, list)  # status ('skipped' / 'unsure'), the selected paths
    assign = Signal(list)  # the selected paths, to be given to a curator
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
        self.me = ""  # the curator at the keyboard ("assigned to me")
        self.assigned = QComboBox()
        self.assigned.setEditable(True)  # a name types with completion from the known ones
        self.assigned.addItems([ANYONE, MINE, UNASSIGNED])
        self.assigned.setToolTip("only the photos assigned to this curator ('assigned to me', "
                                 f"or {UNASSIGNED} for photos nobody was given)")
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
        self.assigned.currentTextChanged.connect(self.apply)
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
        self.assign_button = QPushButton("Assign to…")
        self.assign_button.setToolTip("give the selected photos to a curator to decide "
                                      "(undoable)")
        self.assign_button.clicked.connect(self._assign)

        grid = QGridLayout()
        grid.setContentsMargins(0, 0, 0, 0)
        grid.addWidget(self.text, 0, 0, 1, 2)
        grid.addWidget(self.status, 1, 0)
        grid.addWidget(self.curator, 1, 1)
        grid.addWidget(self.verdict, 2, 0)
        grid.addWidget(self.min_radius, 2, 1)
        grid.addWidget(self.date_from, 3, 0)
        grid.addWidget(self.date_to, 3, 1)
        grid.addWidget(self.assigned, 4, 0, 1, 2)
        batch = QHBoxLayout()
        batch.addWidget(self.skip_button)
        batch.addWidget(self.unsure_button)
        batch.addWidget(self.assign_button)
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
                           date_to=self.date_to.text().strip(), text=self.text.text().strip(),
                           assigned=self._assigned_choice())

    def _assigned_choice(self) -> str:
        text = self.assigned.currentText().strip()
        if text in ("", ANYONE):
            return ""
        if text == MINE:
            return self.me or UNASSIGNED  # no name yet: nothing can be assigned to "me"
        return text

    def set_me(self, name: str) -> None:
        """Who "assigned to me" means (the curator named in Settings)."""
        if name != self.me:
            self.me = name
            self.apply()

    def known_curators(self) -> list[str]:
        return [self.assigned.itemText(i) for i in range(3, self.assigned.count())]

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
        names = sorted({*curators, *(r.assigned_to for r in rows if r.assigned_to),
                        *([self.me] if self.me else [])}, key=str.casefold)
        if names != self.known_curators():
            text = self.assigned.currentText()
            self.assigned.blockSignals(True)
            self.assigned.clear()
            self.assigned.addItems([ANYONE, MINE, UNASSIGNED, *names])
            self.assigned.setCurrentText(text)
            self.assigned.blockSignals(False)
        known = [self.curator.itemText(i) for i in range(self.curator.count())]
        if curators != [k for k in known if k]:
            text = self.curator.currentText()
            self.curator.blockSignals(True)
            self.curator.clear()
            self.curator.addItems(["", *curators])
            self.curator.setCurrentText(text)
            self.curator.blockSignals(False)

    def _assign(self) -> None:
        paths = self.queue.selected_paths()
        if paths:
            self.assign.emit(paths)

    def _batch(self, status: str) -> None:
        paths = self.queue.selected_paths()
        if paths:
            self.batch.emit(status, paths)
