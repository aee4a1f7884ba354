"""The embedded demo gallery (resources/demo) as the curator's first project: its index is built
in the user data folder on first use (and rebuilt when the shipped photos change), its decisions
go to ``demo.sqlite`` there."""

from __future__ import annotations

import csv
import os
from pathlib import Path

from geomatch_app.app.project import Project, open_project
from geomatch_app.core.paths import demo_manifest, user_data_dir
from geomatch_app.core.progress import Progress


def demo_index_dir() -> Path:
    return user_data_dir() / "demo-index"


def demo_db_path() -> Path:
    return user_data_dir() / "demo.sqlite"


def demo_rows(split: str) -> list[dict]:
    """Rows of the demo manifest with ``split`` (gallery / query), paths made absolute."""
    manifest = demo_manifest()
    with manifest.open(newline="", encoding="utf-8") as fh:
        rows = [r for r in csv.DictReader(fh) if r.get("split", "").strip() == split]
    for r in rows:
        r["path"] = str((manifest.parent / r["path"]).resolve())
    return rows


def demo_queries() -> list[str]:
    return [r["path"] for r in demo_rows("query")]


def demo_index_is_current(index_dir: Path | None = None) -> bool:
    """True when the demo index exists and holds exactly the demo gallery files, unchanged."""
    from geomatch_app.core.errors import GeomatchError
    from geomatch_app.index import Index

    try:
        index = Index.open(index_dir or demo_index_dir())
    except GeomatchError:
        return False
    want = {r["path"] for r in demo_rows("gallery")}
    have = {r["path"]: (r.get("size"), r.get("mtime_ns"))
            for batch in index.record_batches() for r in batch}
    if set(have) != want:
        return False
    for path, key in have.items():
        try:
            st = os.stat(path)
        except OSError:
            return False
        if key != (st.st_size, st.st_mtime_ns):
            return False
    return True


def ensure_demo_index(progress: Progress | None = None, workers: int | None = None) -> Path:
    """Build (or update) the demo index when missing or stale; returns its folder.

    The GUI passes ``workers=0`` (no decoding processes forked from a threaded Qt process)."""
    index_dir = demo_index_dir()
    if not demo_index_is_current(index_dir):
        if progress is not None:  # the model loads before the first photo: say so
            progress.step(0, 0, f"loading the model to index {len(demo_rows('gallery'))} "
                                "demo photos (first run only, a few seconds)")
        from geomatch_app.index import build_index

        build_index(demo_manifest(), index_dir, progress=progress, workers=workers)
    return index_dir


def open_demo(progress: Progress | None = None, workers: int | None = None,
              device: str = "auto") -> Project:
    """The demo project, its index built first when needed."""
    index_dir = ensure_demo_index(progress, workers)
    return open_project(demo_db_path(), index_dir, device=device, progress=progress)
