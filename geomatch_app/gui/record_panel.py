"""The catalogue record of the current photo: title, archive id, date, free-text place, known
coordinates (from the catalogue), notes — shown and editable (Save writes them to the store,
undoable) — and why the file cannot be read, when it cannot."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
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
        form.addRow("Known location", self.coords)
        form.addRow(self.problem)
        form.addRow(self.save_button)
        self.show_query(None)

    def show_query(self, q: QueryRecord | None) -> None:
        self.query_id = q.id if q is not None else None
        for name, edit in self.edits.items():
            edit.setText(getattr(q, name, "") if q is not None else "")
            edit.setEnabled(q is not None)
        has = q is not None and q.lat is not None
        self.coords.setText(f"{q.lat:.6f}, {q.lon:.6f}" if has else "")
        self.coords.setEnabled(q is not None)
        self.save_button.setEnabled(q is not None)
        why = q.unreadable if q is not None else ""
        self.problem.setText(
            f"This file cannot be read, so it cannot be decided: {why}" if why else "")

    def values(self) -> dict:
        out: dict = {name: edit.text().strip() for name, edit in self.edits.items()}
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
