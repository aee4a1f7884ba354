"""The grid of top-k candidates: thumbnail, rank, score and distance to the estimate."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QColor, QIcon, QImage, QPixmap
from PySide6.QtWidgets import QAbstractItemView, QListView, QListWidget, QListWidgetItem, QWidget

from geomatch_app.core.types import Candidate

RANK_ROLE = Qt.ItemDataRole.UserRole


def candidate_label(c: Candidate, place: str = "") -> str:
    dist = ""
    if c.distance_m is not None:
        dist = f" · {format_distance(c.distance_m)}"
    elif c.lat is None:
        dist = " · no GPS"
    return f"{c.rank}  ({c.score:.2f}){dist}" + (f"\n{place}" if place else "")


def format_distance(m: float) -> str:
    if m >= 100_000:
        return f"{m / 1000:.0f} km"
    return f"{m / 1000:.1f} km" if m >= 1000 else f"{m:.0f} m"


def score_color(score: float) -> QColor:
    """Green for a close match, through amber, to red (same scale as the map markers)."""
    s = max(0.0, min(1.0, float(score)))
    return QColor.fromHsvF(0.33 * s, 0.75, 0.75)


class CandidateGrid(QListWidget):
    candidate_selected = Signal(int)  # rank (1-based)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setViewMode(QListView.ViewMode.IconMode)
        self.setResizeMode(QListView.ResizeMode.Adjust)
        self.setMovement(QListView.Movement.Static)
        self.setIconSize(QSize(128, 96))
        self.setGridSize(QSize(146, 130))
        self.setWordWrap(True)
        self.setUniformItemSizes(True)
        blank = QPixmap(self.iconSize())
        blank.fill(QColor("#e8e8e8"))
        self._blank = QIcon(blank)  # reserves the icon's room until the thumbnail arrives
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.candidates: list[Candidate] = []
        self._by_path: dict[str, list[QListWidgetItem]] = {}
        self.currentItemChanged.connect(self._on_current)

    def set_candidates(self, candidates: list[Candidate],
                       places: list[str] | None = None) -> None:
        """Show ``candidates`` (``places``: their reverse-geocoded names, when known)."""
        icons = {p: items[0].icon() for p, items in self._by_path.items() if items}
        self.blockSignals(True)
        self.clear()
        self.blockSignals(False)
        self.candidates = list(candidates)
        self._by_path = {}
        for i, c in enumerate(self.candidates):
            item = QListWidgetItem(candidate_label(c, places[i] if places else ""))
            item.setData(RANK_ROLE, c.rank)
            item.setIcon(icons.get(c.path, self._blank))  # a re-ordered ranking keeps them
            item.setToolTip(f"{Path(c.path).name}\nscore {c.score:.3f}\n{c.place_id}")
            item.setForeground(score_color(c.score).darker(130))
            self.addItem(item)
            self._by_path.setdefault(c.path, []).append(item)

    def set_thumbnail(self, path: str, image: QImage) -> None:
        if image.isNull():
            return
        icon = QIcon(QPixmap.fromImage(image))
        for item in self._by_path.get(path, []):
            item.setIcon(icon)

    def candidate(self, rank: int) -> Candidate | None:
        for c in self.candidates:
            if c.rank == rank:
                return c
        return None

    def selected_rank(self) -> int | None:
        item = self.currentItem()
        return item.data(RANK_ROLE) if item is not None else None

    def select_rank(self, rank: int) -> bool:
        for i in range(self.count()):
            if self.item(i).data(RANK_ROLE) == rank:
                if self.currentRow() != i:
                    self.setCurrentRow(i)
                return True
        return False

    def _on_current(self, cur: QListWidgetItem | None, prev: QListWidgetItem | None) -> None:
        if cur is not None:
            self.candidate_selected.emit(int(cur.data(RANK_ROLE)))
