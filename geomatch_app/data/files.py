"""The one walk of image folders: which files under a folder are photos, in a stable order.

Every caller that turns "a folder" into "its photos" (gallery import, queue drops, training
target photos, the CLI's photo arguments) uses this, so they agree on suffixes and order.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from geomatch_app.data.images import IMAGE_SUFFIXES


def image_files(folder: str | Path) -> list[Path]:
    """Image files under ``folder`` (recursive), sorted by path."""
    return sorted(p for p in Path(folder).rglob("*")
                  if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())


def expand_paths(items: Iterable[str | Path]) -> list[str]:
    """Absolute paths of the photos named by ``items``: folders are walked (image files only),
    files are kept whatever their suffix (the loader says why one cannot be read);
    duplicates are dropped, order kept."""
    out: dict[str, None] = {}
    for item in map(Path, items):
        files = image_files(item) if item.is_dir() else [item]
        for f in files:
            out.setdefault(str(f.resolve()), None)
    return list(out)
