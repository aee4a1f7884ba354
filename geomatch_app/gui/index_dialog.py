"""Build or update an index from a folder or manifest, with a model chosen from the registry
(built-in and fine-tuned). Runs in the Worker with progress and Cancel; non-modal.

It never replaces the open index unless asked: the default target is a new folder named after
the source, and "Add to the open index" is an explicit choice. Before building it counts the
photos that have a location and warns when none or few do (the map and the location estimate
need them), offering a CSV with coordinates instead."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMenu,
    QProgressBar,
    QPushButton,
    QWidget,
)

from geomatch_app.core.paths import user_data_dir
from geomatch_app.gui.jobs import start_for
from geomatch_app.gui.layout import with_browse
from geomatch_app.gui.messages import describe
from geomatch_app.gui.settings import Settings
from geomatch_app.gui.worker import Worker

FEW_LOCATED = 0.5  # warn when fewer than half of the photos have a location


def default_index_dir(source: str) -> Path:
    """A new index folder named after the source: ``…/indexes/<folder or manifest name>``."""
    from geomatch_app.store.export import safe_name

    src = Path(source)
    name = src.name if src.is_dir() or not src.suffix else f"{src.parent.name}-{src.stem}"
    base = user_data_dir() / "indexes" / (safe_name(name, 60) or "index")
    out, n = base, 2
    while out.exists() and any(out.iterdir()):
        out = base.with_name(f"{base.name}-{n}")
        n += 1
    return out


def count_located(source: str, progress=None) -> tuple[int, int]:
    """(photos with a location, photos) of a folder or manifest (reads EXIF, not pixels)."""
    from geomatch_app.data.gallery import load_photos

    report = load_photos(source)
    return sum(p.lat is not None for p in report.photos), len(report.photos)


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
        self.source.textChanged.connect(self._on_source)
        self.out = QLineEdit("")
        self.out.setPlaceholderText("a new folder, named after the gallery")
        self.out.textEdited.connect(lambda _t: setattr(self, "_out_edited", True))
        self._out_edited = False
        self._located: tuple[int, int] | None = None
        self.open_index = getattr(getattr(parent, "index", None), "folder", None)
        self.add_to_open = QCheckBox("Add to the open index"
                                     + (f" ({Path(self.open_index).name})" if self.open_index
                                        else ""))
        self.add_to_open.setEnabled(self.open_index is not None)
        self.add_to_open.setToolTip("update the index that is open now instead of building a "
                                    "new one next to it")
        self.add_to_open.toggled.connect(self._on_add_to_open)
        self.warning = QLabel("")
        self.warning.setWordWrap(True)
        self.warning.setStyleSheet("color: #8a6d00")
        self.csv_button = QPushButton("Choose a CSV with coordinates…")
        self.csv_button.clicked.connect(self._browse_manifest)
        self.anyway_button = QPushButton("Build anyway")
        self.anyway_button.clicked.connect(lambda: self.start(checked=True))
        self._show_warning("")
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
        form.addRow("Gallery", with_browse(self.source, self._browse_menu()))
        form.addRow("Index folder", with_browse(self.out, self._browse_out))
        form.addRow("", self.add_to_open)
        form.addRow("Model", self.model)
        form.addRow(self.warning)
        warn_row = QHBoxLayout()
        warn_row.addStretch(1)
        warn_row.addWidget(self.csv_button)
        warn_row.addWidget(self.anyway_button)
        form.addRow(warn_row)
        form.addRow(self.bar)
        form.addRow(self.status)
        row = QHBoxLayout()
        row.addStretch(1)
        row.addWidget(self.build_button)
        row.addWidget(self.cancel_button)
        form.addRow(row)
        self.resize(560, 220)

    def _browse_menu(self) -> QMenu:
        """One Browse button for either kind of gallery: a folder or a manifest."""
        menu = QMenu(self)
        menu.addAction("Folder of photos…", self._browse_folder)
        menu.addAction("Manifest or CSV with coordinates…", self._browse_manifest)
        return menu

    def _browse_folder(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Gallery folder")
        if path:
            self.source.setText(path)

    def _browse_manifest(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "Gallery manifest (path, lat, lon …)", "", "CSV (*.csv);;All files (*)")
        if path:
            self.source.setText(path)

    def _on_source(self, text: str) -> None:
        self._show_warning("")
        if text.strip() and not self._out_edited and not self.add_to_open.isChecked():
            self.out.setText(str(default_index_dir(text.strip())))

    def _on_add_to_open(self, on: bool) -> None:
        self.out.setEnabled(not on)
        if on and self.open_index:
            self.out.setText(str(self.open_index))
        elif self.source.text().strip():
            self._out_edited = False
            self._on_source(self.source.text())

    def _show_warning(self, text: str) -> None:
        self.warning.setText(text)
        for w in (self.warning, self.csv_button, self.anyway_button):
            w.setVisible(bool(text))

    def _browse_out(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Index folder", self.out.text())
        if path:
            self.out.setText(path)

    def start(self, checked: bool = False) -> Worker | None:
        """Check the locations (``checked``: already done, build anyway), then build."""
        src, out = self.source.text().strip(), self.out.text().strip()
        if not src or not out:
            self.status.setText("Choose a gallery folder or manifest and an index folder.")
            return None
        if (self.open_index and not self.add_to_open.isChecked()
                and Path(out).resolve() == Path(self.open_index).resolve()):
            self.status.setText("That is the open index. Tick 'Add to the open index' to "
                                "update it, or choose a new folder.")
            return None
        if checked:
            return self._build(src, out)
        self.build_button.setEnabled(False)
        self.status.setText(f"Counting the photos of {Path(src).name} that have a location…")
        w = Worker(count_located, src, label="Checking locations")
        w.signals.result.connect(lambda r: self._on_counted(src, out, *r))
        w.signals.error.connect(self._on_error)
        self.worker = w
        return start_for(self, w)

    def _on_counted(self, src: str, out: str, located: int, total: int) -> None:
        self.build_button.setEnabled(True)
        self._located = (located, total)
        if total and located >= FEW_LOCATED * total:
            self._build(src, out)
            return
        self.status.setText("")
        what = "none" if located == 0 else f"only {located}"
        self._show_warning(
            f"{what} of the {total} photos have a location (EXIF GPS or lat/lon in the "
            "manifest). Without locations the candidates cannot be shown on the map and no "
            "location is estimated. Choose a CSV that gives each photo's coordinates "
            "(path, lat, lon), or build anyway.")

    def _build(self, src: str, out: str) -> Worker:
        from geomatch_app.app.indexing import build

        self._show_warning("")
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
        where = ""
        if self._located is not None:
            where = f" ({self._located[0]} of the {self._located[1]} sources with a location)"
        self.status.setText(f"Done: {len(index)} photos{where} in {index.folder}")
        self.index_built.emit(index)

    def _on_error(self, exc: BaseException) -> None:
        self.build_button.setEnabled(True)
        self.status.setText(describe(exc))

    def _on_cancelled(self) -> None:
        self.build_button.setEnabled(True)
        self.status.setText("Cancelled; the previous index (if any) is unchanged.")
