""""Fine-tune on confirmed pairs": base model, options and device; runs :func:`train` in the
GUI's one :class:`Worker` with live loss / recall curves (pyqtgraph) and Cancel. When done the
new model sits in the user models folder (so every model list shows it), recall before/after is
shown, and "Use it and re-index" rebuilds the gallery index with it, with progress.

Data: the open curation database's confirmed pairs against its gallery (the store owns the
gallery: the open index's photos are registered there); a manifest can stand in when there is
no database. The training itself is ``app.finetune`` — the same call as `geomatch train`. The
archive queue (open queries) can serve as unlabelled target photos for MK-MMD.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import pyqtgraph as pg
from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from geomatch_app.core.paths import user_data_dir
from geomatch_app.gui.jobs import start_for
from geomatch_app.gui.layout import with_browse
from geomatch_app.gui.messages import describe
from geomatch_app.gui.settings import Settings
from geomatch_app.gui.worker import Worker

log = logging.getLogger(__name__)

RECALL_COLORS = {"R@1": "#d62728", "R@5": "#1f77b4", "R@10": "#2ca02c", "R@20": "#9467bd"}


def _available_models() -> list[str]:
    from geomatch_app.models import list_models

    return list_models()


class TrainDialog(QDialog):
    model_trained = Signal(str)  # name of the new model
    index_built = Signal(object)  # the re-built Index

    def __init__(self, parent: QWidget | None = None, settings: Settings | None = None,
                 store=None, index=None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Fine-tune on confirmed pairs")
        self.settings = settings or getattr(parent, "settings", None) or Settings.load()
        self.store = store if store is not None else getattr(parent, "store", None)
        self.index = index if index is not None else getattr(parent, "index", None)
        self.worker: Worker | None = None
        self.result = None
        self._t0 = 0.0
        self._steps: list[int] = []
        self._losses: dict[str, list[float]] = {}
        self._val_steps: list[int] = []
        self._recall: dict[str, list[float]] = {}
        self._build_ui()
        self._refresh_data_label()

    # ------------------------------------------------------------------ layout
    def _build_ui(self) -> None:
        self.model = QComboBox()
        try:
            self.model.addItems(_available_models())
        except Exception as exc:  # noqa: BLE001 - shown in the dialog
            self.model.addItem(self.settings.model)
            self.model.setToolTip(describe(exc))
        base = self.index.model_name if self.index is not None else self.settings.model
        self.model.setCurrentText(base)
        self.data_label = QLabel()
        self.data_label.setWordWrap(True)
        self.manifest = QLineEdit()
        self.manifest.setPlaceholderText("manifest.csv (only when no database is open)")
        self.use_queue = QCheckBox("Adapt to the archive queue (MK-MMD on open queries)")
        self.target_dir = QLineEdit()
        self.target_dir.setPlaceholderText("optional folder of unlabelled archive photos")
        self.epochs = QSpinBox()
        self.epochs.setRange(1, 1000)
        self.epochs.setValue(5)
        self.lr = QDoubleSpinBox()
        self.lr.setDecimals(6)
        self.lr.setRange(1e-6, 1e-1)
        self.lr.setSingleStep(1e-5)
        self.lr.setValue(1e-5)
        self.batch = QSpinBox()
        self.batch.setRange(1, 64)
        self.batch.setValue(4)
        self.image_size = QSpinBox()
        self.image_size.setRange(0, 1024)
        self.image_size.setSpecialValueText("model default")
        self.image_size.setValue(0)
        self.freeze = QSpinBox()
        self.freeze.setRange(-1, 200)
        self.freeze.setSpecialValueText("auto (lower half)")
        self.freeze.setValue(-1)
        self.cache_trunk = QCheckBox("fast: run the frozen layers once per photo")
        self.cache_trunk.setToolTip("Cached trunk: the layers below 'freeze below' are computed "
                                    "once per photo and only the layers above are trained — "
                                    "much faster on a CPU, but without colour jitter.")
        self.device = QComboBox()
        self.device.addItems(["auto", "cpu", "cuda"])
        self.device.setCurrentText(self.settings.device or "auto")
        self.out_name = QLineEdit()
        self.out_name.setPlaceholderText("name of the new model (default: <base>-ft-<date>)")

        self.loss_plot = pg.PlotWidget(title="training loss")
        self.loss_plot.setLabel("bottom", "step")
        self.loss_plot.addLegend()
        self.loss_curves = {
            "loss": self.loss_plot.plot(pen=pg.mkPen("#1f77b4", width=1.5), name="total"),
            "mmd": self.loss_plot.plot(pen=pg.mkPen("#ff7f0e", width=1), name="MK-MMD"),
        }
        self.recall_plot = pg.PlotWidget(title="validation recall (%)")
        self.recall_plot.setLabel("bottom", "step")
        self.recall_plot.addLegend()
        self.recall_curves = {k: self.recall_plot.plot(pen=pg.mkPen(c, width=1.5), symbol="o",
                                                       symbolSize=5, name=k)
                              for k, c in RECALL_COLORS.items() if k in ("R@1", "R@5")}
        for plot in (self.loss_plot, self.recall_plot):
            plot.setMinimumHeight(150)

        self.bar = QProgressBar()
        self.status = QLabel("")
        self.status.setWordWrap(True)
        self.summary = QLabel("")
        self.summary.setWordWrap(True)
        self.start_button = QPushButton("Start")
        self.start_button.clicked.connect(self.start)
        self.cancel_button = QPushButton("Close")
        self.cancel_button.clicked.connect(self.cancel)
        self.use_button = QPushButton("Use it and re-index the gallery")
        self.use_button.setEnabled(False)
        self.use_button.clicked.connect(self.use_and_reindex)

        form = QFormLayout()
        form.addRow("Base model", self.model)
        form.addRow("Data", self.data_label)
        form.addRow("Manifest", with_browse(self.manifest, self._browse_manifest))
        form.addRow("", self.use_queue)
        form.addRow("Target photos", with_browse(self.target_dir, self._browse_target))
        opts = QHBoxLayout()
        for label, w in (("epochs", self.epochs), ("lr", self.lr), ("batch", self.batch)):
            opts.addWidget(QLabel(label))
            opts.addWidget(w)
        form.addRow("Options", _box(opts))
        opts2 = QHBoxLayout()
        for label, w in (("input px", self.image_size), ("freeze below", self.freeze),
                         ("device", self.device)):
            opts2.addWidget(QLabel(label))
            opts2.addWidget(w)
        form.addRow("", _box(opts2))
        form.addRow("", self.cache_trunk)
        form.addRow("New model", self.out_name)
        lay = QVBoxLayout(self)
        lay.addLayout(form)
        plots = QHBoxLayout()
        plots.addWidget(self.loss_plot)
        plots.addWidget(self.recall_plot)
        lay.addLayout(plots)
        lay.addWidget(self.bar)
        lay.addWidget(self.status)
        lay.addWidget(self.summary)
        row = QHBoxLayout()
        row.addWidget(self.use_button)
        row.addStretch(1)
        row.addWidget(self.start_button)
        row.addWidget(self.cancel_button)
        lay.addLayout(row)
        self.resize(760, 620)

    def _refresh_data_label(self) -> None:
        if self.store is not None:
            try:
                n = len(self.store.confirmed())
            except Exception as exc:  # noqa: BLE001 - a broken database is reported, not fatal
                self.data_label.setText(describe(exc))
                return
            gal = (f"the open index ({len(self.index)} photos)" if self.index is not None
                   else "the database's gallery images")
            self.data_label.setText(f"{n} confirmed pairs in {Path(str(self.store.path)).name}, "
                                    f"against {gal}")
            self.manifest.setEnabled(False)
        else:
            self.data_label.setText("No curation database is open: choose a manifest.")
            self.use_queue.setEnabled(False)

    def _browse_manifest(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Training manifest", "",
                                              "CSV manifest (*.csv);;All files (*)")
        if path:
            self.manifest.setText(path)

    def _browse_target(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Unlabelled archive photos")
        if path:
            self.target_dir.setText(path)

    # ------------------------------------------------------------------ training
    def make_config(self):
        from geomatch_app.training.trainer import TrainConfig

        base = self.model.currentText()
        name = self.out_name.text().strip() or \
            f"{Path(base).name}-ft-{time.strftime('%Y%m%d-%H%M%S')}"
        return TrainConfig(
            model=base, out_dir=str(user_data_dir() / "models" / name),
            epochs=self.epochs.value(), lr=float(self.lr.value()),
            batch_size=self.batch.value(), image_size=self.image_size.value() or None,
            freeze_below=None if self.freeze.value() < 0 else self.freeze.value(),
            cache_trunk=self.cache_trunk.isChecked(), device=self.device.currentText())

    def start(self, config=None) -> Worker | None:
        """Start training (``config`` overrides the form, for tests and scripts)."""
        from geomatch_app.models.checkpoint import is_model_dir

        cfg = config or self.make_config()
        if is_model_dir(cfg.out_dir):
            self.status.setText(f"A model named {Path(cfg.out_dir).name} exists already; "
                                "choose another name.")
            return None
        from geomatch_app.app.finetune import DataSpec, finetune

        manifest = self.manifest.text().strip()
        if self.store is None and not manifest:
            self.status.setText("Open a curation database or choose a manifest first.")
            return None
        # the store owns the gallery: the open index's photos are registered there
        spec = DataSpec(store=self.store, manifest="" if self.store is not None else manifest,
                        target_dir=self.target_dir.text().strip(),
                        use_queue=self.use_queue.isChecked())
        self._reset_curves()
        self.start_button.setEnabled(False)
        self.use_button.setEnabled(False)
        self.cancel_button.setText("Cancel")
        self.summary.setText("")
        self.status.setText(f"Fine-tuning {cfg.model}…")
        self._t0 = time.monotonic()
        w = Worker(finetune, spec, cfg, event_kwarg="on_event", label="Fine-tuning")
        w.signals.progress.connect(self._on_progress)
        w.signals.event.connect(self.on_event)
        w.signals.result.connect(self._on_done)
        w.signals.error.connect(self._on_error)
        w.signals.cancelled.connect(self._on_cancelled)
        self.worker = w
        return start_for(self, w)

    def cancel(self) -> None:
        if self.worker is not None and not self.worker.is_done():
            self.worker.cancel()
            self.status.setText("Cancelling… (the last finished epoch stays on disk)")
        else:
            self.reject()

    def _reset_curves(self) -> None:
        self._steps, self._losses = [], {}
        self._val_steps, self._recall = [], {}
        for c in (*self.loss_curves.values(), *self.recall_curves.values()):
            c.setData([], [])

    def on_event(self, ev) -> None:
        """One TrainEvent: extend the curves (GUI thread)."""
        if ev.losses:
            self._steps.append(ev.step)
            for k, v in ev.losses.items():
                self._losses.setdefault(k, []).append(v)
            for k, curve in self.loss_curves.items():
                if k in self._losses:
                    curve.setData(self._steps, self._losses[k])
        if ev.val:
            self._val_steps.append(ev.step)
            for k, v in ev.val.items():
                self._recall.setdefault(k, []).append(100 * v)
            for k, curve in self.recall_curves.items():
                if k in self._recall:
                    curve.setData(self._val_steps, self._recall[k])
        eta = f", about {ev.eta_s / 60:.1f} min left" if ev.eta_s else ""
        if ev.total_steps:
            self.status.setText(f"{ev.message}: step {ev.step}/{ev.total_steps}{eta}")

    def _on_progress(self, done: int, total: int, msg: str) -> None:
        self.bar.setRange(0, max(total, 1))
        self.bar.setValue(done)

    def _on_done(self, result) -> None:
        from geomatch_app.training.card import recall_table

        self.result = result
        self._finish()
        self.summary.setText("Recall on held-out places (%):\n" +
                             _plain_table(recall_table(result.before, result.after)))
        if not result.improved:  # only a model that beats the base on validation is offered
            self.status.setText(f"{result.model_name} did not improve on the validation places, "
                                f"keeping the old model ({result.model_name} is saved but "
                                "not offered).")
            return
        self.status.setText(f"Saved {result.model_name} ({result.elapsed_s:.0f} s). "
                            "It is now in every model list.")
        self.use_button.setEnabled(True)
        self.model_trained.emit(result.model_name)

    def _on_error(self, exc: BaseException) -> None:
        self._finish()
        self.status.setText(describe(exc))

    def _on_cancelled(self) -> None:
        self._finish()
        self.status.setText("Cancelled. Start again with the same name to resume "
                            "from the last finished epoch.")

    def _finish(self) -> None:
        self.start_button.setEnabled(True)
        self.cancel_button.setText("Close")

    # ------------------------------------------------------------------ re-indexing
    def use_and_reindex(self) -> Worker | None:
        """Select the new model and rebuild the gallery with it into a new index folder beside
        the old one (progress + cancel); the window then ranks with it."""
        from geomatch_app.app.finetune import reindex

        if self.result is None:
            return None
        name = self.result.model_name
        self.settings.model = name
        self.status.setText(f"Re-indexing the gallery with {name}…")
        self.use_button.setEnabled(False)
        w = Worker(reindex, name, index=self.index, store=self.store,
                   device=self.settings.device, label="Re-indexing")
        w.signals.progress.connect(self._on_progress)
        w.signals.result.connect(self._on_index)
        w.signals.error.connect(self._on_error)
        w.signals.cancelled.connect(self._on_cancelled)
        self.worker = w
        self.cancel_button.setText("Cancel")
        return start_for(self, w)

    def _on_index(self, index) -> None:
        self._finish()
        self.index = index
        self.status.setText(f"Index rebuilt with {index.model_name}: {len(index)} photos in "
                            f"{index.folder}")
        self.index_built.emit(index)


def _plain_table(markdown: str) -> str:
    rows = [r for r in markdown.strip().splitlines() if not r.startswith("|---")]
    return "\n".join("  ".join(c.strip() for c in r.strip("|").split("|")) for r in rows)


def _box(layout) -> QWidget:
    w = QWidget()
    layout.setContentsMargins(0, 0, 0, 0)
    w.setLayout(layout)
    return w
