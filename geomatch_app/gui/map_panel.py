"""The map of the current photo, driven for the window: candidate markers, the estimate and its
regions, the confirmed location, the photo's own EXIF GPS and the curator's placement.

The map page is loaded once per session; ``show`` sends one JSON payload to it (no page is
written or reloaded), so a decision redraws the markers and keeps the curator's view."""

from __future__ import annotations

from PySide6.QtCore import QObject, Signal

from geomatch_app.app.ranking import RankResult
from geomatch_app.app.session import ManualPick
from geomatch_app.core.types import GeoTag
from geomatch_app.gui.mapwidget import MapWidget


class MapPanel(QObject):
    """``show(result, confirmed, selected)``, ``highlight(rank)``, ``place(ManualPick)``."""

    shown = Signal(str)  # the map of this photo was sent to the page

    def __init__(self, widget: MapWidget) -> None:
        super().__init__(widget)
        self.widget = widget
        self.path: str | None = None
        self._exif: dict[str, GeoTag | None] = {}

    def message(self, text: str) -> None:
        self.path = None
        self.widget.show_message(text)

    def clear(self, reason: str) -> None:
        """An empty, neutral map saying why there is none (an unreadable photo)."""
        self.path = None
        self.widget.show_blank(reason)

    def show(self, result: RankResult, confirmed: tuple | None,
             selected: int | None = None) -> None:
        self.path = result.path
        # once confirmed, the curator's location is the answer: the model's estimate circle
        # would suggest an uncertainty the confirmed photo no longer has
        estimate = None if confirmed is not None else result.estimate
        self.widget.show_query(result.path, result.candidates, estimate,
                               confirmed=confirmed, exif=self.exif(result.path),
                               selected=selected, trusted=result.verdict != "no_match",
                               prior=prior_region(result))
        self.shown.emit(result.path)

    def exif(self, path: str) -> GeoTag | None:
        """The GPS in the photo's own EXIF (a header read, once per photo)."""
        if path not in self._exif:
            from geomatch_app.data.images import read_geotag

            try:
                self._exif[path] = read_geotag(path)
            except Exception:  # noqa: BLE001 - unreadable EXIF is no marker, not an error
                self._exif[path] = None
        return self._exif[path]

    def highlight(self, rank: int | None) -> None:
        if rank is not None:
            self.widget.highlight(rank)

    def place(self, pick: ManualPick | None) -> None:
        """Show the session's hand placement; the map itself sent most of them, so an
        unchanged one is not sent back (that would loop)."""
        m = self.widget.manual
        if pick is None:
            if m is not None:
                self.widget.clear_manual()
            return
        if m is not None and (m["lat"], m["lon"], m["heading"], m["precision_m"],
                              m["placed"]) == (pick.lat, pick.lon, pick.heading,
                                               pick.precision_m, pick.placed):
            return
        self.widget.set_manual(pick.lat, pick.lon, pick.heading, pick.precision_m,
                               pick.placed, emit=False)


def prior_region(result: RankResult) -> dict | None:
    """The region the ranking was narrowed to (the catalogue place), for the map."""
    p = result.prior
    if p is None or not p.active:
        return None
    return {**p.region.to_json(), "description": p.describe()}
