"""Build or update an index from a folder or manifest, with a model chosen from the registry
(built-in and fine-tuned). Runs in the Worker with progress and Cancel; non-modal."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QWidget,
)

from geomatch_app.core.paths import user_data_dir
from geomatch_app.gui.jobs import start_for
from geomatch_app.gui.messages import describe
from geomatch_app.gui.settings import Settings
from geomatch_app.gui.worker import Worker


def available_models() -> list[str]:
    from geomatch_app.models import list_models

    return list_models()


class IndexDialog(QDialog):
    index_built = Signal(object)  # the Index

    def __init__(self, parent: QWidget | None, settings: Settings) -> None:
        super().__init__(parent)
        self.setWindowTitle("Build or update an index")
        self.settings = settings
        self.worker: Worker | None = None
        self.source = QLineEdit()
        self.source.setPlaceholderText("folder of geotagged photos, or manifest.csv")
        self.out = QLineEdit(str(user_data_dir() / "index"))
        self.model = QComboBox()
        try:
            self.model.addItems(available_models())
        except Exception as exc:  # noqa: BLE001 - shown in the dialog
            self.model.addItem(settings.model)
            self.model.setToolTip(describe(exc))
        self.model.setCurrentText(settings.model)
        self.bar = QProgressBar()
        self.bar.setValue(0)
        self.status = QLabel("")
        self.status.setWordWrap(True)
        self.build_button = QPushButton("Build")
        self.build_button.clicked.connect(self.start)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self.cancel)
        form = QFormLayout(self)
        form.addRow("Gallery", _with_browse(self.source, self._browse_source))
        form.addRow("Index folder", _with_browse(self.out, self._browse_out))
        form.addRow("Model", self.model)
        form.addRow(self.bar)
        form.addRow(self.status)
        row = QHBoxLayout()
        row.addStretch(1)
        row.addWidget(self.build_button)
        row.addWidget(self.cancel_button)
        form.addRow(row)
        self.resize(560, 220)

    def _browse_source(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Gallery manifest", "",
                                              "CSV manifest (*.csv);;All files (*)")
        if not path:
            path = QFileDialog.getExistingDirectory(self, "Gallery folder")
        if path:
            self.source.setText(path)

    def _browse_out(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Index folder", self.out.text())
        if path:
            self.out.setText(path)

    def start(self) -> Worker | None:
        from geomatch_app.app.indexing import build

        src, out = self.source.text().strip(), self.out.text().strip()
        if not src or not out:
            self.status.setText("Choose a gallery folder or manifest and an index folder.")
            return None
        self.settings.model = self.model.currentText()
        self.build_button.setEnabled(False)
        self.status.setText(f"Indexing {Path(src).name} with {self.settings.model}…")
        # workers=0: no DataLoader processes forked from a threaded Qt process; decoding in
        # the pool thread costs little next to the model.
        w = Worker(build, src, out, model=self.settings.model, device=self.settings.device,
                   workers=0, store=getattr(self.parent(), "store", None),
                   label="Building index")
        w.signals.progress.connect(self._on_progress)
        w.signals.result.connect(self._on_done)
        w.signals.error.connect(self._on_error)
        w.signals.cancelled.connect(self._on_cancelled)
        self.worker = w
        return start_for(self, w)

    def cancel(self) -> None:
        if self.worker is not None and not self.worker.is_done():
            self.worker.cancel()
            self.status.setText("Cancelling…")
        else:
            self.reject()

    def _on_progress(self, done: int, total: int, msg: str) -> None:
        self.bar.setRange(0, max(total, 1))
        self.bar.setValue(done)
        self.status.setText(f"{done}/{total} {msg}")

    def _on_done(self, index) -> None:
        self.build_button.setEnabled(True)
        self.status.setText(f"Done: {len(index)} photos in {index.folder}")
        self.index_built.emit(index)

    def _on_error(self, exc: BaseException) -> None:
        self.build_button.setEnabled(True)
        self.status.setText(describe(exc))

    def _on_cancelled(self) -> None:
        self.build_button.setEnabled(True)
        self.status.setText("Cancelled; the previous index (if any) is unchanged.")


def _with_browse(edit: QLineEdit, slot) -> QWidget:
    box = QWidget()
    lay = QHBoxLayout(box)
    lay.setContentsMargins(0, 0, 0, 0)
    lay.addWidget(edit, 1)
    b = QPushButton("Browse…")
    b.clicked.connect(slot)
    lay.addWidget(b)
    return box
