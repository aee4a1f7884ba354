"""An index on disk: search structure, descriptor store, photo table, model fingerprint.

An index folder holds atomic *generations* (see ``generations``); ``CURRENT`` names the one in
use, and each ``gen-NNNNNN/`` has

    vectors.npy        the descriptors (N, D), float32 (float16 for IVF-PQ), memory-mapped
    index.faiss        the search structure when it is not the store itself (HNSW, IVF-PQ, PCA)
    pca.faiss          the PCA-whitening learned on the gallery, when asked for
    photos.sqlite      one row per vector: path, size, mtime_ns, lat, lon, heading, place_id
    manifest.json      the files' checksums, the model fingerprint (name, kwargs, weight hash,
                       preprocessing, dim), the photo count and the structure's parameters

Indexes of the first format (index.faiss, photos.json, fingerprint.json directly in the
folder) are migrated into a generation when opened; the old files go to ``backup-format1/``.
"""

from __future__ import annotations

import errno
import hashlib
import itertools
import json
import logging
import os
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from geomatch_app.core.errors import GeomatchError, ImageError, IndexMismatchError
from geomatch_app.core.progress import Progress
from geomatch_app.core.types import Candidate, Photo
from geomatch_app.data.gallery import ImportReport, load_photos
from geomatch_app.index import generations as gens
from geomatch_app.index import structures
from geomatch_app.index.metadata import ListTable, PhotoTable, from_photo, to_photo, write_table
from geomatch_app.index.structures import IndexOptions, Structure
from geomatch_app.index.validate import REBUILD, DamagedIndexError, check_fingerprint, check_record
from geomatch_app.models import DEFAULT_MODEL

if TYPE_CHECKING:
    from geomatch_app.models.place import PlaceModel

log = logging.getLogger(__name__)

TABLE_FILE = "photos.sqlite"
LEGACY_INDEX = "index.faiss"
LEGACY_PHOTOS = "photos.json"
LEGACY_FINGERPRINT = "fingerprint.json"
LEGACY_BACKUP = "backup-format1"
FORMAT_VERSION = 2


def _file_key(path: str) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_size, st.st_mtime_ns


def is_index(folder: str | Path) -> bool:
    """Whether ``folder`` looks like a geomatch index (either format); cheap, opens nothing."""
    folder = Path(folder)
    return gens.is_index_folder(folder) or (folder / LEGACY_INDEX).is_file()


class Index:
    """An opened index. Opening reads no vectors and no photo rows (both are read on demand);
    the model is built lazily on first embed, so start-up stays fast."""

    def __init__(self, folder: Path, structure: Structure, table, fingerprint: dict,
                 device: str = "auto", generation: int | None = None, content_key: str = ""):
        self.folder = Path(folder)
        self.structure = structure
        self.table = table
        self.fingerprint = fingerprint
        self.device = device
        self.generation = generation
        self.content_key = content_key  # changes whenever vectors or photo rows change
        self._model = None

    # -- opening ---------------------------------------------------------------------------
    @classmethod
    def open(cls, folder: str | Path, device: str = "auto", model_name: str | None = None,
             verify: str = "auto") -> Index:
        """Open the current generation of ``folder``, checked against its manifest (the
        previous generation is used when it is damaged). ``verify``: auto, quick or full."""
        folder = Path(folder)
        if not gens.is_index_folder(folder):
            if not (folder / LEGACY_INDEX).is_file():
                raise GeomatchError("is not a geomatch index (no CURRENT generation)", folder,
                                    "build one with `geomatch index SRC --index DIR`")
            opened = _open_legacy(folder, device)
            if not _migrate_legacy(opened):
                _check_model_name(opened.fingerprint, folder, model_name)
                return opened
        with gens.writer_lock(folder, blocking=False) as no_writer:
            if no_writer:  # nobody is writing: leftovers of a killed writer can go
                gens.remove_leftovers(folder)
        gen = gens.open_current(folder, verify)
        m = gen.manifest
        fingerprint = check_fingerprint(m.get("fingerprint"), gen.folder)
        count, params = m.get("count"), m.get("structure")
        if not isinstance(count, int) or count < 0 or not isinstance(params, dict):
            raise DamagedIndexError("manifest.json has no valid count or structure", gen.folder,
                                    REBUILD)
        try:
            structure = Structure.load(gen.folder, params, count, fingerprint["dim"])
            table = PhotoTable(gen.file(TABLE_FILE), count)
        except (OSError, ValueError, RuntimeError) as exc:
            raise DamagedIndexError(f"index files are unreadable ({str(exc).splitlines()[0]})",
                                    gen.folder, REBUILD) from None
        _check_model_name(fingerprint, folder, model_name)
        key = hashlib.sha256(json.dumps(m.get("files"), sort_keys=True).encode()).hexdigest()
        return cls(folder, structure, table, fingerprint, device, gen.number, key[:16])

    # -- properties ------------------------------------------------------------------------
    @property
    def model_name(self) -> str:
        return self.fingerprint.get("name", "")

    @property
    def index_type(self) -> str:
        return self.structure.type

    def __len__(self) -> int:
        return len(self.table)

    def photo(self, i: int) -> Photo:
        return to_photo(self.table.row(i))

    def photos_at(self, ids: Sequence[int]) -> list[Photo]:
        """The photos of rows ``ids``, in that order (one query of the table)."""
        return [to_photo(r) for r in self.table.rows(ids)]

    @property
    def photos(self) -> list[Photo]:
        """Every photo as a list (reads the whole table: fine for small galleries; large ones
        use ``record_batches``)."""
        return [to_photo(r) for batch in self.table.batches() for r in batch]

    def column(self, name: str) -> list:
        """One stored field (a ``COLUMNS`` name) of every photo, in index order, without
        building the records (a million place ids in ~0.3 s)."""
        return self.table.column(name)

    def labelled_ids(self) -> list[int]:
        """The rows with a place id or a position, in index order."""
        return self.table.labelled_ids()

    def record_batches(self, batch_size: int = 10_000) -> Iterator[list[dict]]:
        """The stored records (dicts: path, size, mtime_ns, lat, lon, heading, place_id,
        domain) in index order, ``batch_size`` at a time."""
        return self.table.batches(batch_size)

    @property
    def model(self):
        if self._model is None:
            self._model = load_model_for(self.fingerprint, self.folder)
        return self._model

    # -- search ----------------------------------------------------------------------------
    def embed_paths(self, paths: Sequence[str], progress: Progress | None = None,
                    errors: list[tuple[str, str]] | None = None) -> np.ndarray:
        from geomatch_app.index.extract import embed_paths

        return embed_paths(self.model, paths, device=self.device, progress=progress,
                           errors=errors, workers=0 if len(paths) < 32 else None)

    def search(self, descs: np.ndarray, k: int = 20) -> list[list[Candidate]]:
        """The k best gallery photos per descriptor row (cosine in the index's space)."""
        descs = np.ascontiguousarray(descs, dtype=np.float32)
        if descs.ndim == 1:
            descs = descs[None]
        dim = self.fingerprint["dim"]
        if descs.ndim != 2 or descs.shape[1] != dim:
            raise IndexMismatchError(
                f"descriptor dimension {descs.shape[-1]} does not match the index ({dim})",
                self.folder, "query with the model that built the index")
        if len(self) == 0 or len(descs) == 0:
            return [[] for _ in descs]
        scores, ids = self.structure.search(descs, k)
        return self.candidates(ids, scores)

    def candidates(self, ids: np.ndarray, scores: np.ndarray) -> list[list[Candidate]]:
        """Ranked candidates of rows of gallery ``ids`` (< 0: none) with their ``scores``,
        one list per row of the (n, k) arrays."""
        ids, scores = np.atleast_2d(ids), np.atleast_2d(scores)
        rows = self.table.rows([int(i) for i in ids.ravel() if i >= 0])
        it = iter(rows)
        results = []
        for row_s, row_i in zip(scores, ids, strict=True):
            cands = []
            for s, i in zip(row_s, row_i, strict=True):
                if i < 0:
                    continue
                p = to_photo(next(it))
                cands.append(Candidate(len(cands) + 1, float(s), p.path, p.lat, p.lon,
                                       p.heading, p.place_id))
            results.append(cands)
        return results

    def search_paths(self, paths: Sequence[str], k: int = 20,
                     progress: Progress | None = None) -> list[list[Candidate]]:
        """Rank the gallery for each query image. Raises ImageError for an unreadable query."""
        errors: list[tuple[str, str]] = []
        descs = self.embed_paths(paths, progress=progress, errors=errors)
        if errors:
            path, reason = errors[0]  # reason already names the file and what to do
            err = ImageError(reason if len(errors) == 1
                             else f"{len(errors)} query images could not be read; first: {reason}")
            err.path = path
            raise err
        return self.search(descs, k)

    def descriptors(self, ids: Sequence[int] | None = None) -> np.ndarray:
        """The model's descriptors (float32), all or the rows ``ids``, from the store."""
        store = self.structure.store
        if ids is None:
            return np.asarray(store, dtype=np.float32)
        ids = np.asarray(ids, dtype=np.int64)
        order = np.argsort(ids, kind="stable")  # read the memmap in file order
        out = np.empty((len(ids), store.shape[1]), dtype=np.float32)
        out[order] = store[ids[order]]
        return out


def load_model_for(fingerprint: dict, where: Path | str = "") -> PlaceModel:
    """Build the model an index or checkpoint was made with and check its weights match."""
    from geomatch_app.models import get_model

    kwargs = dict(fingerprint.get("kwargs") or {})
    try:
        model = get_model(fingerprint["name"], **kwargs)
    except KeyError as exc:
        raise IndexMismatchError(f"the model of this index is not available ({exc})", where,
                                 "install or select that model, or rebuild the index") from None
    if model.weight_hash() != fingerprint.get("weight_hash"):
        raise IndexMismatchError(
            f"the weights of model {fingerprint['name']!r} differ from the ones that built this "
            "index", where, "rebuild the index with `geomatch index SRC --index DIR --rebuild`")
    return model.eval()


# -- building -------------------------------------------------------------------------------
def gallery_photos(source, report: ImportReport | None = None) -> list[Photo]:
    """The gallery photos of a folder, manifest or photo list (what both index writers take);
    ``report`` receives what the import found. Raises GeomatchError when there are none."""
    if isinstance(source, (str, Path)):
        rep = load_photos(source, role="gallery")
    else:
        rep = ImportReport(photos=list(source))
    if report is not None:
        report.photos, report.no_location, report.skipped = rep.photos, rep.no_location, rep.skipped
    if not rep.photos:
        raise GeomatchError("no gallery photos found", source if isinstance(source, (str, Path))
                            else None, "check the folder or the manifest's split column")
    return rep.photos


def build_index(source: str | Path | Sequence[Photo], index_dir: str | Path,
                model_name: str = DEFAULT_MODEL,
                device: str = "auto", progress: Progress | None = None,
                batch_size: int | None = None,
                rebuild: bool = False, report: ImportReport | None = None,
                workers: int | None = None, options: IndexOptions | None = None) -> Index:
    """Index ``source`` (folder, manifest or list of Photo) into ``index_dir``.

    Re-indexing embeds only new or changed files (size + mtime); vectors of unchanged files are
    reused. ``report`` (if given) receives the import report, with unreadable images added to
    ``skipped``. ``options`` choose the search structure (default: from the gallery size).
    """
    from geomatch_app.index.extract import embed_paths
    from geomatch_app.models import get_model

    progress = progress or Progress()
    index_dir = Path(index_dir)
    photos = gallery_photos(source, report)

    old: Index | None = None
    if not rebuild and is_index(index_dir):
        # updating reads every vector of the old index: check all of it, not a sample
        old = Index.open(index_dir, device=device, model_name=model_name, verify="full")
    # old.model checks that the weights still match the index (IndexMismatchError otherwise)
    model = old.model if old is not None else get_model(model_name).eval()
    fingerprint = model.fingerprint()

    reuse: dict[str, tuple[tuple, int]] = {}
    if old is not None:
        i = 0
        for batch in old.record_batches():
            for r in batch:
                reuse[r["path"]] = ((r.get("size"), r.get("mtime_ns")), i)
                i += 1
    keys = [_file_key(p.path) for p in photos]
    todo = [j for j, p in enumerate(photos)
            if p.path not in reuse or reuse[p.path][0] != keys[j]]
    log.info("%s: %d photos, %d to embed, %d reused", index_dir, len(photos), len(todo),
             len(photos) - len(todo))

    vectors = np.zeros((len(photos), model.dim), dtype=np.float32)
    if old is not None and len(todo) < len(photos):
        todo_set = set(todo)
        same = [j for j in range(len(photos)) if j not in todo_set]
        vectors[same] = old.descriptors([reuse[photos[j].path][1] for j in same])
    errors: list[tuple[str, str]] = []
    if todo:
        vectors[todo] = embed_paths(model, [photos[j].path for j in todo], device=device,
                                    batch_size=batch_size, progress=progress, errors=errors,
                                    workers=workers)
    bad = {p for p, _ in errors}
    keep = [j for j, p in enumerate(photos) if p.path not in bad]
    if report is not None:
        report.skipped.extend(errors)
    records = [from_photo(photos[j], keys[j]) for j in keep]
    if not keep:
        raise GeomatchError("none of the gallery photos could be read", index_dir,
                            "check the files listed as skipped")
    write_index(index_dir, vectors[keep], records, fingerprint, options, progress)
    out = Index.open(index_dir, device=device, verify="quick")
    out._model = model
    return out


def write_index(folder: str | Path, vectors, records: Iterable[dict], fingerprint: dict,
                options: IndexOptions | None = None, progress: Progress | None = None,
                build_fn=None) -> int:
    """Write descriptors (N, D) and their N records as a new generation of ``folder`` and switch
    to it; returns its number. Either the whole new index becomes current or (on any error, or a
    kill) the old one stays. ``vectors`` may be a memory map: it is read in chunks.
    ``build_fn(store, options, progress, folder)`` replaces ``structures.build`` (the Ray engine
    merges per-shard IVF lists into ``folder`` with it)."""
    folder = Path(folder)
    fingerprint = {**check_fingerprint(fingerprint, folder), "format": FORMAT_VERSION}
    if vectors.ndim != 2 or vectors.shape[1] != fingerprint["dim"]:
        raise GeomatchError(f"descriptors of shape {vectors.shape} do not match the model's "
                            f"dim {fingerprint['dim']}", folder, "index with one model")
    options = options or IndexOptions()
    kind = structures.choose_type(len(vectors)) if options.type == "auto" else options.type
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with gens.writer_lock(folder):
            gens.remove_leftovers(folder)
            with gens.GenerationWriter(folder) as w:
                store = structures.write_store(w.path(structures.STORE_FILE), vectors, kind,
                                               progress)
                built = (build_fn or structures.build)(
                    store, IndexOptions(**{**vars(options), "type": kind}), progress, w.tmp)
                built.save(w.tmp)
                it = iter(records)
                n = write_table(w.path(TABLE_FILE),
                                iter(lambda: list(itertools.islice(it, 10_000)), []))
                if n != len(vectors):
                    raise GeomatchError(f"{n} photo records for {len(vectors)} descriptors",
                                        folder, "pass one record per descriptor")
                params = built.params
                del store, built  # close the memory maps before the folder is renamed
                gen = w.commit({"format": FORMAT_VERSION, "count": n,
                                "fingerprint": fingerprint, "structure": params})
    except (OSError, RuntimeError) as exc:
        full = isinstance(exc, OSError) and exc.errno == errno.ENOSPC
        raise GeomatchError(
            "disk full while writing the index" if full else f"cannot write the index ({exc})",
            folder, "free some disk space and index again" if full
            else "check that the folder is writable") from None
    log.info("%s: wrote %s (%d photos, %s)", folder, gens.gen_name(gen.number), n, kind)
    return gen.number


# -- the first format -------------------------------------------------------------------------
def _read_json(path: Path, where: Path, what: str):
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise DamagedIndexError(f"{what} is unreadable ({exc})", where, REBUILD) from None


def _check_model_name(fingerprint: dict, folder: Path, model_name: str | None) -> None:
    if model_name and model_name != fingerprint.get("name"):
        raise IndexMismatchError(
            f"index was built with model {fingerprint.get('name')!r}, not {model_name!r}",
            folder, "query it with its own model, or build a new index for this model")


def _open_legacy(folder: Path, device: str) -> Index:
    """An index of the first format: index.faiss (flat), photos.json, fingerprint.json."""
    import faiss

    fingerprint = check_fingerprint(
        _read_json(folder / LEGACY_FINGERPRINT, folder, LEGACY_FINGERPRINT), folder)
    records = _read_json(folder / LEGACY_PHOTOS, folder, LEGACY_PHOTOS)
    if not isinstance(records, list):
        raise DamagedIndexError(f"{LEGACY_PHOTOS} is not a list of photo records", folder,
                                REBUILD)
    for i, r in enumerate(records):
        check_record(r, i, folder)
    try:
        index = faiss.read_index(str(folder / LEGACY_INDEX))
    except (OSError, RuntimeError) as exc:
        raise DamagedIndexError(f"{LEGACY_INDEX} is unreadable ({str(exc).splitlines()[0]})",
                                folder, REBUILD) from None
    if index.ntotal != len(records) or index.d != fingerprint["dim"]:
        raise DamagedIndexError(
            f"index is inconsistent ({index.ntotal} vectors of dim {index.d}, {len(records)} "
            f"records, model dim {fingerprint['dim']})", folder, REBUILD)
    store = index.reconstruct_n(0, index.ntotal) if index.ntotal else \
        np.zeros((0, index.d), dtype=np.float32)
    structure = Structure({"type": "flat", "pca": None, "has_index": False}, store)
    key = hashlib.sha256(repr([_file_key(str(folder / f)) for f in (
        LEGACY_INDEX, LEGACY_PHOTOS, LEGACY_FINGERPRINT)]).encode()).hexdigest()[:16]
    return Index(folder, structure, ListTable(records), fingerprint, device, None, key)


def _migrate_legacy(old: Index) -> bool:
    """Rewrite a first-format index as a generation and move the old files to a backup folder.
    Returns False (and the index is used in place) when that cannot be written."""
    folder = old.folder
    try:
        write_index(folder, old.structure.store, old.table.records, old.fingerprint)
    except GeomatchError as exc:
        log.warning("%s: old index format, used as is: migrating it failed (%s)", folder, exc)
        return False
    backup = folder / LEGACY_BACKUP
    try:
        backup.mkdir(exist_ok=True)
        for name in (LEGACY_INDEX, LEGACY_PHOTOS, LEGACY_FINGERPRINT):
            if (folder / name).exists():
                os.replace(folder / name, backup / name)
    except OSError as exc:  # the new generation is in use; the old files just stay beside it
        log.warning("%s: migrated, but could not move the old files to %s (%s)", folder,
                    backup, exc)
        return True
    log.info("%s: migrated to format %d; the old files are in %s", folder, FORMAT_VERSION,
             backup)
    return True
