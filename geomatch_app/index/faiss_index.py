"""A faiss ``IndexFlatIP`` on disk, its photo metadata and the fingerprint of the model.

Layout of an index folder::

    index.faiss        inner-product index over L2-normalised descriptors
    photos.json        one record per vector: path, size, mtime_ns, lat, lon, heading, place_id
    fingerprint.json   model name, kwargs, weight hash, preprocessing, dim

Writes go to temporary files that replace the old ones, so a crash or a full disk never leaves
a half-written index behind.
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

log = logging.getLogger(__name__)

INDEX_FILE = "index.faiss"
PHOTOS_FILE = "photos.json"
FINGERPRINT_FILE = "fingerprint.json"
FORMAT_VERSION = 1


def _file_key(path: str) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_size, st.st_mtime_ns


class Index:
    """An opened index. The model is built lazily on first embed (start-up stays fast)."""

    def __init__(self, folder: Path, faiss_index, records: list[dict], fingerprint: dict,
                 device: str = "auto"):
        self.folder = Path(folder)
        self.faiss = faiss_index
        self.records = records
        self.fingerprint = fingerprint
        self.device = device
        self._model = None

    # -- opening ---------------------------------------------------------------------------
    @classmethod
    def open(cls, folder: str | Path, device: str = "auto",
             model_name: str | None = None) -> Index:
        import faiss

        folder = Path(folder)
        fp_file = folder / FINGERPRINT_FILE
        if not (folder / INDEX_FILE).is_file() or not fp_file.is_file():
            raise GeomatchError("is not a geomatch index (index.faiss or fingerprint.json missing)",
                                folder, "build one with `geomatch index SRC --index DIR`")
        try:
            fingerprint = json.loads(fp_file.read_text())
            records = json.loads((folder / PHOTOS_FILE).read_text())
            index = faiss.read_index(str(folder / INDEX_FILE))
        except (OSError, ValueError, RuntimeError) as exc:
            raise GeomatchError(
                f"index files are unreadable ({exc})", folder,
                "rebuild it with `geomatch index SRC --index DIR --rebuild`") from None
        if index.ntotal != len(records) or index.d != fingerprint.get("dim"):
            raise GeomatchError(
                f"index is inconsistent ({index.ntotal} vectors, {len(records)} records)", folder,
                "rebuild it with `geomatch index SRC --index DIR --rebuild`")
        if model_name and model_name != fingerprint.get("name"):
            raise IndexMismatchError(
                f"index was built with model {fingerprint.get('name')!r}, not {model_name!r}",
                folder, "query it with its own model, or build a new index for this model")
        return cls(folder, index, records, fingerprint, device)

    # -- properties ------------------------------------------------------------------------
    @property
    def model_name(self) -> str:
        return self.fingerprint.get("name", "")

    @property
    def photos(self) -> list[Photo]:
        return [Photo(r["path"], r.get("lat"), r.get("lon"), r.get("heading"),
                      r.get("place_id", ""), r.get("domain", ""), "gallery")
                for r in self.records]

    def __len__(self) -> int:
        return self.faiss.ntotal

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
                r = self.records[i]
                cands.append(Candidate(rank, float(s), r["path"], r.get("lat"), r.get("lon"),
                                       r.get("heading"), r.get("place_id", "")))
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
    if not rebuild and (index_dir / FINGERPRINT_FILE).exists():
        old = Index.open(index_dir, device=device, model_name=model_name)
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
    _write_index(index_dir, index, records, fingerprint)
    out = Index(index_dir, index, records, fingerprint, device)
    out._model = model
    return out


def _write_index(folder: Path, index, records: list[dict], fingerprint: dict) -> None:
    import faiss

    try:
        folder.mkdir(parents=True, exist_ok=True)
        tmp_index = folder / (INDEX_FILE + ".tmp")
        faiss.write_index(index, str(tmp_index))
        _write_json(folder / (PHOTOS_FILE + ".tmp"), records)
        _write_json(folder / (FINGERPRINT_FILE + ".tmp"), fingerprint)
        os.replace(tmp_index, folder / INDEX_FILE)
        os.replace(folder / (PHOTOS_FILE + ".tmp"), folder / PHOTOS_FILE)
        os.replace(folder / (FINGERPRINT_FILE + ".tmp"), folder / FINGERPRINT_FILE)
    except (OSError, RuntimeError) as exc:
        full = isinstance(exc, OSError) and exc.errno == errno.ENOSPC
        raise GeomatchError(
            "disk full while writing the index" if full else f"cannot write the index ({exc})",
            folder, "free some disk space and index again" if full
            else "check that the folder is writable") from None


def _write_json(path: Path, data) -> None:
    with path.open("w") as fh:
        json.dump(data, fh, indent=1)
        fh.flush()
        os.fsync(fh.fileno())

