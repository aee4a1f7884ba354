"""Search structures over an index's descriptor store: flat, HNSW, IVF-PQ (+OPQ), optional
PCA-whitening.

Every index keeps its descriptors in ``vectors.npy`` (float32; float16 for IVF-PQ, whose
galleries are large), memory-mapped, so a million-photo index opens without reading them. The
search runs in a *search space*: the descriptors themselves, or — with ``pca`` — their
PCA-whitened projection re-normalised to unit length (Jégou & Chum, ECCV 2012: whitening
down-weights the co-occurring, bursty directions that dominate raw CNN descriptors). Scores are
cosine similarities in that space.

- ``flat``: exact inner products. Without PCA it reads the store directly (chunked BLAS
  matrix products), so no second copy of the vectors exists.
- ``hnsw``: faiss ``IndexHNSWFlat`` (Malkov & Yashunin, 2018), graph search with exact scores.
- ``ivfpq``: OPQ rotation (Ge et al., CVPR 2013) + inverted file + product quantisation (Jégou et
  al., TPAMI 2011, eq. 13 asymmetric distances). The ``rerank`` best PQ estimates are then
  re-scored exactly from the float16 store — PQ's approximate scores decide only the
  shortlist, never the final order.
- ``ivffs``: the shortlist is found in a PCA projection to 192 dimensions (``reduce``; no
  whitening: it keeps the geometry of the descriptors) by an inverted file with 4-bit
  *fast-scan* PQ codes of each vector's residual from its list centroid (André et al., VLDB
  2015 / faiss ``IndexIVFPQFastScan``, factory "x4fsr": the 16-entry lookup tables sit in SIMD
  registers, so a code costs a fraction of an 8-bit PQ code's table lookups), two dimensions
  per sub-quantiser, half the lists visited; then the 256-shortlist is re-scored
  exactly from the float16 store like ``ivfpq``. One query's lists are shared among the
  threads (faiss implem 14).
- ``hnswpca``: the shortlist is found by an HNSW graph over a 256-d PCA rotation
  (efConstruction 200, efSearch 1024; float32 vectors + graph ≈ 1.3 KB of RAM per photo), then
  re-scored exactly from the float16 store. At 1M (docs/performance.md): 0.975 top-1
  agreement at 8.4 ms (ef 1024), 0.99 at 12.1 ms (ef 1536) where flat took 135 ms; 30× the
  RAM of ``ivffs`` and a ~1 s open, so ``auto`` never picks it.

Automatic choice (``choose_type``), after autofaiss's thresholds and this repo's
``benchmarks/bench_search.py``: flat below 10 000 photos (exact and already ≤ 2 ms/query),
HNSW below 100 000, ``ivffs`` from 100 000 on. Measured at 100k and 1M (docs/performance.md,
``bench_search_ivffs_residual.json``; the 192-d, half-the-lists setting in
``bench_search_1m_192.json``, 1000 queries): at 1M ``ivffs`` agrees ≥ 0.99 with flat's top-1
at ~4.4 ms with two threads on a quick day where flat takes 184 ms, against IVF-PQ+OPQ's 0.99
at 30 ms (nprobe 384, an earlier run); it needs ~60 B of RAM per photo (IVF-PQ+OPQ 85). At 100k
(``bench_search_100k_192.json``, one thread) it agrees 0.993 at 1.12 ms against HNSW's 0.926
at 1.49 ms (5.4 KB per photo); IVF-PQ+OPQ agreed 0.96 at 4.2 ms in an earlier run. HNSW
needs the float32 vectors in RAM plus the graph: ~5.4 KB per 1280-d photo.
"""

from __future__ import annotations

import logging
import math
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from geomatch_app.core.errors import GeomatchError
from geomatch_app.core.progress import Progress

log = logging.getLogger(__name__)

TYPES = ("auto", "flat", "hnsw", "ivfpq", "ivffs", "hnswpca")
RERANKED = ("ivfpq", "ivffs", "hnswpca")  # shortlist re-scored exactly from the store
FLAT_MAX = 10_000
HNSW_MAX = 100_000
STORE_FILE = "vectors.npy"
INDEX_FILE = "index.faiss"
PCA_FILE = "pca.faiss"
REDUCE_FILE = "reduce.faiss"
REDUCE_DIM = 256  # hnswpca: the shortlist is found in this many PCA dimensions
IVFFS_REDUCE_DIM = 192  # ivffs: the same, fewer (docs/performance.md: 128 misses at 1M)
IVFFS_SPLIT_IMPLEM = 14  # faiss fast-scan search that splits one query's lists over threads
HNSWPCA_EF_CONSTRUCTION = 200  # hnswpca: 40 left the graph too sparse (0.975 at 200k, ef 512)
HNSWPCA_EF_SEARCH = 1024  # hnswpca: agreement 1.000 at 200k (0.995 at 512)
_CHUNK = 32_768
_TRAIN_MAX = 100_000
OPQ_ITERATIONS = 4


@dataclass
class IndexOptions:
    """How an index is searched. ``None`` fields are chosen from the gallery size."""

    type: str = "auto"
    pca: int | None = None  # output dimension of PCA-whitening, learned on the gallery
    opq: bool = True
    nlist: int | None = None
    pq_m: int | None = None
    nprobe: int | None = None
    rerank: int = 256
    reduce: int | None = None  # ivffs / hnswpca: PCA dimensions of the shortlist search
    hnsw_m: int = 32
    ef_search: int = 128
    ef_construction: int = 80

    def __post_init__(self) -> None:
        # checked here, when the options are made: a build finds out only after embedding
        if self.reduce is not None and (self.reduce < 4 or self.reduce % 4):
            raise GeomatchError(f"--reduce {self.reduce} must be a positive multiple of 4",
                                None, "use e.g. 128 or 256, or leave it out for the default")


def choose_type(n: int) -> str:
    """The documented rule: flat < 10k photos, HNSW < 100k, ivffs above."""
    if n < FLAT_MAX:
        return "flat"
    return "hnsw" if n < HNSW_MAX else "ivffs"


def choose_nprobe_fs(nlist: int) -> int:
    """ivffs visits half the lists. Measured at 1M photos with 1000 queries (benchmarks/
    bench_search.py, nlist 1024, residual codes, shortlist 256; docs/performance.md): top-1
    agreement with flat on the 192-d rotation 0.977 at nprobe 384, 0.984 at 448, 0.991 at 512
    and 576, 0.994 at 768; on the 128-d rotation only 0.963 / 0.970 / 0.977 at 384 / 512 /
    768. The gallery spreads over hundreds of directions, so a query's neighbour is often in a
    list far from its nearest centroid: fewer lists lose agreement faster than they save
    time."""
    return max(1, nlist // 2)


def choose_nlist(n: int) -> int:
    """≈ √n inverted lists, a power of two (1M → 1024): lists of ~1000 vectors keep both the
    coarse quantiser and the list scan small on a CPU."""
    return max(1, min(65_536, 2 ** round(math.log2(max(1.0, math.sqrt(n))))))


def choose_nprobe(nlist: int) -> int:
    """Lists visited per query: a quarter of them (at least 16). Measured with
    benchmarks/bench_search.py at 100k photos (nlist 256, OPQ, shortlist 256 re-ranked): top-1
    agreement with flat 0.76 at nprobe 16, 0.92 at 32, 0.97 at 64, 1.00 at 128."""
    return max(1, min(nlist, max(16, nlist // 4)))


def choose_pq_m(d: int) -> int:
    """Sub-quantisers: the largest divisor of d that is ≤ 64 and leaves ≥ 4 dims each."""
    for m in range(min(64, d), 0, -1):
        if d % m == 0 and d // m >= 4:
            return m
    return 1


def _normalise(x: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.maximum(norms, 1e-12)


def _sample(vectors, n: int, seed: int = 0) -> np.ndarray:
    total = len(vectors)
    if n >= total:
        return np.ascontiguousarray(vectors[:], dtype=np.float32)
    ids = np.sort(np.random.default_rng(seed).choice(total, size=n, replace=False))
    return np.ascontiguousarray(vectors[ids], dtype=np.float32)


def exact_search(store, q: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Top-k inner products of q (nq, d) against every row of ``store`` (memmap-friendly)."""
    nq = len(q)
    best_s = np.full((nq, 0), -np.inf, dtype=np.float32)
    best_i = np.zeros((nq, 0), dtype=np.int64)
    for start in range(0, len(store), _CHUNK):
        chunk = np.asarray(store[start:start + _CHUNK], dtype=np.float32)
        s = q @ chunk.T
        kk = min(k, s.shape[1])
        part = np.argpartition(-s, kk - 1, axis=1)[:, :kk]
        best_s = np.concatenate([best_s, np.take_along_axis(s, part, 1)], axis=1)
        best_i = np.concatenate([best_i, part + start], axis=1)
        if best_s.shape[1] > k:
            keep = np.argpartition(-best_s, k - 1, axis=1)[:, :k]
            best_s = np.take_along_axis(best_s, keep, 1)
            best_i = np.take_along_axis(best_i, keep, 1)
    order = np.argsort(-best_s, axis=1, kind="stable")
    return np.take_along_axis(best_s, order, 1), np.take_along_axis(best_i, order, 1)


class Structure:
    """A built or loaded search structure over a descriptor store."""

    def __init__(self, params: dict, store, index=None, pca=None, reduce=None):
        self.params = params
        self.store = store
        self.index = index
        self.pca = pca
        self.reduce = reduce  # ivffs: the PCA projection the shortlist is searched in
        self._fp16 = None  # the float16 store's decoder (_rows)
        self._fastscan = None  # ivffs: the fast-scan index whose search mode _split_lists sets
        self._configure()

    @property
    def type(self) -> str:
        return self.params["type"]

    def __len__(self) -> int:
        return len(self.store)

    def _configure(self) -> None:
        import faiss

        if self.index is None:
            return
        if self.type in ("hnsw", "hnswpca"):
            faiss.downcast_index(self.index).hnsw.efSearch = int(self.params["ef_search"])
        elif self.type in ("ivfpq", "ivffs"):
            faiss.extract_index_ivf(self.index).nprobe = int(self.params["nprobe"])
        if self.type == "ivffs":
            ivf = faiss.downcast_index(faiss.extract_index_ivf(self.index))
            self._fastscan = ivf if hasattr(ivf, "implem") else None

    def transform(self, x: np.ndarray) -> np.ndarray:
        x = np.ascontiguousarray(x, dtype=np.float32)
        if self.pca is None:
            return x
        return _normalise(self.pca.apply(x))

    def search(self, q: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(scores, ids) of the k best gallery vectors per query row; ids -1 where missing."""
        k = max(1, min(int(k), len(self.store)))
        qt = self.transform(q)
        if self.index is None:
            return exact_search(self.store, qt, k)
        if self.type not in RERANKED:
            return self.index.search(qt, k)
        short = max(k, int(self.params["rerank"]))
        qs = qt if self.reduce is None else self.reduce.apply(qt)
        if self.type == "ivffs":
            self._split_lists(len(qs))
        _, cand = self.index.search(qs, short)
        return self._rerank(qt, cand, k)

    def _split_lists(self, nq: int) -> None:
        """Fewer queries than threads (the app's one photo): faiss's fast-scan search that
        shares one query's lists among the threads; else one query per thread (the default)."""
        import faiss

        if self._fastscan is not None:
            self._fastscan.implem = (IVFFS_SPLIT_IMPLEM if nq < faiss.omp_get_max_threads()
                                     else 0)

    def _rows(self, row: np.ndarray) -> np.ndarray:
        """Store rows as float32. A float16 store is widened by faiss's SIMD fp16 decoder
        (bit-identical to numpy's astype, which took ~1 ms of a 1M query for 256 rows)."""
        store = self.store
        if isinstance(store, np.memmap):  # a plain view: memmap's per-slice Python hooks cost
            store = store.view(np.ndarray)  # ~0.3 ms of a 1M query (its base keeps the map)
        x = store[row]
        if x.dtype != np.float16:
            return np.asarray(x, dtype=np.float32)
        if self._fp16 is None:
            import faiss

            self._fp16 = faiss.ScalarQuantizer(x.shape[1], faiss.ScalarQuantizer.QT_fp16)
        return self._fp16.decode(np.ascontiguousarray(x).view(np.uint8))

    def _rerank(self, qt: np.ndarray, cand: np.ndarray, k: int):
        scores = np.full((len(qt), k), -np.inf, dtype=np.float32)
        ids = np.full((len(qt), k), -1, dtype=np.int64)
        for r, row in enumerate(cand):
            row = np.sort(row[row >= 0])  # the memmap is read in file order
            row = row[np.r_[True, row[1:] != row[:-1]]]  # unique (np.unique: 2× the time)
            if not len(row):
                continue
            s = self.transform(self._rows(row)) @ qt[r]
            top = np.argsort(-s, kind="stable")[:k]
            scores[r, :len(top)] = s[top]
            ids[r, :len(top)] = row[top]
        return scores, ids

    # -- on disk ---------------------------------------------------------------------------
    def save(self, folder: Path) -> list[Path]:
        import faiss

        written = []
        if self.index is not None:
            faiss.write_index(self.index, str(folder / INDEX_FILE))
            written.append(folder / INDEX_FILE)
        if self.pca is not None:
            faiss.write_VectorTransform(self.pca, str(folder / PCA_FILE))
            written.append(folder / PCA_FILE)
        if self.reduce is not None:
            faiss.write_VectorTransform(self.reduce, str(folder / REDUCE_FILE))
            written.append(folder / REDUCE_FILE)
        return written

    @classmethod
    def load(cls, folder: Path, params: dict, count: int, dim: int) -> Structure:
        import faiss

        store = np.load(folder / STORE_FILE, mmap_mode="r")
        if store.ndim != 2 or store.shape != (count, dim):
            raise ValueError(f"{STORE_FILE} has shape {store.shape}, expected ({count}, {dim})")
        # an index merged from shards keeps its inverted lists in index.ivfdata beside it
        flags = faiss.IO_FLAG_ONDISK_SAME_DIR if params.get("ondisk") else 0
        index = faiss.read_index(str(folder / INDEX_FILE), flags) if params.get("has_index") \
            else None
        pca = faiss.read_VectorTransform(str(folder / PCA_FILE)) if params.get("pca") else None
        reduce = faiss.read_VectorTransform(str(folder / REDUCE_FILE)) \
            if params.get("reduce") else None
        if index is not None and index.ntotal != count:
            raise ValueError(f"{INDEX_FILE} holds {index.ntotal} vectors, expected {count}")
        return cls(params, store, index, pca, reduce)


def store_dtype(kind: str):
    return np.float16 if kind in RERANKED else np.float32


def write_store(path: Path, vectors, kind: str, progress: Progress | None = None) -> np.ndarray:
    """Write the descriptor store (.npy, memory-mappable) in chunks; returns it memory-mapped."""
    out = np.lib.format.open_memmap(path, mode="w+", dtype=store_dtype(kind),
                                    shape=(len(vectors), vectors.shape[1]))
    for start in range(0, len(vectors), _CHUNK):
        if progress is not None:
            progress.step(start, len(vectors), "writing descriptors")
        out[start:start + _CHUNK] = vectors[start:start + _CHUNK]
    out.flush()
    del out
    return np.load(path, mmap_mode="r")


def build(store, options: IndexOptions | None = None,
          progress: Progress | None = None, folder: Path | None = None) -> Structure:
    """Train and fill the search structure for the descriptor ``store`` (N, D). (``folder``,
    the generation being written, is unused here; sharded builders write into it.)"""
    import faiss

    o = options or IndexOptions()
    n, d = store.shape
    kind = choose_type(n) if o.type == "auto" else o.type
    if kind not in TYPES[1:]:
        raise GeomatchError(f"unknown index type {kind!r}", None,
                            f"use one of {', '.join(TYPES)}")
    pca = None
    space = d
    if o.pca:
        if not 0 < o.pca < d or o.pca > n:
            raise GeomatchError(
                f"--pca {o.pca} must be below the descriptor dimension ({d}) and at most the "
                f"number of photos ({n})", None, "choose a smaller --pca or leave it out")
        pca = faiss.PCAMatrix(d, o.pca, -0.5, False)  # eigen_power −0.5: whitening
        pca.train(_sample(store, min(n, _TRAIN_MAX)))
        space = o.pca
    params: dict = {"type": kind, "pca": o.pca or None, "space_dim": space}

    reduce = None

    def space_chunks():
        for start in range(0, n, _CHUNK):
            if progress is not None:
                progress.step(start, n, f"adding to the {kind} index")
            x = np.ascontiguousarray(store[start:start + _CHUNK], dtype=np.float32)
            x = x if pca is None else _normalise(pca.apply(x))
            yield x if reduce is None else reduce.apply(x)

    if kind == "flat" and pca is None:
        params["has_index"] = False
        return Structure(params, store, None, None)
    if kind == "flat":
        index = faiss.IndexFlatIP(space)
    elif kind == "hnsw":
        index = faiss.IndexHNSWFlat(space, o.hnsw_m, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = o.ef_construction
        params.update(hnsw_m=o.hnsw_m, ef_search=o.ef_search)
    elif kind == "ivffs":
        index, reduce, extra = _ivffs(store, space, n, o, pca)
        params.update(extra)
    elif kind == "hnswpca":
        index, reduce, extra = _hnswpca(store, space, n, o, pca)
        params.update(extra)
    else:
        index, extra = _ivfpq(store, space, n, o, pca)
        params.update(extra)
    params["has_index"] = True
    for x in space_chunks():
        index.add(x)
    return Structure(params, store, index, pca, reduce)


def train_ivfpq(store, space: int, n: int, o: IndexOptions, pca=None):
    """An empty, trained IVF-PQ(+OPQ) index and its parameters (a sample of ``store``)."""
    return _ivfpq(store, space, n, o, pca)


def _ivfpq(store, space: int, n: int, o: IndexOptions, pca):
    import faiss

    nlist = o.nlist or choose_nlist(n)
    ntrain = min(n, max(64 * nlist, 10_000), _TRAIN_MAX)
    nlist = max(1, min(nlist, ntrain // 8))
    m = o.pq_m or choose_pq_m(space)
    if space % m:
        raise GeomatchError(f"--pq-m {m} must divide the search dimension {space}", None,
                            "leave it out to choose one automatically")
    nbits = 8 if ntrain >= 4 * 256 else max(1, int(math.log2(max(2, ntrain // 4))))
    opq = o.opq and ntrain >= 4 * 256
    key = (f"OPQ{m}," if opq else "") + f"IVF{nlist},PQ{m}x{nbits}"
    index = faiss.index_factory(space, key, faiss.METRIC_INNER_PRODUCT)
    # polysemous codes (faiss's factory default) serve Hamming pre-filtering, which we do not
    # use; training them took 15× the whole PQ training here
    faiss.downcast_index(faiss.extract_index_ivf(index)).do_polysemous_training = False
    if opq:  # 4 rotation updates instead of 50: each costs a d×d SVD (~20 s at 1280-d here)
        faiss.downcast_VectorTransform(index.chain.at(0)).niter = OPQ_ITERATIONS
    train = _sample(store, ntrain)
    if pca is not None:
        train = _normalise(pca.apply(train))
    log.info("training %s on %d vectors", key, len(train))
    index.train(train)
    nprobe = o.nprobe or choose_nprobe(nlist)
    return index, {"factory": key, "nlist": nlist, "pq_m": m, "nbits": nbits, "opq": opq,
                   "nprobe": nprobe, "rerank": int(o.rerank), "ntrain": len(train)}


def _rotation(train: np.ndarray, space: int, target: int):
    """The PCA rotation (no whitening) of ``space`` dimensions to ``target``, learned on
    ``train``, and the dimension searched; (None, space) when there is nothing to reduce."""
    import faiss

    if space <= target or len(train) <= target:
        return None, space
    reduce = faiss.PCAMatrix(space, target, 0.0, False)
    reduce.train(train)
    return reduce, target


def _ivffs(store, space: int, n: int, o: IndexOptions, pca):
    """An empty, trained ``ivffs`` index, its PCA projection (None when the search space is
    already ≤ REDUCE_DIM) and its parameters."""
    import faiss

    if n < 16:  # 4-bit codes: 16 centroids per sub-quantiser need 16 photos to learn
        raise GeomatchError(f"--index-type ivffs needs at least 16 photos ({n} given)", None,
                            "use --index-type auto, flat or hnsw for a gallery this small")
    nlist = o.nlist or choose_nlist(n)
    ntrain = min(n, max(64 * nlist, 10_000), _TRAIN_MAX)
    nlist = max(1, min(nlist, ntrain // 8))
    train = _sample(store, ntrain)
    if pca is not None:
        train = _normalise(pca.apply(train))
    reduce, dim = _rotation(train, space, o.reduce or IVFFS_REDUCE_DIM)
    if reduce is not None:
        train = reduce.apply(train)
    m = o.pq_m or max(2, dim // 2 - (dim // 2) % 2)
    if dim % m or m % 2:
        raise GeomatchError(f"--pq-m {m} must be even and divide the search dimension {dim}",
                            None, "leave it out to choose one automatically")
    # "fsr": the codes encode each vector's residual from its list's centroid. faiss's plain
    # "fs" codes encode the vector itself (coarser: at 1M, 0.87 of flat's top-10 against 0.98)
    key = f"IVF{nlist},PQ{m}x4fsr"
    index = faiss.index_factory(dim, key, faiss.METRIC_L2)  # unit vectors: L2 order = IP
    log.info("training %s on %d vectors", key, len(train))
    index.train(train)
    nprobe = o.nprobe or choose_nprobe_fs(nlist)
    return index, reduce, {"factory": key, "reduce": dim if reduce is not None else None,
                           "nlist": nlist, "pq_m": m, "nbits": 4, "opq": False,
                           "nprobe": nprobe, "rerank": int(o.rerank), "ntrain": len(train)}


def _hnswpca(store, space: int, n: int, o: IndexOptions, pca):
    """An empty ``hnswpca`` index: an HNSW graph (float32 vectors) over the same 256-d PCA
    rotation as ``ivffs``, its shortlist of ``rerank`` re-scored exactly from the store."""
    import faiss

    train = _sample(store, min(n, _TRAIN_MAX))
    if pca is not None:
        train = _normalise(pca.apply(train))
    reduce, dim = _rotation(train, space, o.reduce or REDUCE_DIM)
    index = faiss.IndexHNSWFlat(dim, o.hnsw_m)  # L2 in the rotation: the order of unit vectors
    index.hnsw.efConstruction = max(o.ef_construction, HNSWPCA_EF_CONSTRUCTION)
    ef = max(o.ef_search, HNSWPCA_EF_SEARCH, int(o.rerank))
    return index, reduce, {"reduce": dim if reduce is not None else None, "hnsw_m": o.hnsw_m,
                           "ef_construction": index.hnsw.efConstruction, "ef_search": ef,
                           "rerank": int(o.rerank), "opq": False}


def options_json(o: IndexOptions) -> dict:
    return asdict(o)
