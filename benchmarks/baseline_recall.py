"""Off-the-shelf retrieval baseline on every ../shared/data set with a query split.

Prints R@1/5/10/20 per set (by place_id; by ≤ 25 m where the set has coordinates) and the
indexing time per image, and writes benchmarks/results/baseline_recall.json. Every trained model
must beat these numbers. Usage: python benchmarks/baseline_recall.py [--sets a,b] [--model M]
"""

from __future__ import annotations

import argparse
import json
import logging
import tempfile
import time
from pathlib import Path

import numpy as np

from geomatch_app.core.paths import shared_data_dir
from geomatch_app.data.gallery import load_photos
from geomatch_app.geo.distance import haversine_m
from geomatch_app.index import build_index

SETS = ["vprtutorial_triplets", "fordham_places", "opensfm_berlin_lund", "corridor_vprbench",
        "nordland_seqslam"]
NS = (1, 5, 10, 20)


def first_correct_ranks(queries, results, threshold_m: float = 25.0) -> list[int | None]:
    ranks = []
    for q, cands in zip(queries, results, strict=True):
        hit = None
        for c in cands:
            if q.has_location and c.lat is not None:
                ok = float(haversine_m(q.lat, q.lon, c.lat, c.lon)) <= threshold_m
            else:
                ok = bool(q.place_id) and q.place_id == c.place_id
            if ok:
                hit = c.rank
                break
        ranks.append(hit)
    return ranks


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sets", default=",".join(SETS))
    ap.add_argument("--model", default="effnetlite2-gem")
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    data = shared_data_dir()
    if data is None:
        raise SystemExit("../shared/data not found")
    out = {}
    for name in args.sets.split(","):
        manifest = data / name / "manifest.csv"
        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.perf_counter()
            idx = build_index(manifest, Path(tmp) / "idx", model_name=args.model, device="cpu")
            t_index = time.perf_counter() - t0
            queries = load_photos(manifest, role="query").photos
            results = idx.search(idx.embed_paths([q.path for q in queries]), k=20)
        ranks = first_correct_ranks(queries, results)
        recall = {str(n): float(np.mean([r is not None and r <= n for r in ranks])) for n in NS}
        out[name] = {"n_queries": len(queries), "n_gallery": len(idx), "recall": recall,
                     "index_s_per_image": t_index / len(idx)}
        print(f"{name:24s} q={len(queries):5d} g={len(idx):5d} "
              + " ".join(f"R@{n}={recall[str(n)]:.3f}" for n in NS)
              + f"  index {1000 * t_index / len(idx):.0f} ms/img")
    res = Path(__file__).parent / "results"
    res.mkdir(exist_ok=True)
    (res / f"baseline_recall_{args.model}.json").write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
