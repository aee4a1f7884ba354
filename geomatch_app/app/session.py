"""What the window shows, as plain data it observes (napari / Orange3 style): the current photo,
its ranking, the curator's typed pick and the heatmap choice. No Qt here: the window subscribes
with ``session.changed.connect(callback)`` and redraws the panels the change names, and the
session is tested headless.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from geomatch_app.app.ranking import RankResult
from geomatch_app.core.types import Candidate


@dataclass(frozen=True)
class CandidatePick:
    """The curator picked gallery candidate ``rank`` (1-based) of the current ranking; ``rank``
    is None when the candidate was named by path alone (``geomatch confirm --candidate``)."""

    rank: int | None
    path: str


@dataclass(frozen=True)
class ManualPick:
    """The curator placed the photo on the map by hand."""

    lat: float
    lon: float
    heading: float | None = None  # camera direction, degrees clockwise from north
    precision_m: float | None = None  # radius the curator vouches for
    placed: str = "camera"  # 'camera' position or the 'subject' shown

    def __post_init__(self) -> None:
        if not (-90 <= self.lat <= 90 and -180 <= self.lon <= 180):
            raise ValueError(f"not a WGS84 position: {self.lat}, {self.lon}")
        if self.placed not in ("camera", "subject"):
            raise ValueError(f"placed must be 'camera' or 'subject', not {self.placed!r}")


Pick = CandidatePick | ManualPick


class Signal:
    """A minimal observer list (Qt-free): ``connect(fn)``, ``emit(*args)``."""

    def __init__(self) -> None:
        self._slots: list[Callable[..., None]] = []

    def connect(self, fn: Callable[..., None]) -> None:
        self._slots.append(fn)

    def emit(self, *args: object) -> None:
        for fn in list(self._slots):
            fn(*args)


class Session:
    """The photo on screen and what the curator is doing with it.

    ``changed`` is emitted with one of ``"photo"`` (another photo is current), ``"result"``
    (its ranking arrived), ``"verified"`` (its ranking was verified: p_match, verdict and the
    order of the top candidates may change; the pick is kept), ``"pick"`` (the pick changed)
    or ``"heatmap"``."""

    def __init__(self) -> None:
        self.path: str | None = None
        self.result: RankResult | None = None
        self.pick: Pick | None = None
        self.heatmap: str = "none"
        self.changed = Signal()
        self._results: dict[str, RankResult] = {}

    # -- photo and ranking -------------------------------------------------------------------
    def show(self, path: str) -> None:
        """Make ``path`` the current photo (its ranking, if known, comes with it)."""
        self.path = path
        self.pick = None
        self.result = self._results.get(path)
        self.changed.emit("photo")

    def set_result(self, result: RankResult) -> None:
        """A ranking arrived (possibly for a photo that is no longer on screen)."""
        self._results[result.path] = result
        if result.path == self.path:
            self.result = result
            self.changed.emit("result")

    def update_result(self, first: RankResult, result: RankResult) -> bool:
        """The verified reading of ranking ``first`` arrived (app.ranking.verify_ranking). It
        lands only while ``first`` is still the ranking held for its photo — never over a
        newer ranking (another index, other parameters). A candidate pick follows its photo
        to its new rank. Emits ``"verified"`` when it is the photo on screen; False when it
        was dropped as stale."""
        path = first.path
        if self._results.get(path) is not first:
            return False
        self._results[path] = result
        if path == self.path:
            self.result = result
            if isinstance(self.pick, CandidatePick):
                moved = next((c for c in result.candidates if c.path == self.pick.path), None)
                self.pick = CandidatePick(moved.rank, moved.path) if moved else None
            self.changed.emit("verified")
        return True

    def result_for(self, path: str) -> RankResult | None:
        return self._results.get(path)

    def forget_results(self) -> None:
        """Another index was opened: every ranking is stale."""
        self._results.clear()
        self.result = None
        self.pick = None
        self.changed.emit("result")

    @property
    def candidates(self) -> list[Candidate]:
        return self.result.candidates if self.result is not None else []

    def candidate(self, rank: int) -> Candidate | None:
        return next((c for c in self.candidates if c.rank == rank), None)

    # -- picking -----------------------------------------------------------------------------
    def pick_candidate(self, rank: int) -> CandidatePick | None:
        c = self.candidate(rank)
        if c is None:
            return None
        pick = CandidatePick(c.rank, c.path)
        if pick != self.pick:
            self.pick = pick
            self.changed.emit("pick")
        return pick

    def place(self, lat: float, lon: float, heading: float | None = None,
              precision_m: float | None = None, placed: str = "camera") -> ManualPick | None:
        if self.path is None:
            return None
        self.pick = ManualPick(float(lat), float(lon), heading, precision_m, placed)
        self.changed.emit("pick")
        return self.pick

    def set_heading(self, heading: float | None) -> None:
        if isinstance(self.pick, ManualPick):
            self.place(self.pick.lat, self.pick.lon, heading, self.pick.precision_m,
                       self.pick.placed)

    def clear_pick(self) -> None:
        if self.pick is not None:
            self.pick = None
            self.changed.emit("pick")

    @property
    def picked_candidate(self) -> Candidate | None:
        if isinstance(self.pick, CandidatePick):
            return self.candidate(self.pick.rank)
        return None

    def set_heatmap(self, method: str) -> None:
        if method != self.heatmap:
            self.heatmap = method
            self.changed.emit("heatmap")

    def describe_pick(self) -> str:
        if self.pick is None:
            return "Nothing picked: 1–9 picks a candidate, a map click places the location by hand"
        if isinstance(self.pick, CandidatePick):
            return f"Picked candidate {self.pick.rank} — Enter confirms"
        p = self.pick
        h = f", facing {p.heading:.0f}°" if p.heading is not None else ""
        r = f" ± {p.precision_m:.0f} m" if p.precision_m is not None else ""
        return f"Manual location {p.lat:.5f}, {p.lon:.5f}{r}{h} — Enter confirms"
