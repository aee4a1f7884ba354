"""The map of the current photo: candidate markers, the estimate and its regions, the confirmed
location and the curator's own placement. The page is written in a latest-wins job slot, so the
map of a photo the curator already left never replaces the one on screen."""

from __future__ import annotations

import hashlib
from pathlib import Path

from PySide6.QtCore import QObject, Signal

from geomatch_app.app.ranking import RankResult
from geomatch_app.app.session import ManualPick
from geomatch_app.core.paths import user_data_dir
from geomatch_app.core.types import GeoTag
from geomatch_app.gui.jobs import JobsBar, JobSlot
from geomatch_app.gui.mapwidget import MapWidget
from geomatch_app.gui.worker import Worker


def map_path(query_path: str) -> Path:
    """One HTML file per query under the user data folder (rewritten on each change)."""
    folder = user_data_dir() / "maps"
    folder.mkdir(parents=True, exist_ok=True)
    key = hashlib.sha1(query_path.encode()).hexdigest()[:12]
    return folder / f"{Path(query_path).stem[:40]}-{key}.html"


def write_map(result: RankResult, confirmed: tuple | None, basemap: str,
              selected: int | None) -> Path:
    from geomatch_app.geo.mapview import render_map

    conf = GeoTag(*confirmed) if confirmed is not None else None
    return Path(render_map(map_path(result.path), result.candidates, result.estimate,
                           confirmed=conf, basemap=basemap, selected=selected))


class MapPanel(QObject):
    """Drives the ``MapWidget`` for the window: ``show(result, …)``, ``highlight``, ``place``."""

    shown = Signal(str)  # the map page of this photo finished loading

    def __init__(self, widget: MapWidget, jobs: JobsBar) -> None:
        super().__init__(widget)
        self.widget = widget
        self.slot = JobSlot(jobs)
        self.path: str | None = None
        self._selected: int | None = None
        self._manual: ManualPick | None = None
        widget.loaded.connect(self._on_loaded)

    def message(self, text: str) -> None:
        self.slot.cancel()
        self.path = None
        self.widget.show_message(text)

    def show(self, result: RankResult, confirmed: tuple | None, basemap: str,
             selected: int | None = None) -> None:
        self.path = result.path
        self._selected = selected
        w = Worker(write_map, result, confirmed, basemap or "offline", selected,
                   pass_progress=False, label="Drawing map")
        self.slot.start(w, on_result=lambda html, p=result.path: self._on_written(p, html))

    def _on_written(self, path: str, html: Path) -> None:
        if path == self.path:
            self.widget.show_file(html)

    def highlight(self, rank: int | None) -> None:
        self._selected = rank
        if rank is not None:
            self.widget.highlight(rank)

    def place(self, pick: ManualPick | None) -> None:
        self._manual = pick
        if pick is not None:
            self.widget.set_manual(pick.lat, pick.lon, pick.heading)

    def _on_loaded(self, ok: bool) -> None:
        if ok and self.path and self.widget.html_path is not None:
            if self._manual is not None:
                self.place(self._manual)
            elif self._selected is not None:
                self.widget.highlight(self._selected)
            self.shown.emit(self.path)
