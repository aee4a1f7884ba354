"""Fit and measure the match-probability calibration of a model on every shared set.

For each ../shared/data set with ground truth (Nordland subsampled, see calib_data.py): rank
every query against the gallery and against the gallery *without its true place* (open set),
compute the calibration features (training.calibration) with and without geometric
verification of the top 5, and

- measure with place-disjoint 5-fold cross-validation (no place in two folds) and, harder,
  leave-one-set-out (the calibration never saw the gallery): top-1 correct-vs-wrong AUROC and
  ECE, share of removed-place queries flagged no_match, share of correct top-1 kept as match;
- measure re-ranking the top 5 by verified p_match against the descriptor ranking (R@1);
- fit on everything and write geomatch_app/resources/models/calibration/<model>.json plus
  benchmarks/results/calibrate_<model>.json.

Usage: python benchmarks/calibrate.py [--model effnetlite2-gem] [--no-verify]
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path

import numpy as np

from benchmarks.calib_data import SETS, cache_dir, collect
from geomatch_app.core.paths import models_dir
from geomatch_app.training.calibration import (
    BASE_FEATURES,
    VERIFIED_FEATURES,
    LabelledSet,
    Samples,
    balance_weights,
    builtin_calibration_path,
    cross_validated_p,
    fit_calibration,
    gallery_stats,
    measure,
    place_folds,
    pooled_reference,
    set_samples,
    write_card_section,
)

RERANK_K = 5
# image sequences: ground truth counts frames within ±2 steps as one place (training.places)
SEQUENCES = ("corridor_vprbench", "nordland_seqslam")


class CachedVerifier:
    """models.verify.Verifier with inlier counts cached on disk between runs."""

    def __init__(self, path: Path) -> None:
        from geomatch_app.models.verify import Verifier

        self.path = path
        self.inner = Verifier()
        self.cache = json.loads(path.read_text()) if path.exists() else {}

    def __call__(self, q: str, c: str) -> int:
        key = f"{q}|{c}"
        if key not in self.cache:
            self.cache[key] = self.inner.inliers(q, c)
        return self.cache[key]

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.write_text(json.dumps(self.cache))


def thresholds(p: np.ndarray, s: Samples) -> tuple[float, float]:
    """no_match: best p < 0.5 — the best candidate more likely than not shows another place.
    match: the highest threshold in 0.55..0.8 (step 0.05) that still keeps ≥ 85 % of the correct
    top-1 of the photo sets as match (out-of-fold p); between the two the verdict is
    "uncertain". The sequence sets are left out of this choice: the model's evidence there is
    weak (per-set AUROC 0.56 Nordland, 0.80 corridor), so no threshold keeps their correct top-1
    as match without calling many wrong ones match too.

    Measured (previous calibration, photo sets; removed-place → no_match / correct → match):
    no_match 0.35 → 0.72 / 0.96; no_match 0.5 → 0.86 / 0.96 (match 0.5), 0.88 (0.6–0.65),
    0.79 (0.7). With the sequence ground truth (training.places) the rule picks 0.7."""
    a = s.arrays()
    cor = a["top1"] & ~a["open_set"] & a["y"] & ~np.isin(a["set"], SEQUENCES)
    t_match = 0.55
    for t in np.round(np.arange(0.55, 0.801, 0.05), 3):
        if cor.any() and np.mean(p[cor] >= t) >= 0.85:
            t_match = float(t)
    return t_match, 0.5


def rerank_effect(p: np.ndarray, s: Samples, inl: np.ndarray) -> dict:
    """R@1 per set: descriptor order vs the top-5 re-ordered by verified p_match (out of
    fold) vs by inlier count alone (full rankings only)."""
    a = s.arrays()
    full = ~a["open_set"]
    out = {}
    for name in np.unique(a["set"]):
        rows = full & (a["set"] == name)
        base = by_p = by_inl = 0
        queries = np.unique(a["query"][rows])
        for q in queries:
            r = np.nonzero(rows & (a["query"] == q))[0]
            base += a["y"][r[0]]
            by_p += a["y"][r[np.argmax(p[r])]]
            by_inl += a["y"][r[np.argmax(inl[r])]]  # argmax keeps the first on ties
        n = len(queries)
        out[str(name)] = {"n": n, "R@1": base / n, "R@1_rerank_p": by_p / n,
                          "R@1_rerank_inliers": by_inl / n}
    return out


def confidence_check(datasets: list[tuple[LabelledSet, int]], p: np.ndarray,
                     s: Samples) -> dict:
    """Is the estimate's confidence a probability that the truth lies within its radius?
    For the queries with coordinates (full and removed-place rankings): the KDE estimate of the
    top 20 with out-of-fold p_match on the top 5, its confidence, and whether the true location
    is within radius_m (+ the 25 m match threshold, as in estimate_confidence)."""
    from dataclasses import replace

    from geomatch_app.geo.distance import haversine_m
    from geomatch_app.geo.kde import estimate_location
    from geomatch_app.training.calibration import (
        auroc,
        ece,
        estimate_confidence,
        rank_set,
        without_place,
    )

    a = s.arrays()
    conf, hit, rem = [], [], []
    for data, offset in datasets:
        rankings = rank_set(data, 20 + 64)
        for qi, (q, full) in enumerate(zip(data.queries, rankings, strict=True)):
            if not q.has_location:
                continue
            for removed, cands in ((False, full[:20]), (True, without_place(q, full)[:20])):
                rows = np.nonzero((a["query"] == offset + qi) & (a["open_set"] == removed))[0]
                cands = [replace(c, p_match=float(p[rows[i]]) if i < len(rows) else None)
                         for i, c in enumerate(cands)]
                est = estimate_confidence(estimate_location(cands), cands)
                if est is None:
                    continue
                conf.append(est.confidence)
                rem.append(removed)
                hit.append(bool(haversine_m(q.lat, q.lon, est.lat, est.lon)
                                <= est.radius_m + 25.0))
    conf_a, hit_a, rem_a = np.array(conf), np.array(hit, bool), np.array(rem, bool)
    out = {}
    for name, m in (("full_rankings", ~rem_a), ("removed_place_rankings", rem_a),
                    ("both", np.ones(len(conf_a), bool))):
        out[name] = {"n": int(m.sum()), "auroc": auroc(conf_a[m], hit_a[m]),
                     "ece": ece(conf_a[m], hit_a[m]),
                     "share_within": float(hit_a[m].mean()) if m.any() else None,
                     "mean_confidence": float(conf_a[m].mean()) if m.any() else None}
    return out


def _f(v: float | None) -> str:
    return "  -  " if v is None else f"{v:.3f}"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="effnetlite2-gem")
    ap.add_argument("--sets", default=",".join(SETS))
    ap.add_argument("--no-verify", action="store_true")
    ap.add_argument("--no-write", action="store_true", help="measure only")
    ap.add_argument("--sequence", action="store_true",
                    help="fit and measure only the sequence-matching part (training.sequence) "
                         "and add it to the model's existing calibration file")
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    import torch

    torch.set_num_threads(1)
    if args.sequence:
        sequence_main(args)
        return
    t0 = time.perf_counter()
    verifier = None if args.no_verify else CachedVerifier(cache_dir() / args.model
                                                          / "inliers.json")
    samples = Samples()
    stats_by_set = {}
    offset = 0
    weight_hash = ""
    located: list[tuple[LabelledSet, int]] = []
    for name in args.sets.split(","):
        d = collect(name, args.model)
        from geomatch_app.index import Index

        weight_hash = Index.open(d.index_dir).fingerprint["weight_hash"]
        data = LabelledSet(name, d.queries, d.gallery, d.qdesc, d.gdesc)
        st = gallery_stats(d.gdesc, d.gallery)
        stats_by_set[name] = st
        set_samples(data, st, samples=samples, verifier=verifier, query_offset=offset)
        if any(q.has_location for q in d.queries):
            located.append((data, offset))
        offset += len(d.queries)
        print(f"{name}: {len(d.queries)} queries; unrelated-neighbour sim "
              f"mean {st.mean:.3f} sd {st.std:.3f}", flush=True)
        if verifier is not None:
            verifier.save()
    a = samples.arrays()
    x, y = a["x"], a["y"]
    w = balance_weights(a["set"])
    nb = len(BASE_FEATURES)
    folds = place_folds(a["group"])
    loso = np.unique(a["set"], return_inverse=True)[1]
    results = {"model": args.model, "features": list(VERIFIED_FEATURES if verifier
                                                     else BASE_FEATURES),
               "n_rows": int(len(y)), "sets": {}}

    def evaluate(cols, feats, fold_ids, label):
        p = cross_validated_p(x[:, :cols], y, fold_ids, w, feats)
        return p, label

    variants = [("base", nb, BASE_FEATURES)]
    if verifier is not None:
        variants.append(("verified", len(VERIFIED_FEATURES), VERIFIED_FEATURES))
    raw_top = a["top1"] & ~a["open_set"]
    from geomatch_app.training.calibration import auroc

    results["raw_score_auroc_pooled"] = auroc(x[raw_top, 0], y[raw_top])
    chosen = None
    for vname, cols, feats in variants:
        p_cv = cross_validated_p(x[:, :cols], y, folds, w, feats)
        p_loso = cross_validated_p(x[:, :cols], y, loso, w, feats)
        # thresholds from the variant the app runs by default (the last: verified if any)
        chosen = thresholds(cross_validated_p(x[:, :variants[-1][1]], y, folds, w,
                                              variants[-1][2]), samples)
        t_match, t_no = chosen
        res = {"place_disjoint_5fold": measure(p_cv, samples, t_match, t_no),
               "leave_one_set_out": measure(p_loso, samples, t_match, t_no), "per_set": {}}
        groups = {str(n): a["set"] == n for n in np.unique(a["set"])}
        groups["photo sets (triplets, Fordham, Berlin/Lund)"] = ~np.isin(a["set"], SEQUENCES)
        groups["sequence sets (corridor, Nordland)"] = np.isin(a["set"], SEQUENCES)
        for name, m in groups.items():
            if not m.any():
                continue
            sub = Samples(*(list(np.asarray(v, dtype=object)[m]) for v in (
                samples.x, samples.y, samples.group, samples.set_name, samples.top1,
                samples.open_set, samples.query, samples.inliers)))
            res["per_set"][name] = {
                "place_disjoint": measure(p_cv[m], sub, t_match, t_no),
                "leave_one_set_out": measure(p_loso[m], sub, t_match, t_no)}
        if vname == "verified":
            inl = np.expm1(x[:, -1])
            res["rerank"] = rerank_effect(p_cv, samples, inl)
        res["estimate_confidence"] = confidence_check(located, p_cv, samples)
        results[vname] = res
    results["thresholds"] = {"match": chosen[0], "no_match": chosen[1]}

    rerank = {}
    if "verified" in results:
        per = results["verified"]["rerank"]
        wins = [s for s, r in per.items() if r["R@1_rerank_p"] > r["R@1"]]
        losses = [s for s, r in per.items() if r["R@1_rerank_p"] < r["R@1"]]
        rerank = {"k": RERANK_K, "default": bool(wins) and not losses,
                  "wins": wins, "losses": losses, "per_set": per}
    results["rerank_decision"] = rerank

    ref = pooled_reference(list(stats_by_set.values()))
    cal = fit_calibration(samples, args.model, weight_hash, ref,
                          match_threshold=chosen[0], no_match_threshold=chosen[1],
                          report={"fitted_on": sorted(stats_by_set),
                                  "place_disjoint_5fold": results[variants[-1][0]]
                                  ["place_disjoint_5fold"],
                                  "leave_one_set_out": results[variants[-1][0]]
                                  ["leave_one_set_out"],
                                  "script": "benchmarks/calibrate.py"})
    if verifier is None:
        cal.verified = None
    cal.rerank = rerank
    results["seconds"] = round(time.perf_counter() - t0, 1)
    out = Path(__file__).parent / "results" / f"calibrate_{args.model}.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(results, indent=1, default=float) + "\n")
    if not args.no_write:
        path = cal.save(builtin_calibration_path(args.model))
        card = models_dir() / f"{args.model}.md"
        if card.is_file():
            write_card_section(card, cal,
                               f"geomatch_app/resources/models/calibration/{args.model}.json")
        print(f"calibration: {path}")
    print(json.dumps({k: results[k] for k in ("raw_score_auroc_pooled", "thresholds")}))
    for vname, _cols, _feats in variants:
        for scheme in ("place_disjoint_5fold", "leave_one_set_out"):
            r = results[vname][scheme]
            print(f"{vname:9s} {scheme:22s} AUROC {r['auroc']:.3f} ECE {r['ece']:.3f} "
                  f"removed→no_match {r['removed_flagged_no_match']:.2f} "
                  f"correct→match {r['correct_kept_match']:.2f}")
        for name, r in results[vname]["per_set"].items():
            pd = r["place_disjoint"]
            print(f"   {name[:40]:40s} n={pd['n']:4d} AUROC {_f(pd['auroc'])} "
                  f"ECE {_f(pd['ece'])} removed→no_match {pd['removed_flagged_no_match']:.2f} "
                  f"correct→match {_f(pd['correct_kept_match'])}")
        for k, v in results[vname]["estimate_confidence"].items():
            print(f"   estimate confidence, {k}: n={v['n']} AUROC {_f(v['auroc'])} "
                  f"ECE {_f(v['ece'])} truth within radius {_f(v['share_within'])} "
                  f"mean confidence {_f(v['mean_confidence'])}")
    if rerank:
        print("rerank:", json.dumps(rerank["per_set"]))


def sequence_main(args) -> None:
    """Sequence matching on the two image sequences, its fit added to the calibration file;
    the pooled figures combine it with the photo sets' out-of-fold p of the shipped photo fit
    (verified features, fitted on all five sets ranked photo by photo, as main() does) — what
    the app gives: photos alone, frames with their neighbours."""
    from benchmarks.calib_sequence import fit_sequence, sequence_samples, subset
    from geomatch_app.training.calibration import Calibration
    from geomatch_app.training.sequence import DEFAULT_HALF

    path = builtin_calibration_path(args.model)
    cal = Calibration.load(path)
    t_match, t_no = cal.match_threshold, cal.no_match_threshold
    seq_sets, photo = [], Samples()
    verifier = CachedVerifier(cache_dir() / args.model / "inliers.json")
    offset = 0
    for name in SETS:
        d = collect(name, args.model)
        data = LabelledSet(name, d.queries, d.gallery, d.qdesc, d.gdesc)
        st = gallery_stats(d.gdesc, d.gallery)
        if name in SEQUENCES:
            seq_sets.append((data, st))
        set_samples(data, st, samples=photo, verifier=verifier, query_offset=offset)
        offset += len(d.queries)
    verifier.save()
    results = {"model": args.model, "half": DEFAULT_HALF, "thresholds": [t_match, t_no]}
    by_half = {}
    for half in sorted({5, 15, 30, 50, DEFAULT_HALF}):
        seq, r1 = sequence_samples(seq_sets, half, args.model)
        model, meas = fit_sequence(seq, t_match, t_no)
        by_half[half] = (seq, model, meas)
        results[f"half_{half}"] = {"R@1": r1, **{k: v for k, v in meas.items() if k != "p_cv"}}
        print(f"half {half}: R@1 {json.dumps(r1)}")
        for n, r in [("pooled", meas["pooled"]), *meas["per_set"].items()]:
            print(f"   {n:20s} n={r['n']:4d} AUROC {_f(r['auroc'])} ECE {_f(r['ece'])} "
                  f"removed→no_match {_f(r['removed_flagged_no_match'])} "
                  f"correct→match {_f(r['correct_kept_match'])}")
    seq, model, meas = by_half[DEFAULT_HALF]
    a = photo.arrays()
    p_photo = cross_validated_p(a["x"], a["y"], place_folds(a["group"]),
                                balance_weights(a["set"]), VERIFIED_FEATURES)
    keep = a["top1"] & ~np.isin(a["set"], SEQUENCES)  # the photo sets' rankings
    top = subset(photo, keep)
    p_top = p_photo[keep]
    both = Samples(*(list(u) + list(v) for u, v in zip(
        ([np.zeros(1)] * len(top.y), top.y, top.group, top.set_name, top.top1, top.open_set,
         top.query, top.inliers),
        ([np.zeros(1)] * len(seq.y), seq.y, seq.group, seq.set_name, seq.top1, seq.open_set,
         [q + 10_000 for q in seq.query], seq.inliers), strict=True)))
    p_both = np.concatenate([p_top, meas["p_cv"]])
    results["photo_sets"] = measure(p_top, top, t_match, t_no)
    results["all_sets_pooled"] = measure(p_both, both, t_match, t_no)
    for n in ("photo_sets", "all_sets_pooled"):
        r = results[n]
        print(f"{n:20s} n={r['n']:4d} AUROC {_f(r['auroc'])} ECE {_f(r['ece'])} "
              f"removed→no_match {_f(r['removed_flagged_no_match'])} "
              f"correct→match {_f(r['correct_kept_match'])}")
    out = Path(__file__).parent / "results" / f"calibrate_{args.model}_sequence.json"
    out.write_text(json.dumps(results, indent=1, default=float) + "\n")
    if not args.no_write:
        cal.sequence = model
        cal.report["sequence"] = {"half": DEFAULT_HALF,
                                  "place_disjoint_5fold": results[f"half_{DEFAULT_HALF}"],
                                  "script": "benchmarks/calibrate.py --sequence"}
        print(f"calibration: {cal.save(path)}")
        card = models_dir() / f"{args.model}.md"
        if card.is_file():
            write_card_section(card, cal,
                               f"geomatch_app/resources/models/calibration/{args.model}.json")


if __name__ == "__main__":
    main()
