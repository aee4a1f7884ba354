"""File → Export labelled set: the GUI face of `geomatch export` (same formats, same options:
curator, require review, negatives), with a preview of what will be written before anything is
written. The export runs in a job; an earlier export is never half overwritten (atomic)."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
)

from geomatch_app.app import export as app_export
from geomatch_app.core.paths import user_data_dir
from geomatch_app.gui.jobs import start_for
from geomatch_app.gui.layout import with_browse
from geomatch_app.gui.messages import describe
from geomatch_app.gui.worker import Worker

FORMAT_HELP = {
    "pairs": "query/ + reference/ images with pairs.csv (AmsterTime style)",
    "manifest": "manifest.csv + images: `geomatch index` and `geomatch eval` read it back",
    "geojson": "confirmed points for a GIS",
}


class ExportDialog(QDialog):
    def __init__(self, win) -> None:
        super().__init__(win)
        self.win = win
        self.store = win.store
        self.worker: Worker | None = None
        self.report = None
        self.setWindowTitle("Export labelled set")
        self.setMinimumWidth(620)
        self.format = QComboBox()
        for fmt in app_export.FORMATS:
            self.format.addItem(fmt)
            self.format.setItemData(self.format.count() - 1, FORMAT_HELP.get(fmt, fmt), 3)
        self.format.setCurrentText("manifest")
        self.out = QLineEdit(str(user_data_dir() / "exports" / "labelled-set"))
        self.curator = QComboBox()
        self.curator.addItem("all curators")
        curators = sorted({r.curator for r in win.queue.rows() if r.curator})
        self.curator.addItems(curators)
        self.require_review = QCheckBox("Only confirmations a second curator accepted")
        self.negatives = QCheckBox("Include negatives and provenance (labels.csv: rejected "
                                   "candidates, none of these)")
        self.negatives.setChecked(True)
        self.place_names = QCheckBox("Name the places (offline GeoNames: \"Lund, SE\")")
        self.place_names.setChecked(True)
        self.force = QCheckBox("Overwrite files in a folder that is not empty")
        self.preview = QLabel("")
        self.preview.setWordWrap(True)
        self.status = QLabel("")
        self.status.setWordWrap(True)
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.export_button = QPushButton("&Export")
        self.export_button.clicked.connect(self.start)
        close = QPushButton("Close")
        close.clicked.connect(self.close)
        form = QFormLayout(self)
        form.addRow("Format", self.format)
        form.addRow("Folder", with_browse(self.out, self._browse))
        form.addRow("Curator", self.curator)
        form.addRow("", self.require_review)
        form.addRow("", self.negatives)
        form.addRow("", self.place_names)
        form.addRow("", self.force)
        form.addRow("Will write", self.preview)
        form.addRow(self.status)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(self.export_button)
        buttons.addWidget(close)
        form.addRow(buttons)
        for box in (self.require_review, self.negatives):
            box.toggled.connect(self.update_preview)
        self.curator.currentTextChanged.connect(self.update_preview)
        self.format.currentTextChanged.connect(self.update_preview)
        self.update_preview()

    def _curator(self) -> str | None:
        return None if self.curator.currentIndex() == 0 else self.curator.currentText()

    def update_preview(self, *_args) -> None:
        try:
            p = app_export.preview(self.store, curator=self._curator(),
                                   require_review=self.require_review.isChecked())
        except Exception as exc:  # noqa: BLE001
            self.preview.setText(describe(exc))
            return
        text = p.text(self.negatives.isChecked())
        if self.format.currentText() == "pairs" and p.map_points:
            text += " — pairs need a reference photo, so map points are left out of pairs.csv"
        self.preview.setText(text)
        self.export_button.setEnabled(p.included > 0 or self.negatives.isChecked())

    def _browse(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Export into folder", self.out.text())
        if path:
            self.out.setText(path)

    def start(self) -> Worker | None:
        out = self.out.text().strip()
        if not out:
            self.status.setText("Choose a folder to export into.")
            return None
        self.export_button.setEnabled(False)
        self.status.setText(f"Exporting to {out}…")
        w = Worker(app_export.export, self.store, out, self.format.currentText(),
                   force=self.force.isChecked(), curator=self._curator(),
                   require_review=self.require_review.isChecked(),
                   negatives=self.negatives.isChecked(),
                   place_name=(app_export.offline_place_name()
                               if self.place_names.isChecked() else None),
                   label="Exporting")
        w.signals.result.connect(self._on_done)
        w.signals.error.connect(self._on_error)
        self.worker = w
        return start_for(self, w)

    def _on_done(self, report) -> None:
        self.report = report
        self.export_button.setEnabled(True)
        text = report.summary()
        if report.skipped:
            text += "\n" + "\n".join(f"skipped {Path(p).name}: {r}" for p, r in report.skipped[:5])
        if report.format == "manifest":
            index = self.win.index.folder if self.win.index is not None else "INDEX"
            text += (f"\nRead it back: geomatch eval --queries "
                     f"{Path(report.out_dir) / 'manifest.csv'} --index {index}")
        self.status.setText(text)
        self.adjustSize()

    def _on_error(self, exc: BaseException) -> None:
        self.export_button.setEnabled(True)
        self.status.setText(describe(exc))
