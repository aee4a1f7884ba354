"""Search speed and agreement: flat vs HNSW vs IVF-PQ (+OPQ, exact re-ranking) at 100k and 1M.

The gallery is synthetic but drawn to match real descriptors: real shared-data photos are embedded
once with the default model (cached in benchmarks/results/cache/, not in git), a PCA of them
gives the mean, the principal directions and their variances, and photos are drawn from that
Gaussian plus isotropic noise, then L2-normalised. The noise carries the *tail* of the
spectrum (``--tail``, default 0.10 of the variance): ~320 real photos span only ~320 directions,
so on their own they would give a gallery with no variance outside a 320-d subspace, where
PCA-reduced search is nearly exact; the largest real set (Nordland, 7152 frames of the default
model) keeps 10.2 % of its variance beyond its first 320 directions (12.4 % beyond 256,
20.1 % beyond 128), and the generator gives that share to noise spread over all dimensions.
Photos come in places of four (a place centre plus a within-place offset scaled so that
same-place cosines match the real same-place cosines of the labelled sets), and each query is
a new view of a random place — the retrieval case, where the true neighbour is a close one
(never a copy of a gallery vector).

Places come in areas (``--gallery clustered``, the default; see :class:`Generator`): the share
of a place's variance that lies within its area is calibrated so that areas the size of the
real sets reproduce the real median cosine to the nearest photo of *another* place (0.718 over
the sets; the calibration gives w ≈ 0.91, i.e. real galleries are only mildly more clustered
than independent places once the long corridor sequence does not dominate the statistic).
``--gallery isotropic`` is the first version (w = 1).

Ground truth is the flat (exact) top-10 over the same stored vectors. Per index type: build
time, ms/query (one query at a time, median), memory per photo (RAM of the search structure
and disk of the descriptor store), Recall@1 (= top-1 agreement with flat) and Recall@10 (share
of flat's top-10 found). At the largest size the automatic type (or ``--api-type``) is
written through the real ``write_index`` (generation, SQLite photo table, float16 store) and
opened in a fresh process: open time, resident memory, and ms/query through ``Index.search``
(photo rows included).

Usage: python benchmarks/bench_search.py [--sizes 100000 1000000] [--queries 200]
       python benchmarks/bench_search.py --small      # 20k and 50k: minutes on a laptop
       python benchmarks/bench_search.py --sizes 1000000   # 1M, the automatic type (ivffs), ~5 min
       python benchmarks/bench_search.py --sizes 1000000 --compare   # + IVF-PQ+OPQ, ~20 min
Writes benchmarks/results/bench_search.json; the table goes to docs/performance.md.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
CACHE = RESULTS / "cache"
REAL_SETS = ["vprtutorial_triplets", "fordham_places", "opensfm_berlin_lund",
             "corridor_vprbench", "arezzo_exif_gps"]
CHUNK = 50_000
FLAT_MEASURED = 200_000
TAIL = 0.10  # share of the variance outside the real photos' ~320 directions (Nordland: 0.102)
log = logging.getLogger("bench_search")


# -- real descriptors -------------------------------------------------------------------------
def real_descriptors(model_name: str, max_photos: int) -> tuple[np.ndarray, list[str]]:
    """Descriptors of shared-data photos (and their place ids), embedded once and cached."""
    cache = CACHE / f"real_{model_name}_{max_photos}.npz"
    if cache.is_file():
        z = np.load(cache)
        return z["x"].astype(np.float32), list(z["place"])
    from geomatch_app.core.paths import shared_data_dir
    from geomatch_app.data.gallery import read_manifest
    from geomatch_app.index.extract import embed_paths
    from geomatch_app.models import get_model

    data = shared_data_dir()
    if data is None:
        sys.exit("bench_search needs ../shared/data for the real descriptor distribution")
    photos = []
    for name in REAL_SETS:
        for role in ("gallery", "query"):
            try:
                photos += read_manifest(data / name / "manifest.csv", role=role).photos
            except Exception as exc:  # a set that is missing here is fine
                log.warning("%s: %s", name, exc)
    photos = list({p.path: p for p in photos}.values())[:max_photos]
    log.info("embedding %d real photos with %s (cached afterwards)", len(photos), model_name)
    model = get_model(model_name).eval()
    x = embed_paths(model, [p.path for p in photos], device="cpu", workers=0)
    ok = ~np.isnan(x).any(axis=1)
    x, place = x[ok], [p.place_id for p, good in zip(photos, ok, strict=True) if good]
    CACHE.mkdir(parents=True, exist_ok=True)
    np.savez(cache, x=x.astype(np.float16), place=np.array(place))
    return x, place


class Generator:
    """Draws descriptors from a PCA model of real ones (see the module docstring).

    ``clustered`` (the default): places come in *areas* (a street, a site, a collection), as
    the real sets do. A place centre is an area centre plus a within-area offset, both drawn
    from the same PCA Gaussian, with shares (1 − w) and w of its variance, so the overall
    distribution (mean, spectrum, mean cosine) is unchanged; w is calibrated so that areas the
    size of the real sets reproduce the real sets' median cosine between a photo and its
    nearest photo of *another* place (measured 0.718; the isotropic gallery, w = 1, gives
    0.68–0.73 at those sizes, so the calibration lands at w ≈ 0.91: only mildly clustered).
    ``isotropic``: every place centre drawn independently (the first version; no structure
    beyond the PCA spectrum, pessimistic for inverted files)."""

    def __init__(self, real: np.ndarray, place: list[str], seed: int = 0,
                 kind: str = "clustered", area_places: int = 64, tail: float = TAIL):
        self.mean = real.mean(0)
        u, s, vt = np.linalg.svd(real - self.mean, full_matrices=False)
        var = s ** 2 / len(real)
        keep = var > var.max() * 1e-6
        self.components = vt[keep].astype(np.float32)
        total = ((real - self.mean) ** 2).sum(1).mean()
        # the share ``tail`` of the variance moves from the principal directions to isotropic
        # noise (module docstring); the total variance, hence the mean cosine, is unchanged
        rest = max(total - var[keep].sum(), 0.0)
        tail_var = max(tail * total, rest, 1e-8)
        self.std = np.sqrt(var[keep] * (total - tail_var) / var[keep].sum()).astype(np.float32)
        self.noise = float(np.sqrt(tail_var / real.shape[1]))
        self.tail = float(tail_var / total)
        self.dim = real.shape[1]
        self.rng = np.random.default_rng(seed)
        self.target = _same_place_cosine(real, place)
        self.alpha = self._calibrate()
        self.kind = kind
        self.area_places = area_places
        self.real_nn_other = _nn_other_place(real, place)
        self.within = self._calibrate_areas(place) if kind == "clustered" else 1.0

    def _gauss(self, n: int, rng) -> np.ndarray:
        z = rng.standard_normal((n, len(self.std)), dtype=np.float32) * self.std
        return z @ self.components + self.noise * rng.standard_normal((n, self.dim),
                                                                     dtype=np.float32)

    def views(self, centres: np.ndarray, rng, alpha: float | None = None) -> np.ndarray:
        a = self.alpha if alpha is None else alpha
        x = self.mean + centres + a * self._gauss(len(centres), rng)
        return x / np.linalg.norm(x, axis=1, keepdims=True)

    def _calibrate(self) -> float:
        """Within-place offset scale whose mean same-place cosine matches the real one."""
        rng = np.random.default_rng(1)
        c = self._gauss(2000, rng)
        best = (1e9, 0.5)
        for a in np.linspace(0.1, 1.5, 29):
            cos = np.mean(np.sum(self.views(c, rng, a) * self.views(c, rng, a), axis=1))
            best = min(best, (abs(cos - self.target), float(a)))
        return best[1]

    def place_centres(self, n_places: int, rng, within: float | None = None,
                      area_places: int | None = None) -> np.ndarray:
        w = self.within if within is None else within
        per = area_places or self.area_places
        c = np.sqrt(w) * self._gauss(n_places, rng)
        if w < 1:
            areas = np.sqrt(1 - w) * self._gauss((n_places + per - 1) // per, rng)
            c += areas[np.arange(n_places) // per]
        return c

    def _calibrate_areas(self, place: list[str]) -> float:
        """w whose synthetic areas, sized like the real sets, give the real median
        nearest-other-place cosine (median over sets)."""
        sets: dict[str, dict[str, int]] = {}
        for p in place:
            if p:
                sets.setdefault(p.rsplit("_", 1)[0], {}).setdefault(p, 0)
                sets[p.rsplit("_", 1)[0]][p] += 1
        sizes = [list(v.values()) for v in sets.values() if sum(v.values()) >= 5]

        def stat(w: float) -> float:
            rng = np.random.default_rng(4)
            meds = []
            for counts in sizes:
                for _ in range(3):
                    c = self.place_centres(len(counts), rng, w, area_places=len(counts))
                    ids = np.repeat(np.arange(len(counts)), counts)
                    meds.append(_nn_other_place(self.views(c[ids], rng), [f"a_{i}" for i in ids]))
            return float(np.median(meds))

        lo, hi = 0.01, 1.0
        if stat(hi) >= self.real_nn_other:
            return 1.0
        for _ in range(12):  # the statistic falls as w grows
            mid = (lo + hi) / 2
            lo, hi = (mid, hi) if stat(mid) > self.real_nn_other else (lo, mid)
        return (lo + hi) / 2

    def gallery(self, path: Path, n: int, per_place: int = 4) -> tuple[np.memmap, np.ndarray]:
        """n photos in places of ``per_place`` into a float16 memmap; returns it + the centres
        (kept small: n / per_place × dim float16)."""
        out = np.lib.format.open_memmap(path, mode="w+", dtype=np.float16, shape=(n, self.dim))
        n_places = (n + per_place - 1) // per_place
        centres = np.empty((n_places, self.dim), dtype=np.float16)
        rng = np.random.default_rng(2)
        step = CHUNK - CHUNK % self.area_places  # whole areas per chunk
        for start in range(0, n_places, step):
            centres[start:start + step] = self.place_centres(min(step, n_places - start), rng)
        for start in range(0, n, CHUNK):
            ids = np.arange(start, min(n, start + CHUNK)) // per_place
            out[start:start + len(ids)] = self.views(centres[ids].astype(np.float32), rng)
        out.flush()
        return out, centres

    def queries(self, centres: np.ndarray, q: int) -> np.ndarray:
        rng = np.random.default_rng(3)
        pick = rng.integers(0, len(centres), q)
        return self.views(centres[pick].astype(np.float32), rng).astype(np.float32)


def _nn_other_place(x: np.ndarray, place: list) -> float:
    """Median over the photos of each real set (a set ≈ one area) of the cosine to the nearest
    photo of another place in the same set; the median over sets."""
    place = np.asarray([str(p) for p in place])
    groups = np.asarray([p.rsplit("_", 1)[0] for p in place])
    meds = []
    for g in np.unique(groups):
        m = groups == g
        if m.sum() < 5:
            continue
        xs, ps = x[m], place[m]
        s = xs @ xs.T
        s[ps[:, None] == ps[None, :]] = -np.inf
        best = s.max(1)
        best = best[np.isfinite(best)]
        if len(best):
            meds.append(float(np.median(best)))
    return float(np.median(meds)) if meds else 0.0


def _same_place_cosine(x: np.ndarray, place: list[str]) -> float:
    groups: dict[str, list[int]] = {}
    for i, p in enumerate(place):
        if p:
            groups.setdefault(p, []).append(i)
    sims = [float(x[a] @ x[b]) for ids in groups.values() for j, a in enumerate(ids)
            for b in ids[j + 1:]]
    return float(np.mean(sims)) if sims else 0.8


# -- measuring --------------------------------------------------------------------------------
def rss_mb() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def latency_ms(search, queries: np.ndarray, k: int = 10) -> float:
    search(queries[:1], k)  # warm-up
    times = []
    for q in queries:
        t0 = time.perf_counter()
        search(q[None], k)
        times.append(time.perf_counter() - t0)
    return 1000 * float(np.median(times))


def agreement(ids: np.ndarray, truth: np.ndarray) -> tuple[float, float]:
    r1 = float(np.mean(ids[:, 0] == truth[:, 0]))
    r10 = float(np.mean([len(set(a[:10]) & set(b[:10])) / 10 for a, b in zip(ids, truth,
                                                                              strict=True)]))
    return r1, r10


def faiss_bytes(index) -> int:
    import faiss

    return int(faiss.serialize_index(index).size) if index is not None else 0


OPEN_CHILD = r"""
import json, sys, time, numpy as np
t0 = time.perf_counter()
import faiss
from geomatch_app.index import Index
t_import = time.perf_counter() - t0  # a once-per-process cost, reported apart
def rss(key="VmRSS:"):
    for line in open("/proc/self/status"):
        if line.startswith(key):
            return int(line.split()[1]) / 1024
before = rss()
t0 = time.perf_counter()
idx = Index.open(sys.argv[1])
t_open = time.perf_counter() - t0
after_open = rss()
q = np.load(sys.argv[2])
idx.search(q[:1], 10)
times, top1 = [], []
for row in q:
    t = time.perf_counter(); cands = idx.search(row[None], 10)[0]
    times.append(time.perf_counter() - t)
    top1.append(int(cands[0].path.rsplit("_", 1)[1].split(".")[0]) if cands else -1)
print(json.dumps({"open_s": t_open, "rss_before_open_mb": before, "rss_after_open_mb": after_open,
                  "rss_after_queries_mb": rss(), "anon_after_queries_mb": rss("RssAnon:"),
                  "file_mapped_after_queries_mb": rss("RssFile:"),
                  "ms_per_query": 1000 * float(np.median(times)),
                  "photos": len(idx), "type": idx.index_type, "import_s": t_import,
                  "threads": faiss.omp_get_max_threads(), "top1": top1}))
"""


def run_size(n: int, gen: Generator, args, work: Path) -> dict:
    from geomatch_app.index import IndexOptions, choose_type
    from geomatch_app.index.structures import Structure, build, exact_search

    log.info("n=%d: drawing the gallery", n)
    store, centres = gen.gallery(work / f"gallery_{n}.npy", n)
    queries = gen.queries(centres, args.queries)
    t0 = time.perf_counter()
    _, truth = exact_search(store, queries, 10)
    rows: dict[str, dict] = {}
    # a flat index stores float32 (read straight from the page cache); above 200k photos the
    # latency is measured on the first 200k and scaled linearly (the scan is linear in n)
    sub = np.asarray(store[:FLAT_MEASURED], dtype=np.float32)
    flat = Structure({"type": "flat", "pca": None, "has_index": False}, sub)
    ms_flat = latency_ms(flat.search, queries[:50]) * n / len(sub)
    del flat, sub
    rows["flat"] = {"build_s": 0.0, "ms_per_query": ms_flat, "extrapolated": n > FLAT_MEASURED,
                    "ram_bytes_per_photo": 0.0, "disk_bytes_per_photo": 4 * gen.dim,
                    "recall@1": 1.0, "recall@10": 1.0,
                    "ground_truth_s": time.perf_counter() - t0,
                    "note": "exact: the ground truth (computed over the same stored values)"}
    log.info("flat: %.1f ms/query", rows["flat"]["ms_per_query"])
    big = n == max(args.sizes)
    kinds = []
    if n <= args.hnsw_max:
        kinds.append(("hnsw", IndexOptions(type="hnsw")))
    api_type = choose_type(n) if args.api_type == "auto" else args.api_type
    if not big or (args.compare and api_type != "ivfpq"):
        kinds.append(("ivfpq+opq", IndexOptions(type="ivfpq", opq=True, nprobe=args.nprobe)))
    if not (args.no_plain_ivfpq or big):
        kinds.append(("ivfpq", IndexOptions(type="ivfpq", opq=False, nprobe=args.nprobe)))
    if not big or (args.compare and api_type != "ivffs"):
        kinds.append(("ivffs", IndexOptions(type="ivffs", nprobe=args.nprobe)))
    for dim in args.also_reduce:
        kinds.append((f"ivffs reduce {dim}", IndexOptions(type="ivffs", reduce=dim,
                                                          nprobe=args.nprobe)))
    if args.pca:
        kinds.append((f"ivfpq+opq+pca{args.pca}", IndexOptions(type="ivfpq", pca=args.pca,
                                                                nprobe=args.nprobe)))
    for name, opts in kinds:
        log.info("n=%d: building %s", n, name)
        t0 = time.perf_counter()
        st = build(store if opts.type in ("ivfpq", "ivffs")
                   else np.asarray(store, dtype=np.float32), opts)
        rows[name] = measure(st, time.perf_counter() - t0, queries, truth, gen.dim)
        log.info("%s: %s", name, rows[name])
        del st
    result = {"n": n, "dim": gen.dim, "queries": len(queries), "types": rows}
    if big:
        api, st, build_s = index_api(n, store, queries, truth, args, work)
        name = f"{st.type} ({'automatic' if args.api_type == 'auto' else 'chosen'})"
        rows[name] = measure(st, build_s, queries, truth, gen.dim)
        rows[name]["note"] = "built by write_index (store + photo table included)"
        log.info("%s: %s", name, rows[name])
        result["index_api"] = api
        del st
        shutil.rmtree(work / "index")
    del store
    (work / f"gallery_{n}.npy").unlink()
    return result


def measure(st, build_s: float, queries, truth, dim: int) -> dict:
    n = len(st)
    _, ids = st.search(queries, 10)
    r1, r10 = agreement(ids, truth)
    store_bytes = (2 if st.type in ("ivfpq", "ivffs", "hnswpca") else 4) * dim
    row = {"build_s": build_s, "ms_per_query": latency_ms(st.search, queries),
           "ram_bytes_per_photo": faiss_bytes(st.index) / n,
           "disk_bytes_per_photo": store_bytes + faiss_bytes(st.index) / n,
           "recall@1": r1, "recall@10": r10,
           "params": {k: v for k, v in st.params.items() if k != "has_index"}}
    if st.type in ("ivfpq", "ivffs"):
        row["nprobe_sweep"] = nprobe_sweep(st, queries, truth)
    if st.type == "hnswpca":
        row["ef_sweep"] = ef_sweep(st, queries, truth)
    return row


def ef_sweep(st, queries, truth) -> list[dict]:
    """hnswpca: agreement and speed for other efSearch values (the graph's search width)."""
    import faiss

    hnsw = faiss.downcast_index(st.index).hnsw
    default = hnsw.efSearch
    out = []
    for ef in (256, 512, 768, 1024, 1536):
        hnsw.efSearch = ef
        _, ids = st.search(queries, 10)
        r1, r10 = agreement(ids, truth)
        out.append({"ef_search": ef, "recall@1": r1, "recall@10": r10,
                    "ms_per_query": latency_ms(st.search, queries)})
    hnsw.efSearch = default
    return out


def nprobe_sweep(st, queries, truth) -> list[dict]:
    """Agreement and speed for other nprobe values (the default is chosen from these)."""
    import faiss

    ivf = faiss.extract_index_ivf(st.index)
    default = st.params["nprobe"]
    out = []
    steps = (16, 32, 64, 128, 256) if st.type == "ivfpq" else ()
    steps += tuple(int(ivf.nlist * f) for f in (0.125, 0.25, 0.375, 0.5, 0.75))
    for p in sorted(set(steps)):
        if p > ivf.nlist or p < 1:
            continue
        ivf.nprobe = p
        _, ids = st.search(queries, 10)
        r1, r10 = agreement(ids, truth)
        out.append({"nprobe": p, "recall@1": r1, "recall@10": r10,
                    "ms_per_query": latency_ms(st.search, queries[:50])})
    ivf.nprobe = default
    return out


def index_api(n, store, queries, truth, args, work: Path):
    """The real write path, then a cold open in a fresh process (open time, resident memory,
    ms/query through Index.search with the photo rows, on every core as in the app, and the
    top-1 agreement of those answers with flat)."""
    from geomatch_app.index import Index, IndexOptions, write_index

    folder = work / "index"
    records = ({"path": f"/archive/photo_{i:07d}.jpg", "size": 1000 + i, "mtime_ns": i,
                "lat": 40 + (i % 1000) / 1000, "lon": -74 + (i // 1000) / 1000,
                "heading": None, "place_id": f"place_{i // 4}", "domain": ""}
               for i in range(n))
    from geomatch_app.models import get_model

    fp = get_model(args.model).fingerprint()  # the model the gallery was drawn from: the
    if fp["dim"] != store.shape[1]:  # CLI can query the index with a real photo (cli_queries)
        raise SystemExit(f"{args.model} gives {fp['dim']}-d descriptors, not {store.shape[1]}")
    log.info("n=%d: write_index (%s)", n, args.api_type)
    import faiss

    faiss.omp_set_num_threads(os.cpu_count() or 1)  # build on every core, query on --threads
    t0 = time.perf_counter()
    write_index(folder, store, records, fp, IndexOptions(type=args.api_type, nprobe=args.nprobe))
    write_s = time.perf_counter() - t0
    faiss.omp_set_num_threads(args.threads)
    np.save(work / "queries.npy", queries)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-c", OPEN_CHILD, str(folder),
                          str(work / "queries.npy")],
                         env=env, capture_output=True, text=True, check=True).stdout
    res = json.loads(out.strip().splitlines()[-1])
    res["recall@1"] = float(np.mean(np.asarray(res.pop("top1")) == truth[:, 0]))
    res["write_s"] = write_s
    res["disk_mb"] = sum(f.stat().st_size for f in folder.rglob("*") if f.is_file()) / 2**20
    res["cli"] = cli_queries(folder)
    log.info("index API: %s", res)
    return res, Index.open(folder).structure, write_s


# peak memory from VmHWM: getrusage's ru_maxrss of a child also counts the parent's pages
# it was forked with (Linux keeps the high-water mark across exec)
CLI_CHILD = r"""
import atexit, sys, time
t0 = time.perf_counter()
def report():
    hwm = [ln for ln in open("/proc/self/status") if ln.startswith("VmHWM:")][0].split()[1]
    print("BENCH", time.perf_counter() - t0, hwm, file=sys.stderr)
atexit.register(report)
from geomatch_app.cli import main
sys.exit(main())
"""


def cli_queries(folder: Path, runs: int = 2) -> dict:
    """The curator's path at this size: the gallery statistics a build measures
    (app.indexing.warm_statistics), then `geomatch query --no-verify` of the demo photo in
    ``runs`` fresh processes (wall time and peak memory of each whole process, imports and
    model loading included; the photo rows are synthetic, so the ranking itself is noise)."""
    from geomatch_app.app.indexing import warm_statistics
    from geomatch_app.core.paths import demo_manifest
    from geomatch_app.data.gallery import load_photos
    from geomatch_app.index import Index

    t0 = time.perf_counter()
    warm_statistics(Index.open(folder))
    out = {"warm_statistics_s": time.perf_counter() - t0, "runs": []}
    photo = load_photos(demo_manifest(), role="query").photos[0].path
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    for _ in range(runs):
        done = subprocess.run([sys.executable, "-c", CLI_CHILD, "query", photo, "--index",
                               str(folder), "--no-verify", "--json"],
                              env=env, capture_output=True, text=True, check=True)
        line = [ln for ln in done.stderr.splitlines() if ln.startswith("BENCH ")][-1].split()
        out["runs"].append({"process_s": float(line[1]), "peak_rss_mb": int(line[2]) / 1024})
    return out


def markdown(results: list[dict], meta: dict) -> str:
    lines = ["| photos | type | build s | ms/query | RAM B/photo | disk B/photo | R@1 vs flat | "
             "R@10 vs flat |", "|---|---|---|---|---|---|---|---|"]
    for r in results:
        for name, t in r["types"].items():
            lines.append(f"| {r['n']:,} | {name} | {t['build_s']:.0f} | {t['ms_per_query']:.2f} "
                         f"| {t['ram_bytes_per_photo']:.0f} | {t['disk_bytes_per_photo']:.0f} | "
                         f"{t['recall@1']:.3f} | {t['recall@10']:.3f} |")
    big = results[-1].get("index_api")
    if big:
        lines += ["", f"Through the index API at {big['photos']:,} photos ({big['type']}): "
                  f"written in {big['write_s']:.0f} s ({big['disk_mb']:.0f} MB on disk); a fresh "
                  f"process opens it in {1000 * big['open_s']:.0f} ms, resident memory "
                  f"{big['rss_before_open_mb']:.0f} → {big['rss_after_open_mb']:.0f} MB after "
                  f"open, {big['rss_after_queries_mb']:.0f} MB after {meta['queries']} queries; "
                  f"{big['ms_per_query']:.2f} ms/query including the photo rows "
                  f"({big.get('threads', '?')} threads), top-1 agreement with flat "
                  f"{big.get('recall@1', float('nan')):.3f}."]
        cli = big.get("cli")
        if cli:
            lines[-1] += (f" A build's gallery statistics took {cli['warm_statistics_s']:.1f} s; "
                          "`geomatch query --no-verify` of the demo photo then took " +
                          ", ".join(f"{r['process_s']:.2f} s ({r['peak_rss_mb']:.0f} MB peak)"
                                    for r in cli["runs"]) +
                          " per process, imports and model included.")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    ap.add_argument("--small", action="store_true", help="20k and 50k photos (minutes)")
    ap.add_argument("--queries", type=int, default=1000,
                    help="queries (agreement is a share of them: ±0.3 %% at 0.99 with 1000)")
    ap.add_argument("--model", default="effnetlite2-gem")
    ap.add_argument("--real", type=int, default=400, help="real photos to embed (cached)")
    ap.add_argument("--nprobe", type=int, default=None)
    ap.add_argument("--pca", type=int, default=None, help="also IVF-PQ on PCA-whitened DIM")
    ap.add_argument("--hnsw-max", type=int, default=200_000,
                    help="skip HNSW above this size (float32 vectors + graph in RAM)")
    ap.add_argument("--no-plain-ivfpq", action="store_true", help="skip IVF-PQ without OPQ")
    ap.add_argument("--api-type", default="auto",
                    choices=("auto", "ivfpq", "ivffs", "hnsw", "hnswpca"),
                    help="type built through write_index at the largest size (auto: the "
                         "automatic rule; ivffs builds in ~1-2 min at 1M, ivfpq in ~15)")
    ap.add_argument("--compare", action="store_true",
                    help="at the largest size also build the other large-gallery type "
                         "(ivfpq+opq or ivffs) for a same-run comparison")
    ap.add_argument("--also-reduce", type=int, nargs="*", default=[], metavar="DIM",
                    help="also build ivffs with its shortlist in DIM PCA dimensions")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--opq-iterations", type=int, default=None,
                    help="OPQ rotation updates (default: the index's own setting)")
    ap.add_argument("--gallery", choices=("clustered", "isotropic"), default="clustered",
                    help="places in areas calibrated on the real sets (default), or every "
                         "place drawn independently (the first, pessimistic version)")
    ap.add_argument("--area-places", type=int, default=64, help="places per area (clustered)")
    ap.add_argument("--tail", type=float, default=TAIL,
                    help="share of the variance given to isotropic noise (the spectrum's tail "
                         "beyond the real photos' directions; 0 = the earlier galleries)")
    ap.add_argument("--workdir", default=None, help="scratch folder (default: a temp dir)")
    ap.add_argument("--out", default=str(RESULTS / "bench_search.json"))
    args = ap.parse_args()
    if args.small:
        args.sizes = [20_000, 50_000]
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    import faiss

    faiss.omp_set_num_threads(args.threads)
    if args.opq_iterations:
        from geomatch_app.index import structures

        structures.OPQ_ITERATIONS = args.opq_iterations
    real, place = real_descriptors(args.model, args.real)
    gen = Generator(real, place, kind=args.gallery, area_places=args.area_places,
                    tail=args.tail)
    log.info("%d real descriptors, %d PCA components, same-place cosine %.3f, alpha %.2f, "
             "%s gallery: nearest other place %.3f (real), within-area share w %.3f",
             len(real), len(gen.std), gen.target, gen.alpha, args.gallery, gen.real_nn_other,
             gen.within)
    work = Path(args.workdir or tempfile.mkdtemp(prefix="geomatch-bench-search-"))
    work.mkdir(parents=True, exist_ok=True)
    results = []
    try:
        for n in sorted(args.sizes):
            results.append(run_size(n, gen, args, work))
    finally:
        if not args.workdir:
            shutil.rmtree(work, ignore_errors=True)
    meta = {"machine": f"{os.cpu_count()} CPUs (shared with other jobs while measured)",
            "threads": args.threads, "queries": args.queries, "model": args.model,
            "real_photos": len(real), "same_place_cosine": gen.target, "alpha": gen.alpha,
            "gallery": args.gallery, "area_places": args.area_places, "tail": gen.tail,
            "real_nearest_other_place_cosine": gen.real_nn_other, "within_area_share": gen.within,
            "date": time.strftime("%Y-%m-%d %H:%M")}
    out = {"meta": meta, "results": results}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=1))
    print(markdown(results, meta))


if __name__ == "__main__":
    main()
