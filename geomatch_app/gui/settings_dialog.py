"""Settings: curator name, auto-advance, device, k, KDE sigma, basemap. Stored in QSettings
on OK."""

from __future__ import annotations

from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QWidget,
)

from geomatch_app.gui.settings import Settings

BASEMAPS = ["offline", "osm", "none"]


class SettingsDialog(QDialog):
    def __init__(self, settings: Settings, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Settings")
        self.setMinimumWidth(460)  # the title bar shows the whole title
        self.settings = settings
        self.curator = QLineEdit(settings.curator)
        self.curator.setPlaceholderText("your name, kept with every decision")
        self.auto_advance = QCheckBox("After a decision, show the next photo to decide")
        self.auto_advance.setChecked(settings.auto_advance)
        self.device = QComboBox()
        self.device.addItems(["auto", "cpu", "cuda"])
        self.device.setCurrentText(settings.device)
        self.k = QSpinBox()
        self.k.setRange(1, 200)
        self.k.setValue(settings.k)
        self.sigma = QDoubleSpinBox()
        self.sigma.setRange(0.0, 2000.0)
        self.sigma.setSpecialValueText("default (0.05 km)")
        self.sigma.setDecimals(3)
        self.sigma.setSuffix(" km")
        self.sigma.setValue(settings.sigma_km)
        self.basemap = QComboBox()
        self.basemap.setEditable(True)
        self.basemap.addItems(BASEMAPS)
        self.basemap.setCurrentText(settings.basemap)
        self.basemap.setToolTip("offline: bundled world map (zoom 0–6) and the Helsinki "
                                "street demo; none: grid only; osm: online OpenStreetMap "
                                "tiles; an online server as https://…/{z}/{x}/{y}.png | "
                                "attribution; or an .mbtiles / .pmtiles file or a "
                                "{z}/{x}/{y} tile folder (docs/maps.md)")
        form = QFormLayout(self)
        form.addRow("Curator name", self.curator)
        form.addRow("", self.auto_advance)
        form.addRow("Device", self.device)
        form.addRow("Candidates (k)", self.k)
        form.addRow("Location KDE σ", self.sigma)
        browse = QPushButton("Browse…")
        browse.setToolTip("Pick an .mbtiles or .pmtiles file of your region (docs/maps.md)")
        browse.clicked.connect(self._browse_basemap)
        row = QHBoxLayout()
        row.addWidget(self.basemap, 1)
        row.addWidget(browse)
        form.addRow("Basemap", row)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok
                                   | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)

    def _browse_basemap(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Basemap tiles", "",
                                              "Tile sets (*.mbtiles *.pmtiles);;All files (*)")
        if path:
            self.basemap.setCurrentText(path)

    def accept(self) -> None:
        s = self.settings
        s.curator = self.curator.text().strip()
        s.auto_advance = self.auto_advance.isChecked()
        s.device = self.device.currentText()
        s.k = self.k.value()
        s.sigma_km = self.sigma.value()
        s.basemap = self.basemap.currentText().strip() or "offline"
        super().accept()
