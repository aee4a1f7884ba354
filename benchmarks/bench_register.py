"""Registering an index's gallery in the curation store: photos per second of the bulk path
(``store.gallery.sync_index``: executemany into a temp table + one upsert) against the
per-photo path (``Store.add_images``, one statement set per photo) measured in the same process,
and the time to register 100k photos; re-registering an unchanged gallery is measured too.

Usage: python benchmarks/bench_register.py [--n 100000] [--baseline-n 5000]
Writes benchmarks/results/bench_register.json.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from geomatch_app.store import Store
from geomatch_app.store.gallery import sync_index


def records(n: int) -> list[dict]:
    return [{"path": f"/archive/gallery/{i // 1000:04d}/photo_{i:07d}.jpg",
             "lat": 52.0 + (i % 1000) * 1e-4, "lon": 13.0 + (i // 1000) * 1e-4,
             "heading": float(i % 360), "place_id": f"place_{i // 4}",
             "size": 100_000 + i, "mtime_ns": 1_700_000_000_000_000_000 + i} for i in range(n)]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--baseline-n", type=int, default=5_000)
    args = ap.parse_args()
    fp = {"name": "effnetlite2-gem", "weight_hash": "bench", "dim": 1280}
    with tempfile.TemporaryDirectory() as tmp:
        with Store(Path(tmp) / "base.sqlite") as store:
            gid = store.add_gallery("baseline")
            rows = records(args.baseline_n)
            t0 = time.perf_counter()
            store.add_images(gid, rows, hash_files=False)
            base_rate = args.baseline_n / (time.perf_counter() - t0)
        with Store(Path(tmp) / "bulk.sqlite") as store:
            rows = records(args.n)
            t0 = time.perf_counter()
            sync = sync_index(store, Path(tmp) / "index", rows, fp, content_key="v1")
            bulk_s = time.perf_counter() - t0
            t0 = time.perf_counter()
            again = sync_index(store, Path(tmp) / "index", rows, fp, content_key="v1")
            again_s = time.perf_counter() - t0
            assert sync.n_images == args.n and again.changed == 0
    out = {"n": args.n, "bulk_s": round(bulk_s, 3), "bulk_photos_per_s": round(args.n / bulk_s),
           "unchanged_again_s": round(again_s, 3),
           "baseline_n": args.baseline_n, "per_photo_photos_per_s": round(base_rate),
           "speedup": round((args.n / bulk_s) / base_rate, 1)}
    print(f"| path | photos/s | {args.n} photos |\n|---|---|---|")
    print(f"| per photo (Store.add_images), baseline | {base_rate:,.0f} | "
          f"{args.n / base_rate:.1f} s (extrapolated) |")
    print(f"| bulk (sync_index) | {args.n / bulk_s:,.0f} | {bulk_s:.1f} s "
          f"(x{out['speedup']}) |")
    print(f"| bulk, unchanged gallery again | — | {again_s:.1f} s |")
    res = Path(__file__).parent / "results" / "bench_register.json"
    res.write_text(json.dumps(out, indent=1))
    print(f"wrote {res}")


if __name__ == "__main__":
    main()
