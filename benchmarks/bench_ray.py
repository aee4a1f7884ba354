"""Ray indexing throughput per CPU worker, against the single-process path in the same run.

Embeds the same photos (corridor_vprbench from ../shared/data, decode included) with the
default model: once with ``embed_paths`` in this process (one torch thread), then through
``build_index_ray``'s Ray Data pipeline on a local Ray instance with 1 and with 2 CPU actors
(one torch thread each). Ray's start-up is timed apart; the img/s figures include the actors'
start (model build), the pipeline and the index writing, so they approach the steady rate as
--n grows.

Usage: python benchmarks/bench_ray.py [--n 160] [--model effnetlite2-gem]
Writes benchmarks/results/bench_ray.json; docs/scale.md quotes it.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=160)
    ap.add_argument("--model", default="effnetlite2-gem")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "bench_ray.json"))
    args = ap.parse_args()
    import ray
    import torch

    from geomatch_app.core.paths import shared_data_dir
    from geomatch_app.data.gallery import read_manifest
    from geomatch_app.index.extract import embed_paths
    from geomatch_app.index.ray_engine import build_index_ray
    from geomatch_app.models import get_model

    torch.set_num_threads(1)
    manifest = shared_data_dir() / "corridor_vprbench" / "manifest.csv"
    photos = (read_manifest(manifest, "gallery").photos
              + read_manifest(manifest, "query").photos)[: args.n]
    model = get_model(args.model).eval()
    embed_paths(model, [p.path for p in photos[:4]], device="cpu", workers=0)  # warm-up
    t0 = time.perf_counter()
    embed_paths(model, [p.path for p in photos], device="cpu", workers=0)
    single = len(photos) / (time.perf_counter() - t0)
    print(f"single process, 1 thread: {single:.2f} img/s")
    rows = {"single process (1 thread)": {"img_per_s": single}}
    for cpus in (1, 2):
        t0 = time.perf_counter()
        ray.init(num_cpus=cpus, include_dashboard=False, log_to_driver=False,
                 runtime_env={"env_vars": {"PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}})
        start_s = time.perf_counter() - t0
        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.perf_counter()
            build_index_ray(photos, Path(tmp) / "idx", args.model, shards=cpus * 2,
                            device="cpu")
            dt = time.perf_counter() - t0
        ray.shutdown()
        rate = len(photos) / dt
        rows[f"ray, {cpus} CPU actor(s)"] = {"img_per_s": rate, "ray_start_s": start_s,
                                             "vs_single": rate / single}
        print(f"ray {cpus} actor(s): {rate:.2f} img/s ({rate / single:.2f}× single), "
              f"ray start {start_s:.1f} s")
    out = {"machine": f"{os.cpu_count()} CPUs, shared with other jobs while measured",
           "model": args.model, "photos": len(photos), "results": rows,
           "date": time.strftime("%Y-%m-%d %H:%M")}
    Path(args.out).write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
