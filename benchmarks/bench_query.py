"""One query through the app's ranking path vs the pure model + search, on a 20k-photo index,
measured in one run.

The gallery: descriptors of the real photos of the demo gallery and ../shared/data, each
replicated with noise (cosine ~0.9 to its original) and a jittered position until there are
--gallery of them, written and opened as the app does (its automatic structure for the size:
HNSW at 20k). The query is a real file.

- pure: the model input pre-decoded once; per query only the engine forward + the index's
  search structure;
- app: ``app.ranking.rank`` — what a dropped photo and `geomatch query --db` run: read +
  decode, engine, search, candidates, geometric verification + calibration of the top 5
  (training.calibration.judge; also timed without, as `--no-verify`), KDE estimate with
  distances, the suggestion run written to the project's SQLite store.
Each row is the median (and 90th percentile) of --repeats interleaved queries.

Usage: python benchmarks/bench_query.py [--gallery 20000] [--repeats 15] [--threads 1]
Writes benchmarks/results/bench_query.json.
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from perf_common import machine, median, table, timed, write_json  # noqa: E402

from geomatch_app.core.paths import demo_manifest, shared_data_dir  # noqa: E402
from geomatch_app.data.gallery import load_photos  # noqa: E402
from geomatch_app.index import Index, engines  # noqa: E402
from geomatch_app.index.extract import embed_paths, load_tensor  # noqa: E402
from geomatch_app.models import get_model  # noqa: E402

SETS = ("opensfm_berlin_lund", "fordham_places", "vprtutorial_triplets", "arezzo_exif_gps")
K = 20


def base_photos():
    """Real gallery photos (with a position where the set has one)."""
    photos = list(load_photos(demo_manifest()).photos)
    root = shared_data_dir()
    if root is not None:
        for name in SETS:
            photos += load_photos(root / name / "manifest.csv").photos
    return photos


def build_gallery(model, n: int, folder: Path, seed: int = 0) -> Index:
    """A 20k index written and opened as the app does (``index.write_index``, the automatic
    structure for its size): noisy copies of real descriptors with jittered positions."""
    from geomatch_app.index.faiss_index import write_index

    photos = base_photos()
    descs = embed_paths(model, [p.path for p in photos], device="cpu")
    ok = ~np.isnan(descs).any(1)
    photos = [p for p, good in zip(photos, ok, strict=True) if good]
    descs = descs[ok]
    rng = np.random.default_rng(seed)
    pick = np.arange(n) % len(photos)
    noise = rng.standard_normal((n, descs.shape[1])).astype(np.float32)
    vecs = descs[pick] + 0.5 * noise / np.sqrt(descs.shape[1])
    vecs[: len(photos)] = descs  # the originals themselves are in the gallery too
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    records = []
    for j, i in enumerate(pick):
        p = photos[i]
        copy = j >= len(photos)
        lat = None if p.lat is None else p.lat + float(rng.normal(0, 5e-4)) * copy
        lon = None if p.lon is None else p.lon + float(rng.normal(0, 5e-4)) * copy
        # copies get files of their own (links to the original: an index never lists one
        # file twice, and verification reads the real photo)
        path = p.path
        if copy:
            link = folder.parent / "copies" / f"{j:05d}-{Path(p.path).name}"
            link.parent.mkdir(parents=True, exist_ok=True)
            link.symlink_to(Path(p.path).resolve())
            path = str(link)
        records.append({"path": path, "size": None, "mtime_ns": None, "lat": lat, "lon": lon,
                        "heading": p.heading, "place_id": p.place_id, "domain": p.domain})
    write_index(folder, vecs, records, model.fingerprint())
    idx = Index.open(folder, device="cpu")
    idx._model = model  # the model built above (same weights), not built a second time
    return idx


def query_path() -> str:
    photos = load_photos(demo_manifest(), role="query").photos
    return photos[0].path


def open_project(index, db: Path):
    """The project the window and `geomatch query --db` rank in: database + attached index."""
    from geomatch_app.app.project import Project, attach_index
    from geomatch_app.store import Store

    project = Project(Store(db), device="cpu")
    attach_index(project, index)
    return project


def app_rank(project, path, reuse=False, verify=None):
    """The app's ranking path: app.ranking.rank, recording the run (``reuse``: a stored run
    of this photo, model and index is returned instead, as after a restart; ``verify``
    False: `geomatch query --no-verify`)."""
    from geomatch_app.app.ranking import rank

    return rank(project, path, k=K, reuse=reuse, verify=verify)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--gallery", type=int, default=20000)
    ap.add_argument("--repeats", type=int, default=15)
    ap.add_argument("--threads", type=int, default=1, help="torch / ONNX Runtime threads")
    ap.add_argument("--model", default="effnetlite2-gem")
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    torch.set_num_threads(args.threads)
    from geomatch_app.geo.kde import estimate_location, with_distances
    from geomatch_app.training.calibration import judge

    tmp = Path(tempfile.mkdtemp(prefix="bench-query-"))
    model = get_model(args.model).eval()
    index = build_gallery(model, args.gallery, tmp / "index")
    project = open_project(index, tmp / "curation.db")
    qpath = query_path()
    pre = model.preprocess
    x = load_tensor(qpath, pre)[None]
    eng = {name: engines.get_engine(model, name, "cpu") for name in ("onnx", "torch")}
    default = engines.get_engine(model, None, "cpu").name

    def pure(name):
        d = eng[name](x)
        index.structure.search(d, K)

    def eager():
        with torch.inference_mode():
            d = model(x).numpy()
        index.structure.search(d, K)

    def app(name, verify=None):
        engines.set_default_engine(name)
        app_rank(project, qpath, verify=verify)

    d0 = eng[default](x)
    cands = index.search(d0, K)[0]
    est = estimate_location(cands)
    from geomatch_app.app.curation import ensure_query

    qid = ensure_query(project.store, str(Path(qpath).resolve()))

    def record():
        project.store.record_suggestions(qid, cands, model=project.model_id, estimate=est,
                                         index_id=project.index_id)
    cases = {
        f"app path, engine={default} (default)": lambda: app(default),
        f"app path, engine={default}, no verification": lambda: app(default, verify=False),
        f"pure {default} + index search": lambda: pure(default),
        "app path, engine=torch, no verification": lambda: app("torch", verify=False),
        "pure torch (BN-folded) + index search": lambda: pure("torch"),
        "pure eager torch + index search (before)": eager,
        "app path, stored run re-used (restart)": lambda: app_rank(project, qpath, reuse=True),
        "  read + decode (load_tensor)": lambda: load_tensor(qpath, pre),
        f"  {default} forward": lambda: eng[default](x),
        f"  index search ({index.index_type}, structure only)": lambda: index.structure.search(
            d0, K),
        "  verification + calibration (training.calibration.judge)": lambda: judge(
            index, qpath, cands),
        "  calibration only (judge, verify=False)": lambda: judge(index, qpath, cands,
                                                                  verify=False),
        "  Index.search (+ candidates)": lambda: index.search(d0, K),
        "  KDE estimate + distances": lambda: with_distances(cands, estimate_location(cands)),
        "  store: record the run (SQLite, synchronous=FULL)": record,
        "  embed_paths (1 photo)": lambda: embed_paths(model, [qpath], device="cpu",
                                                       workers=0, engine=default),
    }
    for fn in cases.values():  # warm-up
        fn()
    times: dict[str, list[float]] = {k: [] for k in cases}
    for _r in range(args.repeats):
        for name, fn in cases.items():
            times[name].append(1000 * timed(fn))
    engines.set_default_engine(default)
    med = {k: median(v) for k, v in times.items()}
    p90 = {k: float(np.percentile(v, 90)) for k, v in times.items()}
    app_ms = med[f"app path, engine={default} (default)"]
    app_nv = med[f"app path, engine={default}, no verification"]
    pure_ms = med[f"pure {default} + index search"]
    ratios = {
        "app / pure, same engine (goal <= 1.3)": app_ms / pure_ms,
        "app median ms (goal < 150)": app_ms,
        "app without verification / pure": app_nv / pure_ms,
        "app without verification, median ms": app_nv,
        "app torch / pure torch (both without verification)":
            med["app path, engine=torch, no verification"]
            / med["pure torch (BN-folded) + index search"],
        "app (default) vs pure eager torch before": app_ms
        / med["pure eager torch + index search (before)"],
    }
    print(f"bench_query: {args.model}, {len(index)}-photo {index.index_type} index, k={K}, "
          f"{args.threads} thread(s), median of {args.repeats} interleaved queries")
    print(table(["path", "median ms", "p90 ms"],
                [[k, round(med[k], 1), round(p90[k], 1)] for k in cases]))
    print()
    print(table(["ratio (same run)", "value"], [[k, round(v, 2)] for k, v in ratios.items()]))
    path = write_json("bench_query.json", {
        "model": args.model, "gallery": len(index), "index_type": index.index_type, "k": K,
        "threads": args.threads,
        "repeats": args.repeats, "query": qpath, "median_ms": med, "p90_ms": p90,
        "ratios": ratios, "machine": machine()})
    print(f"\nwrote {path}")


if __name__ == "__main__":
    main()
