"""The catalogue record of the current photo: title, archive id, date, free-text place, known
coordinates (from the catalogue), notes — shown and editable (Save writes them to the store,
undoable) — and why the file cannot be read, when it cannot. Under the place: the region it
resolves to offline (``app.prior``) and whether it narrows this photo's ranking; changing
either ranks the photo again."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QWidget,
)

from geomatch_app.store.records import QueryRecord

FIELDS = (("title", "Title"), ("archive_id", "Archive id"), ("date_text", "Date"),
          ("place_text", "Place"), ("notes", "Notes"))


class RecordPanel(QWidget):
    saved = Signal(int, dict)  # query id, the edited fields

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.query_id: int | None = None
        self.edits = {name: QLineEdit() for name, _ in FIELDS}
        self.edits["date_text"].setPlaceholderText("1923, c. 1920–1925, 1923-05-07")
        self.edits["place_text"].setPlaceholderText("free text: Lund, Stortorget")
        self.use_prior = QCheckBox("Narrow the ranking to this place")
        self.use_prior.setToolTip("candidates far outside the place's region are ranked "
                                  "lower (see the line above the candidates); untick when the "
                                  "catalogue's place is doubtful")
        self.region = QLabel("")
        self.region.setObjectName("priorRegion")
        self.region.setWordWrap(True)
        self.edits["place_text"].textChanged.connect(self._show_region)
        self.coords = QLineEdit()
        self.coords.setPlaceholderText("lat, lon (known coordinates)")
        self.problem = QLabel("")
        self.problem.setWordWrap(True)
        self.problem.setStyleSheet("color: #a40000")
        self.save_button = QPushButton("Save record")
        self.save_button.clicked.connect(self.save)
        form = QFormLayout(self)
        form.setContentsMargins(0, 0, 0, 0)
        for name, label in FIELDS:
            form.addRow(label, self.edits[name])
            if name == "place_text":
                form.addRow("", self.region)
                form.addRow("", self.use_prior)
        form.addRow("Known location", self.coords)
        form.addRow(self.problem)
        form.addRow(self.save_button)
        self.show_query(None)

    def show_query(self, q: QueryRecord | None) -> None:
        self.query_id = q.id if q is not None else None
        for name, edit in self.edits.items():
            edit.setText(getattr(q, name, "") if q is not None else "")
            edit.setEnabled(q is not None)
        self.use_prior.setChecked(bool(q.use_prior) if q is not None else True)
        self.use_prior.setEnabled(q is not None)
        self._show_region()
        has = q is not None and q.lat is not None
        self.coords.setText(f"{q.lat:.6f}, {q.lon:.6f}" if has else "")
        self.coords.setEnabled(q is not None)
        self.save_button.setEnabled(q is not None)
        why = q.unreadable if q is not None else ""
        self.problem.setText(
            f"This file cannot be read, so it cannot be decided: {why}" if why else "")

    def values(self) -> dict:
        out: dict = {name: edit.text().strip() for name, edit in self.edits.items()}
        out["use_prior"] = self.use_prior.isChecked()
        text = self.coords.text().strip()
        if text:
            try:
                lat_s, lon_s = text.replace(";", ",").split(",")
                out["lat"], out["lon"] = float(lat_s), float(lon_s)
            except ValueError:
                raise ValueError(f"known location {text!r} is not 'lat, lon'") from None
        else:
            out["lat"] = out["lon"] = None
        return out

    def save(self) -> None:
        if self.query_id is None:
            return
        try:
            values = self.values()
        except ValueError as exc:
            self.problem.setText(str(exc))
            return
        self.saved.emit(self.query_id, values)

    def _show_region(self, *_args) -> None:
        """The region the place resolves to, once the place names are loaded (the map loads
        them in the background; the window never waits for them)."""
        from geomatch_app.app.prior import from_text
        from geomatch_app.geo import geocode

        text = self.edits["place_text"].text().strip()
        if not text:
            self.region.setText("")
        elif not geocode.is_loaded():
            self.region.setText("(place names are loading…)")
        else:
            p = from_text(text)
            self.region.setText(f"Prior region: {p.region.describe()}" if p.region else
                                f"No prior region: {text!r} is not a place GeoNames knows")
            self.region.setToolTip(p.reason)
