"""Occlusion heatmap speed: coarse-to-fine (the default) vs the exhaustive sliding window.

For a few query/candidate pairs of ../shared/data/fordham_places with the 224-px default model
(effnetlite2-gem, one torch thread, like the GUI's worker on a shared 2-core CPU): the old way
(embed the candidate again, then slide a patch of 1/6 of the shorter side with stride patch/2)
and the new way (candidate descriptor taken from the index, 4-row grid, 4 cells refined) are timed
in the same process, so the ratio holds whatever the load. Also reports how much the two maps
agree (Pearson correlation of the new map with the old one). Writes
benchmarks/results/bench_heatmap.json. Usage: python benchmarks/bench_heatmap.py [--pairs 3]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pairs", type=int, default=3)
    ap.add_argument("--model", default="effnetlite2-gem")
    args = ap.parse_args()
    import torch

    from geomatch_app.core.paths import shared_data_dir
    from geomatch_app.data.gallery import load_photos
    from geomatch_app.index import build_index
    from geomatch_app.index.extract import load_tensor
    from geomatch_app.models.explain import occlusion_map

    torch.set_num_threads(1)
    manifest = shared_data_dir() / "fordham_places" / "manifest.csv"
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        idx = build_index(manifest, Path(tmp) / "idx", model_name=args.model, device="cpu")
        model = idx.model
        queries = load_photos(manifest, role="query").photos[:args.pairs]
        paths = [p.path for p in idx.photos]
        for q in queries:
            cand = idx.search_paths([q.path], k=1)[0][0]
            x = load_tensor(q.path, model.preprocess)[None]
            t = time.perf_counter()
            with torch.no_grad():
                ref = model(load_tensor(cand.path, model.preprocess)[None])[0].numpy()
            old = occlusion_map(model, x, ref, patch=max(1, min(x.shape[-2:]) // 6))
            t_old = time.perf_counter() - t
            t = time.perf_counter()
            stored = idx.descriptors([paths.index(cand.path)])[0]
            new = occlusion_map(model, x, stored)
            t_new = time.perf_counter() - t
            corr = float(np.corrcoef(old.ravel(), new.ravel())[0, 1])
            rows.append({"query": Path(q.path).name, "input": list(x.shape[-2:]),
                         "old_s": round(t_old, 2), "new_s": round(t_new, 2),
                         "speedup": round(t_old / t_new, 1), "corr_with_old": round(corr, 3)})
            print(rows[-1], flush=True)
    out = {"model": args.model, "threads": 1, "pairs": rows,
           "median_old_s": float(np.median([r["old_s"] for r in rows])),
           "median_new_s": float(np.median([r["new_s"] for r in rows])),
           "median_speedup": float(np.median([r["speedup"] for r in rows]))}
    res = Path(__file__).parent / "results"
    res.mkdir(exist_ok=True)
    (res / "bench_heatmap.json").write_text(json.dumps(out, indent=1) + "\n")
    print(json.dumps({k: v for k, v in out.items() if k != "pairs"}))


if __name__ == "__main__":
    main()
