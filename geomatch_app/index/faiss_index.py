"""A faiss index on disk, its photo metadata and the fingerprint of the model that built it.

An index folder holds atomic *generations* (see ``generations``): each ``gen-NNNNNN/`` has

    index.faiss        inner-product index over L2-normalised descriptors
    photos.json        one record per vector: path, size, mtime_ns, lat, lon, heading, place_id
    manifest.json      the files' checksums, the model fingerprint (name, kwargs, weight hash,
                       preprocessing, dim) and the photo count

and ``CURRENT`` names the one in use. Indexes of the first format (the three files directly in
the folder) are migrated into a generation when opened; the old files are kept in
``backup-format1/``.
"""

from __future__ import annotations

import errno
import json
import logging
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from geomatch_app.core.errors import GeomatchError, ImageError, IndexMismatchError
from geomatch_app.core.progress import Progress
from geomatch_app.core.types import Candidate, Photo
from geomatch_app.data.gallery import ImportReport, load_photos
from geomatch_app.index import generations as gens
from geomatch_app.index.validate import REBUILD, DamagedIndexError, check_fingerprint, check_record

log = logging.getLogger(__name__)

INDEX_FILE = "index.faiss"
PHOTOS_FILE = "photos.json"
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
    return gens.is_index_folder(folder) or (folder / INDEX_FILE).is_file()


class Index:
    """An opened index. The model is built lazily on first embed (start-up stays fast)."""

    def __init__(self, folder: Path, faiss_index, records: list[dict], fingerprint: dict,
                 device: str = "auto", generation: int | None = None):
        self.folder = Path(folder)
        self.faiss = faiss_index
        self.records = records
        self.fingerprint = fingerprint
        self.device = device
        self.generation = generation
        self._model = None

    # -- opening ---------------------------------------------------------------------------
    @classmethod
    def open(cls, folder: str | Path, device: str = "auto", model_name: str | None = None,
             verify: str = "auto") -> Index:
        """Open the current generation of ``folder`` (checked against its manifest; the
        previous generation is used when it is damaged). ``verify``: auto, quick or full."""
        folder = Path(folder)
        if not gens.is_index_folder(folder):
            if not (folder / INDEX_FILE).is_file():
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
        fingerprint = check_fingerprint(gen.manifest.get("fingerprint"), gen.folder)
        records = _read_records(gen.file(PHOTOS_FILE), gen.folder)
        index = _read_faiss(gen.file(INDEX_FILE), gen.folder)
        _check_consistent(index, records, fingerprint, gen.folder)
        _check_model_name(fingerprint, folder, model_name)
        return cls(folder, index, records, fingerprint, device, gen.number)

    # -- properties ------------------------------------------------------------------------
    @property
    def model_name(self) -> str:
        return self.fingerprint.get("name", "")

    def photo(self, i: int) -> Photo:
        r = self.records[i]
        return Photo(r["path"], r.get("lat"), r.get("lon"), r.get("heading"),
                     r.get("place_id") or "", r.get("domain") or "", "gallery")

    @property
    def photos(self) -> list[Photo]:
        return [self.photo(i) for i in range(len(self.records))]

    def __len__(self) -> int:
        return self.faiss.ntotal

    def record_batches(self, batch_size: int = 10_000):
        """The stored records (dicts: path, size, mtime_ns, lat, lon, heading, place_id,
        domain) in index order, ``batch_size`` at a time."""
        for start in range(0, len(self.records), batch_size):
            yield self.records[start:start + batch_size]

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
        descs = np.ascontiguousarray(descs, dtype=np.float32)
        if descs.ndim == 1:
            descs = descs[None]
        if descs.shape[1] != self.faiss.d:
            raise IndexMismatchError(
                f"descriptor dimension {descs.shape[1]} does not match the index ({self.faiss.d})",
                self.folder, "query with the model that built the index")
        k = max(1, min(k, self.faiss.ntotal))
        scores, ids = self.faiss.search(descs, k)
        results = []
        for row_s, row_i in zip(scores, ids, strict=True):
            cands = []
            for rank, (s, i) in enumerate(zip(row_s, row_i, strict=True), start=1):
                if i < 0:
                    continue
                p = self.photo(int(i))
                cands.append(Candidate(rank, float(s), p.path, p.lat, p.lon, p.heading,
                                       p.place_id))
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

    def descriptors(self) -> np.ndarray:
        return self.faiss.reconstruct_n(0, self.faiss.ntotal)


def load_model_for(fingerprint: dict, where: Path | str = ""):
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
def build_index(source, index_dir: str | Path, model_name: str = "effnetlite2-gem",
                device: str = "auto", progress: Progress | None = None,
                batch_size: int | None = None,
                rebuild: bool = False, report: ImportReport | None = None,
                workers: int | None = None) -> Index:
    """Index ``source`` (folder, manifest or list of Photo) into ``index_dir``.

    Re-indexing embeds only new or changed files (size + mtime); vectors of unchanged files are
    reused. ``report`` (if given) receives the import report, with unreadable images added to
    ``skipped``.
    """
    import faiss

    from geomatch_app.index.extract import embed_paths
    from geomatch_app.models import get_model

    progress = progress or Progress()
    index_dir = Path(index_dir)
    if isinstance(source, (str, Path)):
        rep = load_photos(source, role="gallery")
    else:
        rep = ImportReport(photos=list(source))
    if report is not None:
        report.photos, report.no_location, report.skipped = rep.photos, rep.no_location, rep.skipped
    photos = rep.photos
    if not photos:
        raise GeomatchError("no gallery photos found", source if isinstance(source, (str, Path))
                            else None, "check the folder or the manifest's split column")

    old: Index | None = None
    if not rebuild and is_index(index_dir):
        # updating reads every vector of the old index: check all of it, not a sample
        old = Index.open(index_dir, device=device, model_name=model_name, verify="full")
    # old.model checks that the weights still match the index (IndexMismatchError otherwise)
    model = old.model if old is not None else get_model(model_name).eval()
    fingerprint = model.fingerprint()

    reuse: dict[str, tuple[tuple, int]] = {}
    if old is not None:
        for i, r in enumerate(old.records):
            reuse[r["path"]] = ((r.get("size"), r.get("mtime_ns")), i)
    keys = [_file_key(p.path) for p in photos]
    todo = [j for j, p in enumerate(photos)
            if p.path not in reuse or reuse[p.path][0] != keys[j]]
    log.info("%s: %d photos, %d to embed, %d reused", index_dir, len(photos), len(todo),
             len(photos) - len(todo))

    vectors = np.zeros((len(photos), model.dim), dtype=np.float32)
    if old is not None and len(todo) < len(photos):
        old_vecs = old.descriptors()
        todo_set = set(todo)
        for j, p in enumerate(photos):
            if j not in todo_set:
                vectors[j] = old_vecs[reuse[p.path][1]]
    errors: list[tuple[str, str]] = []
    if todo:
        vectors[todo] = embed_paths(model, [photos[j].path for j in todo], device=device,
                                    batch_size=batch_size, progress=progress, errors=errors,
                                    workers=workers)
    bad = {p for p, _ in errors}
    keep = [j for j, p in enumerate(photos) if p.path not in bad]
    if report is not None:
        report.skipped.extend(errors)
    records = []
    for j in keep:
        p = photos[j]
        size, mtime = keys[j] or (None, None)
        records.append({"path": p.path, "size": size, "mtime_ns": mtime, "lat": p.lat,
                        "lon": p.lon, "heading": p.heading, "place_id": p.place_id,
                        "domain": p.domain})
    index = faiss.IndexFlatIP(model.dim)
    if keep:
        index.add(np.ascontiguousarray(vectors[keep]))
    fingerprint["format"] = FORMAT_VERSION
    number = write_index(index_dir, index, records, fingerprint)
    out = Index(index_dir, index, records, fingerprint, device, number)
    out._model = model
    return out


def write_index(folder: str | Path, index, records: list[dict], fingerprint: dict) -> int:
    """Write a new generation of ``folder`` and switch to it; returns its number.

    Either the whole new index becomes current or (on any error, or a kill) the old one stays.
    """
    import faiss

    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with gens.writer_lock(folder):
            gens.remove_leftovers(folder)
            with gens.GenerationWriter(folder) as w:
                faiss.write_index(index, str(w.path(INDEX_FILE)))
                w.write_json(PHOTOS_FILE, records)
                gen = w.commit({"format": FORMAT_VERSION, "count": len(records),
                                "fingerprint": fingerprint})
    except (OSError, RuntimeError) as exc:
        full = isinstance(exc, OSError) and exc.errno == errno.ENOSPC
        raise GeomatchError(
            "disk full while writing the index" if full else f"cannot write the index ({exc})",
            folder, "free some disk space and index again" if full
            else "check that the folder is writable") from None
    return gen.number


# -- reading ----------------------------------------------------------------------------------
def _read_json(path: Path, where: Path, what: str):
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise DamagedIndexError(f"{what} is unreadable ({exc})", where, REBUILD) from None


def _read_records(path: Path, where: Path) -> list[dict]:
    records = _read_json(path, where, path.name)
    if not isinstance(records, list):
        raise DamagedIndexError(f"{path.name} is not a list of photo records", where, REBUILD)
    for i, r in enumerate(records):
        check_record(r, i, where)
    return records


def _read_faiss(path: Path, where: Path):
    import faiss

    try:
        return faiss.read_index(str(path))
    except (OSError, RuntimeError) as exc:
        raise DamagedIndexError(f"{path.name} is unreadable ({str(exc).splitlines()[0]})",
                                where, REBUILD) from None


def _check_consistent(index, records: list, fingerprint: dict, where: Path) -> None:
    if index.ntotal != len(records) or index.d != fingerprint["dim"]:
        raise DamagedIndexError(
            f"index is inconsistent ({index.ntotal} vectors of dim {index.d}, {len(records)} "
            f"records, model dim {fingerprint['dim']})", where, REBUILD)


def _check_model_name(fingerprint: dict, folder: Path, model_name: str | None) -> None:
    if model_name and model_name != fingerprint.get("name"):
        raise IndexMismatchError(
            f"index was built with model {fingerprint.get('name')!r}, not {model_name!r}",
            folder, "query it with its own model, or build a new index for this model")


def _open_legacy(folder: Path, device: str) -> Index:
    """An index of the first format: index.faiss, photos.json, fingerprint.json side by side."""
    fingerprint = check_fingerprint(
        _read_json(folder / LEGACY_FINGERPRINT, folder, LEGACY_FINGERPRINT), folder)
    records = _read_records(folder / PHOTOS_FILE, folder)
    index = _read_faiss(folder / INDEX_FILE, folder)
    _check_consistent(index, records, fingerprint, folder)
    return Index(folder, index, records, fingerprint, device)


def _migrate_legacy(old: Index) -> bool:
    """Rewrite a first-format index as a generation and move the old files to a backup folder.
    Returns False (and the index is used in place) when the folder is not writable."""
    folder = old.folder
    try:
        write_index(folder, old.faiss, old.records,
                    {**old.fingerprint, "format": FORMAT_VERSION})
    except GeomatchError as exc:
        log.warning("%s: old index format, used as is: migrating it failed (%s)", folder, exc)
        return False
    backup = folder / LEGACY_BACKUP
    try:
        backup.mkdir(exist_ok=True)
        for name in (INDEX_FILE, PHOTOS_FILE, LEGACY_FINGERPRINT):
            if (folder / name).exists():
                os.replace(folder / name, backup / name)
    except OSError as exc:  # the new generation is in use; the old files just stay beside it
        log.warning("%s: migrated, but could not move the old files to %s (%s)", folder,
                    backup, exc)
        return True
    log.info("%s: migrated to format %d; the old files are in %s", folder, FORMAT_VERSION,
             backup)
    return True
