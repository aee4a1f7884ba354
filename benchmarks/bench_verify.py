"""What geometric verification costs and what cheaper settings would change, on the shared
sets with ground truth.

For every query of the labelled photo sets, its top-5 descriptor candidates (the pairs the app
verifies) are verified at the default setting (640 px, 2000 SIFT keypoints: what the
calibration's inlier feature was fitted on) and at smaller ones. Reported per setting: time
per photo for features and per pair for matching + MAGSAC++, the inliers of true and of false
pairs, how well inliers separate them (AUROC of the count), and how far each pair's count moves
from the default (median relative change; share of pairs within ±20 %). A setting other than
the default changes the calibration's input: adopting one means refitting the calibration
(benchmarks/calibrate.py) — this benchmark only measures.

Usage: python benchmarks/bench_verify.py [--settings 640:2000,480:2000,640:1000,480:1000]
Writes benchmarks/results/bench_verify.json.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from perf_common import machine, table, write_json  # noqa: E402

from geomatch_app.core.paths import shared_data_dir  # noqa: E402
from geomatch_app.models import get_model  # noqa: E402
from geomatch_app.models.verify import local_features, verify_features  # noqa: E402
from geomatch_app.training.calibration import auroc, labelled_sets, rank_set  # noqa: E402
from geomatch_app.training.evaluation import is_match  # noqa: E402

SETS = ("opensfm_berlin_lund", "fordham_places", "vprtutorial_triplets")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--settings", default="640:2000,480:2000,640:1000,480:1000",
                    help="max_side:keypoints, the first is the reference")
    ap.add_argument("--model", default="effnetlite2-gem")
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    torch.set_num_threads(1)
    root = shared_data_dir()
    if root is None:
        sys.exit("needs ../shared/data")
    model = get_model(args.model).eval()
    sets = labelled_sets(model, [root / s / "manifest.csv" for s in SETS])
    pairs: list[tuple[str, str, bool]] = []
    for data in sets:
        for q, cands in zip(data.queries, rank_set(data, 5), strict=True):
            pairs += [(q.path, c.path, is_match(q, c)) for c in cands]
    photos = sorted({p for a, b, _ in pairs for p in (a, b)})
    settings = [tuple(int(v) for v in s.split(":")) for s in args.settings.split(",")]
    rows, out, counts = [], {}, {}
    for side, n in settings:
        t0 = time.perf_counter()
        feats = {p: local_features(p, side, n) for p in photos}
        t_feat = (time.perf_counter() - t0) / len(photos)
        t0 = time.perf_counter()
        inl = np.array([verify_features(feats[a], feats[b]).inliers for a, b, _ in pairs])
        t_pair = (time.perf_counter() - t0) / len(pairs)
        counts[(side, n)] = inl
        y = np.array([m for _, _, m in pairs])
        ref = counts[settings[0]]
        rel = np.abs(inl - ref) / np.maximum(ref, 1)
        out[f"{side}:{n}"] = r = {
            "ms_per_photo": 1000 * t_feat, "ms_per_pair": 1000 * t_pair,
            "ms_per_query_top5": 1000 * (6 * t_feat + 5 * t_pair),
            "median_inliers_true": float(np.median(inl[y])),
            "median_inliers_false": float(np.median(inl[~y])),
            "auroc_inliers": auroc(inl, y),
            "median_rel_change_vs_default": float(np.median(rel)),
            "share_within_20pct_or_2": float(np.mean((rel <= 0.2) | (np.abs(inl - ref) <= 2)))}
        rows.append([f"{side} px, {n} keypoints", round(r["ms_per_photo"], 1),
                     round(r["ms_per_pair"], 1), round(r["ms_per_query_top5"]),
                     r["median_inliers_true"], r["median_inliers_false"],
                     round(r["auroc_inliers"], 3), round(r["median_rel_change_vs_default"], 3),
                     round(r["share_within_20pct_or_2"], 3)])
    n_true = int(sum(m for _, _, m in pairs))
    print(f"bench_verify: {len(pairs)} (query, top-5 candidate) pairs of {', '.join(SETS)} "
          f"({n_true} true), {len(photos)} photos")
    print(table(["setting", "ms/photo", "ms/pair", "ms/query (6 photos, 5 pairs)",
                 "median inliers, true", "median inliers, false", "AUROC inliers",
                 "median rel. change vs default", "pairs within ±20 % (or ±2)"], rows))
    path = write_json("bench_verify.json", {"pairs": len(pairs), "true_pairs": n_true,
                                             "photos": len(photos), "settings": out,
                                             "machine": machine()})
    print(f"\nwrote {path}")


if __name__ == "__main__":
    main()
