"""Where things live: shipped resources, the demo gallery, the user's data folder."""

from __future__ import annotations

import os
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent.parent
REPO_DIR = PACKAGE_DIR.parent


def resources_dir() -> Path:
    """Shipped resources: ``resources/`` beside the package (editable install or source tree)."""
    env = os.environ.get("GEOMATCH_RESOURCES")
    if env:
        return Path(env)
    return REPO_DIR / "resources"


def demo_dir() -> Path:
    return resources_dir() / "demo"


def demo_manifest() -> Path:
    return demo_dir() / "manifest.csv"


def models_dir() -> Path:
    """Model cards of the built-in models (``models/`` at the repo top level)."""
    return REPO_DIR / "models"


def user_data_dir() -> Path:
    """Per-user data (demo index, fine-tuned models, default database). Override: GEOMATCH_HOME."""
    env = os.environ.get("GEOMATCH_HOME")
    if env:
        base = Path(env)
    else:
        xdg = os.environ.get("XDG_DATA_HOME")
        base = Path(xdg) / "geomatch" if xdg else Path.home() / ".local" / "share" / "geomatch"
    base.mkdir(parents=True, exist_ok=True)
    return base


def shared_data_dir() -> Path | None:
    """The read-only ``../shared/data`` datasets, when present beside the checkout."""
    env = os.environ.get("GEOMATCH_SHARED_DATA")
    cand = Path(env) if env else REPO_DIR.parent / "shared" / "data"
    return cand if cand.is_dir() else None
