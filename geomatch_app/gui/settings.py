"""User settings kept in QSettings (an INI file per user): device, k, KDE sigma, curator name,
model, basemap, heatmap. One typed front so no widget spells keys by hand. (The last project
is not here: ``app.recent`` keeps it, shared with the CLI.)"""

from __future__ import annotations

from dataclasses import dataclass, fields

from PySide6.QtCore import QSettings

from geomatch_app.models import DEFAULT_MODEL

ORG = "geomatch"
APP = "geomatch"


@dataclass
class Settings:
    device: str = "auto"  # auto / cpu / cuda
    k: int = 20  # candidates shown per query
    sigma_km: float = 0.0  # KDE bandwidth in km; 0 = the estimate's default (0.05 km)
    curator: str = ""
    model: str = DEFAULT_MODEL
    basemap: str = "offline"  # offline / none / osm / XYZ URL / .mbtiles, .pmtiles or folder
    overlay: str = ""  # a historical map over the basemap (tile file or folder)
    overlay_opacity: int = 70  # percent
    heatmap: str = "magnitude"
    opacity: int = 50  # heatmap overlay, percent
    auto_advance: bool = True  # after a decision, show the next photo still to decide

    @classmethod
    def qsettings(cls) -> QSettings:
        """The backing store. Tests isolate it with QSettings.setPath(IniFormat, UserScope, tmp)."""
        return QSettings(QSettings.Format.IniFormat, QSettings.Scope.UserScope, ORG, APP)

    @classmethod
    def load(cls) -> Settings:
        qs = cls.qsettings()
        out = cls()
        for f in fields(cls):
            default = getattr(out, f.name)
            raw = qs.value(f.name, default)
            try:
                if isinstance(default, bool):  # an INI file gives back "true" / "false"
                    value = raw if isinstance(raw, bool) else str(raw).lower() in ("true", "1")
                else:
                    value = type(default)(raw)
            except (TypeError, ValueError):
                value = default
            setattr(out, f.name, value)
        return out

    def save(self) -> None:
        qs = self.qsettings()
        for f in fields(self):
            qs.setValue(f.name, getattr(self, f.name))
        qs.sync()
