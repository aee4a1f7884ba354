"""The one walk of image folders: which files under a folder are photos, in a stable order.

Every caller that turns "a folder" into "its photos" (gallery import, queue drops, training
target photos, the CLI's photo arguments) uses this, so they agree on suffixes and order.

Links to folders are not followed (a link back up the tree would loop forever, and a link out of
it would pull in photos nobody chose); broken links have nothing to read; a link to a photo
already found is the same photo. None of them is dropped silently: :func:`walk_images` lists
each with its reason, and the gallery import shows that list to the curator.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from geomatch_app.data.images import IMAGE_SUFFIXES

UNSUPPORTED_SUFFIXES = {".heic", ".heif"}


@dataclass
class FolderWalk:
    images: list[Path] = field(default_factory=list)  # sorted; real files before links to them
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (path, reason)


def walk_images(folder: str | Path) -> FolderWalk:
    """Image files under ``folder`` (recursive) and what was left out, with the reason."""
    folder = Path(folder)
    walk = FolderWalk()
    found: list[Path] = []

    def unreadable(exc: OSError) -> None:
        walk.skipped.append((str(exc.filename or folder), f"folder cannot be read "
                             f"({exc.strerror or exc}); check its permissions"))

    for root, dirs, names in os.walk(folder, onerror=unreadable):
        for name in sorted(dirs):
            if (Path(root) / name).is_symlink():  # os.walk does not descend into it
                walk.skipped.append((str(Path(root) / name), "link to a folder, not followed; "
                                     "add the folder it points to instead"))
        for name in names:
            p = Path(root) / name
            suffix = p.suffix.lower()
            if p.is_symlink() and not p.exists():
                walk.skipped.append((str(p), "broken link (its target does not exist)"))
            elif suffix in UNSUPPORTED_SUFFIXES:
                walk.skipped.append((str(p), "unsupported format (HEIF); convert to JPEG"))
            elif suffix in IMAGE_SUFFIXES:
                found.append(p)
    seen: dict[str, Path] = {}
    for p in sorted(found, key=lambda f: (f.is_symlink(), f)):  # real files before links
        real = str(p.resolve())
        if real in seen:
            walk.skipped.append((str(p), f"same file as {seen[real]}"))
            continue
        seen[real] = p
        walk.images.append(p)
    walk.images.sort()
    walk.skipped.sort()
    return walk


def image_files(folder: str | Path) -> list[Path]:
    """Image files under ``folder`` (recursive), sorted by path (see :func:`walk_images`)."""
    return walk_images(folder).images


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
