"""The centre bottom: one line about the ranking (estimate, radius, confidence, model) and the
grid of candidates."""

from __future__ import annotations

from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from geomatch_app.app.ranking import RankResult
from geomatch_app.gui.candidates import CandidateGrid
from geomatch_app.gui.inspect import VerdictBanner


def place_names(points: list[tuple]) -> list[str] | None:
    """Offline reverse geocoding ("Lund, SE") once the gazetteer is loaded (the map warms it
    up in the background); None before that, so the window never waits for it."""
    from geomatch_app.geo import geocode

    return geocode.place_names(points) if geocode.is_loaded() else None


def place_of(result: RankResult) -> str:
    est = result.estimate
    names = place_names([(est.lat, est.lon)]) if est is not None else None
    return names[0] if names else ""


def describe_result(result: RankResult) -> str:
    est = result.estimate
    n = len(result.candidates)
    if est is None:
        return f"{n} candidates · no location estimate (no candidate has GPS)"
    place = place_of(result)
    where = (f"estimate {est.lat:.5f}, {est.lon:.5f}{f' ({place})' if place else ''} ± "
             f"{est.radius_m:.0f} m · confidence {est.confidence:.2f}")
    if result.verdict == "no_match":
        where = f"no trusted estimate (closest photos' centre {est.lat:.5f}, {est.lon:.5f})"
    return f"{n} candidates · {where} · model {result.model}"


def verification_note(result: RankResult) -> str:
    """What geometric verification did to the verdict: under way, changed it, or agreed."""
    if result.pending:
        return "verifying…"
    if result.before is None:
        return ""
    before, _p = result.before
    if before != result.verdict:
        from geomatch_app.training.calibration import VERDICT_TEXT

        was = VERDICT_TEXT.get(before or "", before or "not calibrated").split(" — ")[0]
        return f"changed by geometric verification (was: {was})"
    return "unchanged by geometric verification"


class ResultsPanel(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.banner = VerdictBanner()  # "No confident match in this gallery — …"
        self.label = QLabel("")
        self.label.setWordWrap(True)
        self.prior = QLabel("")  # "Ranking narrowed to Helsinki, Finland (± 25 km) from …"
        self.prior.setObjectName("priorLine")
        self.prior.setWordWrap(True)
        self.prior.setStyleSheet("color: #a64d00")
        self.prior.hide()
        self.grid = CandidateGrid()
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.banner)
        lay.addWidget(self.label)
        lay.addWidget(self.prior)
        lay.addWidget(self.grid, 1)

    def show_waiting(self, text: str) -> None:
        self.grid.set_candidates([])
        self.banner.set_verdict(None, shown=False)
        self.label.setText(text)
        self.prior.hide()

    def show_result(self, result: RankResult) -> None:
        self.grid.set_candidates(result.candidates,
                                 place_names([(c.lat, c.lon) for c in result.candidates]))
        self.banner.set_verdict(result.verdict, result.p_best,
                                shown=result.verdict is not None,
                                note=verification_note(result))
        self.label.setText(describe_result(result))
        line = result.prior.describe() if result.prior is not None else ""
        line = "\n".join(t for t in (line, result.sequence_note()) if t)
        self.prior.setText(line)
        self.prior.setVisible(bool(line))
