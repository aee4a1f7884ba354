"""A project: the curation database that is open, and the index it ranks against.

The store owns the gallery: attaching an index registers its photos, its model and the index
itself in the database (once per version of the index), so suggestion runs reference image and
index ids and exports and training read place ids and locations from the store.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from geomatch_app.app import recent
from geomatch_app.core.progress import Progress
from geomatch_app.store import Store
from geomatch_app.store.gallery import GallerySync, sync_index

if TYPE_CHECKING:
    from geomatch_app.index import Index

log = logging.getLogger(__name__)


@dataclass
class Project:
    """What is open. ``index`` is None until one is attached; the ids are the store's rows for
    the index, its gallery and its model (carried into every suggestion run). ``store`` is None
    only for a one-off CLI query without ``--db`` (nothing is recorded then)."""

    store: Store | None
    index: Index | None = None
    index_id: int | None = None
    gallery_id: int | None = None
    model_id: int | None = None
    device: str = "auto"
    _verifier: object = field(default=None, repr=False)
    # what every ranking needs but changes only with the index or a refit (app.ranking)
    cache: dict = field(default_factory=dict, repr=False)

    def verifier(self):
        """The project's geometric verifier: its feature cache outlives one query, so gallery
        photos that come back in the next ranking are not described again — nor in a later
        process: features are also kept on disk in the user cache (models.verify.FeatureStore)."""
        if self._verifier is None:
            from geomatch_app.core.paths import user_cache_dir
            from geomatch_app.models.verify import FeatureStore, Verifier

            self._verifier = Verifier(store=FeatureStore(user_cache_dir() / "local-features"))
        return self._verifier

    @property
    def db_path(self) -> Path | None:
        return Path(self.store.path) if self.store is not None else None

    @property
    def index_dir(self) -> Path | None:
        return Path(self.index.folder) if self.index is not None else None

    @property
    def ref(self) -> recent.ProjectRef:
        return recent.ProjectRef(str(self.db_path.resolve()) if self.db_path else "",
                                 str(self.index_dir.resolve()) if self.index_dir else "")

    @property
    def title(self) -> str:
        """Short name for a title bar: ``demo-index · demo.sqlite``."""
        return self.ref.label

    def describe(self) -> str:
        """One line for a status bar: which index (size, model) and which database."""
        if self.index is None:
            where = "no index open"
        else:
            where = (f"index {self.index.folder} ({len(self.index)} photos, model "
                     f"{self.index.model_name})")
        return f"{where} · database {self.db_path or '(none)'}"

    def use_index(self, index: Index, sync: GallerySync | None) -> None:
        """Make ``index`` (registered as ``sync``) the project's index."""
        self.index = index
        self.index_id, self.gallery_id, self.model_id = (
            (sync.index_id, sync.gallery_id, sync.model_id) if sync else (None, None, None))

    def close(self) -> None:
        if self.store is not None:
            self.store.close()


def open_project(db_path: str | Path | None, index_dir: str | Path | None = None, *,
                 device: str = "auto", progress: Progress | None = None,
                 remember: bool = True) -> Project:
    """Open (or create) the database and, when given, the index; remember it as the last
    project. Raises StoreError / GeomatchError naming the file that cannot be opened."""
    project = Project(Store(db_path) if db_path else None, device=device)
    try:
        if index_dir:
            attach_index(project, open_index(index_dir, device), progress)
    except BaseException:
        project.close()
        raise
    if remember and project.store is not None:
        recent.remember(project.ref)
    return project


def open_index(index_dir: str | Path, device: str = "auto") -> Index:
    from geomatch_app.index import Index

    return Index.open(index_dir, device=device)


def load_index(store: Store | None, index_dir: str | Path, device: str = "auto",
               progress: Progress | None = None, warm: bool = True
               ) -> tuple[Index, GallerySync | None]:
    """Open an index, register it in ``store`` and (``warm``) load its model, so the first
    query does not pay for it — the window's "opening index" job."""
    progress = progress or Progress()
    progress.step(0, 3, "opening index")
    index = open_index(index_dir, device)
    progress.step(1, 3, "registering the gallery")
    sync = register_index(store, index) if store is not None else None
    if warm:
        progress.step(2, 3, f"loading model {index.model_name}")
        _ = index.model
    progress.step(3, 3, "ready")
    return index, sync


def attach_index(project: Project, index: Index, progress: Progress | None = None,
                 remember: bool = False) -> GallerySync | None:
    """Make ``index`` the project's index and register its gallery in the store — skipped
    when the store already holds this version of it (a restart costs one read)."""
    sync = register_index(project.store, index, progress) if project.store else None
    project.use_index(index, sync)
    if remember and project.store is not None:
        recent.remember(project.ref)
    return sync


def register_index(store: Store, index: Index, progress: Progress | None = None
                   ) -> GallerySync:
    """Register ``index`` (gallery, images, model, index row) unless this version is already
    there; returns the store's ids either way."""
    key = content_key(index)
    folder = Path(index.folder).resolve()
    row = store.find_index(folder)
    if row is not None and row.gallery_id is not None and row.model_id is not None:
        try:
            stored = json.loads(row.fingerprint or "{}").get("content_key")
        except ValueError:
            stored = None
        if stored == key:
            return GallerySync(row.gallery_id, row.id, row.model_id, row.n_images, 0, 0)
    photos = (r for batch in index.record_batches() for r in batch)
    sync = sync_index(store, folder, photos, index.fingerprint, content_key=key,
                      progress=progress)
    log.info("%s: registered %d gallery photos in %s (%d added or changed, %d removed)",
             folder, sync.n_images, store.path, sync.changed, sync.removed)
    return sync


def content_key(index: Index) -> str:
    """Changes whenever the index's vectors or photos change (a stored ranking made on another
    version of the index is not re-used)."""
    key = getattr(index, "content_key", None)
    if isinstance(key, str) and key:
        return key
    try:
        st = os.stat(Path(index.folder) / "index.faiss")
        stamp = f"{st.st_size}:{st.st_mtime_ns}"
    except OSError:
        stamp = "?"
    return f"{len(index)}:{index.fingerprint.get('weight_hash', '')}:{stamp}"
