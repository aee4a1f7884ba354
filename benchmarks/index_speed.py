"""Indexing speed on this machine: ms per image for the day-one model, as ratios against a
baseline (batch 1, no decoding workers) run in the same process.

Usage: python benchmarks/index_speed.py [--n 48] [--threads 2]
Writes benchmarks/results/index_speed.json.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from geomatch_app.core.paths import demo_manifest
from geomatch_app.data.gallery import load_photos
from geomatch_app.index.extract import embed_paths
from geomatch_app.models import get_model


def timed(model, paths, **kw) -> float:
    t0 = time.perf_counter()
    embed_paths(model, paths, device="cpu", **kw)
    return (time.perf_counter() - t0) / len(paths)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=40)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    paths = [p.path for p in load_photos(demo_manifest()).photos][: args.n]
    model = get_model("effnetlite2-gem").eval()
    timed(model, paths[:8], batch_size=8, workers=0)  # warm-up: first calls are slow
    configs = {"baseline batch=1 workers=0": dict(batch_size=1, workers=0),
               "batch=2 workers=0": dict(batch_size=2, workers=0),
               "batch=4 workers=0 (default on CPU)": dict(batch_size=4, workers=0),
               "batch=4 workers=1": dict(batch_size=4, workers=1),
               "batch=16 workers=0": dict(batch_size=16, workers=0),
               "batch=16 workers=1": dict(batch_size=16, workers=1),
               "batch=16 workers=2": dict(batch_size=16, workers=2)}
    results = {}
    base = None
    for name, kw in configs.items():
        s = timed(model, paths, **kw)
        base = base or s
        results[name] = {"ms_per_image": 1000 * s, "speedup_vs_baseline": base / s}
        print(f"{name:36s} {1000 * s:7.1f} ms/img  x{base / s:.2f}")
    out = Path(__file__).parent / "results"
    out.mkdir(exist_ok=True)
    (out / "index_speed.json").write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
