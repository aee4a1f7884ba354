"""The centre bottom: one line about the ranking (estimate, radius, confidence, model) and the
grid of candidates."""

from __future__ import annotations

from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from geomatch_app.app.ranking import RankResult
from geomatch_app.gui.candidates import CandidateGrid


def describe_result(result: RankResult) -> str:
    est = result.estimate
    n = len(result.candidates)
    if est is None:
        return f"{n} candidates · no location estimate (no candidate has GPS)"
    return (f"{n} candidates · estimate {est.lat:.5f}, {est.lon:.5f} ± {est.radius_m:.0f} m · "
            f"confidence {est.confidence:.2f} · model {result.model}")


class ResultsPanel(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.label = QLabel("")
        self.label.setWordWrap(True)
        self.grid = CandidateGrid()
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.label)
        lay.addWidget(self.grid, 1)

    def show_waiting(self, text: str) -> None:
        self.grid.set_candidates([])
        self.label.setText(text)

    def show_result(self, result: RankResult) -> None:
        self.grid.set_candidates(result.candidates)
        self.label.setText(describe_result(result))
