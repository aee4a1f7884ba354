"""Index a gallery on a Ray cluster: ``geomatch index SRC --engine ray`` (``geomatch[scale]``).

Why Ray and not a home-made pool: a national archive outgrows one machine, and Ray already
schedules actors on CPU and GPU nodes, restarts failed ones and streams data between them.

The plan (see docs/scale.md):

1. The photo list (folder walk or manifest) is split into S contiguous shards.
2. Ray Data embeds the photos of unfinished shards: ``map_batches`` with the ``Embedder`` class,
   one model per actor (``num_gpus=1`` per actor on GPU nodes, one CPU otherwise); failed
   actors are restarted and their batches retried by Ray.
3. The driver writes each shard as soon as all its rows are back: ``shard-NNNNN.npy`` (float32
   descriptors) and ``shard-NNNNN.json`` (records, skipped files, the model fingerprint and a
   key over the shard's files) — renamed into place, so a shard on disk is always complete. A
   rerun after a crash embeds only the shards that are missing (resume).
4. The shards become an ordinary geomatch index generation (``write_index``). For IVF-PQ the
   coarse quantiser, OPQ and PQ are trained on a sample, each shard is added to its own copy
   of the trained index by a Ray task, and the per-shard inverted lists are merged with
   ``faiss.contrib.ondisk.merge_ondisk`` into ``index.ivfdata`` (memory-mapped when
   searching), so the index need never be in one process's RAM while it is built.

The result opens with ``Index.open`` like any other index: the app and ``geomatch query`` use it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np

from geomatch_app.core.errors import GeomatchError
from geomatch_app.core.progress import Progress
from geomatch_app.data.gallery import ImportReport
from geomatch_app.index import structures
from geomatch_app.index.faiss_index import Index, _file_key, gallery_photos, write_index
from geomatch_app.index.metadata import from_photo
from geomatch_app.index.structures import IndexOptions, Structure

log = logging.getLogger(__name__)

SHARDS_DIR = "ray-shards"
PHOTOS_PER_SHARD = 10_000
INSTALL_HINT = "install the scale-out extra: pip install 'geomatch[scale]'"


def _ray():
    try:
        import ray
        import ray.data  # noqa: F401
    except ImportError:
        raise GeomatchError("--engine ray needs Ray, which is not installed", None,
                            INSTALL_HINT) from None
    return ray


class Embedder:
    """A Ray Data actor: builds the model once, embeds batches of paths."""

    def __init__(self, model_name: str, kwargs: dict, weight_hash: str, device: str,
                 batch_size: int | None, setup: Callable[[], None] | None = None):
        import torch

        from geomatch_app.models import get_model

        if setup is not None:
            setup()
        if device == "cpu" or not torch.cuda.is_available():
            torch.set_num_threads(1)  # one CPU per actor: no oversubscription
        self.model = get_model(model_name, **kwargs).eval()
        if self.model.weight_hash() != weight_hash:
            raise RuntimeError(f"model {model_name} on this worker has other weights "
                               f"({self.model.weight_hash()} ≠ {weight_hash})")
        self.device = device
        self.batch_size = batch_size

    def __call__(self, batch: dict) -> dict:
        from geomatch_app.index.extract import embed_paths

        paths = [str(p) for p in batch["path"]]
        errors: list[tuple[str, str]] = []
        descs = embed_paths(self.model, paths, device=self.device, batch_size=self.batch_size,
                            workers=0, errors=errors)
        reason = dict(errors)
        return {"shard": batch["shard"], "pos": batch["pos"], "desc": descs,
                "error": np.array([reason.get(p, "") for p in paths])}


def _shard_key(fingerprint: dict, photos, keys) -> str:
    h = hashlib.sha256(json.dumps([fingerprint["name"], fingerprint.get("kwargs"),
                                   fingerprint["weight_hash"]], sort_keys=True).encode())
    for p, k in zip(photos, keys, strict=True):
        h.update(json.dumps([p.path, p.lat, p.lon, p.heading, p.place_id, p.domain,
                             k]).encode())
    return h.hexdigest()


def _shard_done(folder: Path, s: int, key: str) -> bool:
    meta = folder / f"shard-{s:05d}.json"
    try:
        info = json.loads(meta.read_text())
        vecs = np.load(folder / f"shard-{s:05d}.npy", mmap_mode="r")
    except (OSError, ValueError):
        return False
    return info.get("key") == key and vecs.shape[0] == len(info.get("records", []))


def _write_shard(folder: Path, s: int, key: str, fingerprint: dict, photos, keys,
                 descs: np.ndarray, errors: list[str]) -> None:
    ok = [j for j, e in enumerate(errors) if not e]
    records = [from_photo(photos[j], keys[j]) for j in ok]
    vec_tmp = folder / f"shard-{s:05d}.npy.tmp"
    with vec_tmp.open("wb") as fh:
        np.save(fh, np.ascontiguousarray(descs[ok], dtype=np.float32))
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(vec_tmp, folder / f"shard-{s:05d}.npy")
    meta_tmp = folder / f"shard-{s:05d}.json.tmp"
    with meta_tmp.open("w") as fh:
        json.dump({"key": key, "fingerprint": fingerprint, "records": records,
                   "skipped": [[photos[j].path, e] for j, e in enumerate(errors) if e]}, fh)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(meta_tmp, folder / f"shard-{s:05d}.json")  # the shard is complete from here


def build_index_ray(source, index_dir: str | Path, model_name: str = "effnetlite2-gem", *,
                    address: str | None = None, num_gpus: int = 0, shards: int | None = None,
                    num_cpus: int | None = None, device: str = "auto",
                    batch_size: int | None = None, options: IndexOptions | None = None,
                    progress: Progress | None = None, report: ImportReport | None = None,
                    worker_setup: Callable[[], None] | None = None,
                    stats: dict | None = None) -> Index:
    """Embed ``source`` on Ray and write the index; see the module docstring.

    Uses the running Ray instance if there is one (``ray.init`` done by the caller), else
    connects to ``address`` or starts a local one with ``num_cpus``. ``stats`` (if given)
    receives the shard counts (``shards``, ``resumed``, ``embedded`` photos)."""
    ray = _ray()
    from geomatch_app.models import get_model

    progress = progress or Progress()
    options = options or IndexOptions()
    index_dir = Path(index_dir)
    photos = gallery_photos(source, report)
    if options.pca:
        raise GeomatchError("--pca is not supported with --engine ray yet", None,
                            "index without --pca, or with the default engine")
    model = get_model(model_name).eval()
    fingerprint = model.fingerprint()
    n = len(photos)
    n_shards = max(1, min(n, shards or math.ceil(n / PHOTOS_PER_SHARD)))
    bounds = np.linspace(0, n, n_shards + 1).astype(int)
    keys = [_file_key(p.path) for p in photos]
    shard_dir = index_dir / SHARDS_DIR
    shard_dir.mkdir(parents=True, exist_ok=True)
    shard_keys = [_shard_key(fingerprint, photos[lo:hi], keys[lo:hi])
                  for lo, hi in zip(bounds[:-1], bounds[1:], strict=True)]
    todo = [s for s in range(n_shards) if not _shard_done(shard_dir, s, shard_keys[s])]
    rows = [{"shard": s, "pos": j, "path": photos[bounds[s] + j].path}
            for s in todo for j in range(bounds[s + 1] - bounds[s])]
    log.info("%s: %d photos in %d shards, %d to embed (%d shards done before)", index_dir, n,
             n_shards, len(rows), n_shards - len(todo))
    if stats is not None:
        stats.update(shards=n_shards, resumed=n_shards - len(todo), embedded=len(rows))

    started = False
    if not ray.is_initialized():
        kw = {"include_dashboard": False, "log_to_driver": False}
        if address:
            ray.init(address=address, **kw)
        else:
            root = str(Path(__file__).resolve().parents[2])
            ray.init(num_cpus=num_cpus, runtime_env={"env_vars": {"PYTHONPATH": root}}, **kw)
        started = True
    try:
        if rows:
            _embed_shards(ray, rows, todo, bounds, photos, keys, shard_keys, shard_dir,
                          fingerprint, num_gpus, device, batch_size, worker_setup, progress)
        vectors, records, skipped = _assemble(shard_dir, n_shards, fingerprint)
        if report is not None:
            report.skipped.extend(skipped)
        if not records:
            raise GeomatchError("none of the gallery photos could be read", index_dir,
                                "check the files listed as skipped")
        kind = structures.choose_type(len(records)) if options.type == "auto" else options.type
        build_fn = _sharded_ivfpq(ray, shard_dir) if kind == "ivfpq" else None
        write_index(index_dir, vectors, records, fingerprint,
                    IndexOptions(**{**vars(options), "type": kind}), progress, build_fn)
        del vectors
    finally:
        if started:
            ray.shutdown()
    shutil.rmtree(shard_dir, ignore_errors=True)  # the index is written: shards are done with
    out = Index.open(index_dir, device=device, verify="quick")
    out._model = model
    return out


def _embed_shards(ray, rows, todo, bounds, photos, keys, shard_keys, shard_dir, fingerprint,
                  num_gpus, device, batch_size, setup, progress) -> None:
    cpus = int(ray.cluster_resources().get("CPU", 1))
    actors = num_gpus if num_gpus else max(1, cpus)
    bs = batch_size or (32 if num_gpus else 8)
    ds = ray.data.from_items(rows, override_num_blocks=max(1, min(len(rows) // bs, 4 * actors)))
    out = ds.map_batches(
        Embedder, batch_format="numpy", batch_size=bs, concurrency=(1, actors),
        num_gpus=1 if num_gpus else 0, num_cpus=0 if num_gpus else 1,
        fn_constructor_kwargs={"model_name": fingerprint["name"],
                               "kwargs": fingerprint.get("kwargs") or {},
                               "weight_hash": fingerprint["weight_hash"],
                               "device": "cuda" if num_gpus else ("cpu" if device == "auto"
                                                                  else device),
                               "batch_size": bs, "setup": setup},
        max_restarts=3, max_task_retries=3)  # a failed actor is restarted, its batch retried
    dim = fingerprint["dim"]
    pending = {s: (np.full((bounds[s + 1] - bounds[s], dim), np.nan, np.float32),
                   [""] * int(bounds[s + 1] - bounds[s]), [0]) for s in todo}
    done = 0
    progress.step(0, len(rows), "embedding on Ray")
    for batch in out.iter_batches(batch_size=None, batch_format="numpy"):
        for s, j, d, e in zip(batch["shard"], batch["pos"], batch["desc"], batch["error"],
                              strict=True):
            descs, errors, count = pending[int(s)]
            descs[int(j)] = d
            errors[int(j)] = str(e)
            count[0] += 1
            if count[0] == len(errors):
                lo, hi = bounds[int(s)], bounds[int(s) + 1]
                _write_shard(shard_dir, int(s), shard_keys[int(s)], fingerprint,
                             photos[lo:hi], keys[lo:hi], descs, errors)
                del pending[int(s)]
        done += len(batch["shard"])
        progress.step(done, len(rows), f"{len(todo) - len(pending)}/{len(todo)} shards")
    if pending:
        raise GeomatchError(f"{len(pending)} shards came back incomplete from Ray", shard_dir,
                            "run the same command again: finished shards are kept")


def _assemble(shard_dir: Path, n_shards: int, fingerprint: dict):
    """All shards in order: a float32 memmap of the descriptors, the records, the skipped."""
    metas, total = [], 0
    for s in range(n_shards):
        meta = json.loads((shard_dir / f"shard-{s:05d}.json").read_text())
        if meta["fingerprint"]["weight_hash"] != fingerprint["weight_hash"]:
            raise GeomatchError(f"shard {s} was embedded with other model weights", shard_dir,
                                "delete the folder and index again")
        metas.append(meta)
        total += len(meta["records"])
    path = shard_dir / "all.npy"
    vectors = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32,
                                        shape=(total, fingerprint["dim"]))
    at = 0
    for s in range(n_shards):
        x = np.load(shard_dir / f"shard-{s:05d}.npy", mmap_mode="r")
        vectors[at:at + len(x)] = x
        at += len(x)
    vectors.flush()
    records = [r for m in metas for r in m["records"]]
    skipped = [tuple(x) for m in metas for x in m["skipped"]]
    return vectors, records, skipped


def _sharded_ivfpq(ray, shard_dir: Path):
    """A ``write_index`` build function: train on a sample, add shards in Ray tasks, merge the
    inverted lists on disk."""

    @ray.remote(num_cpus=1, max_retries=3)
    def add_shard(blob, store_path: str, lo: int, hi: int, out: str) -> int:
        import faiss

        index = faiss.deserialize_index(blob)
        x = np.ascontiguousarray(np.load(store_path, mmap_mode="r")[lo:hi], dtype=np.float32)
        index.add_with_ids(x, np.arange(lo, hi, dtype=np.int64))
        faiss.write_index(index, out)
        return hi - lo

    def build_fn(store, options: IndexOptions, progress: Progress | None,
                 folder: Path) -> Structure:
        import faiss
        from faiss.contrib.ondisk import merge_ondisk

        n, d = store.shape
        trained, params = structures.train_ivfpq(store, d, n, options)
        blob = faiss.serialize_index(trained)
        step = max(1, min(PHOTOS_PER_SHARD, math.ceil(n / 4)))
        parts = [(lo, min(n, lo + step)) for lo in range(0, n, step)]
        files = [str(shard_dir / f"ivf-{i:05d}.faiss") for i in range(len(parts))]
        refs = [add_shard.remote(blob, str(store.filename), lo, hi, f)
                for (lo, hi), f in zip(parts, files, strict=True)]
        added = 0
        while refs:
            ready, refs = ray.wait(refs)
            added += sum(ray.get(ready))
            if progress is not None:
                progress.step(added, n, "adding shards to the IVF-PQ index")
        merge_ondisk(trained, files, str(folder / "index.ivfdata"))
        params.update(type="ivfpq", pca=None, space_dim=d, has_index=True, ondisk=True)
        return Structure(params, store, trained, None)

    return build_fn
