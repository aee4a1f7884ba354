"""``geomatch eval --queries MANIFEST --index DIR [--index DIR2 ...]``: the papers' metrics.

Recall@1/5/10/20 of the ranking, accuracy of the kernel-density location estimate at 1 / 25 /
200 / 750 / 2500 km with the median error, and the geocell and top-1 baselines, for one or more
indexes side by side. Writes JSON, a per-query CSV and an HTML report on request.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from geomatch_app.commands import args as a
from geomatch_app.core.progress import terminal_progress


def add_parser(sub) -> None:
    p = sub.add_parser(
        "eval", help="Recall@N and geolocation accuracy of one or more indexes on a query set",
        description="Scores the manifest's split=query rows against each index. A query is "
        "correct at N when one of its top N lies within --threshold metres (when query and "
        "gallery photo have coordinates) or has the same place_id.")
    p.add_argument("--queries", required=True,
                   help="manifest.csv with split=query rows, or a folder in the gmberton "
                   "layout (images/test/queries; recall also computed as "
                   "VPR-methods-evaluation does)")
    p.add_argument("--index", required=True, action="append", metavar="DIR",
                   help="index folder; repeat to compare several indexes/models")
    p.add_argument("--json", metavar="OUT", help="write the metrics as JSON ('-' = stdout)")
    p.add_argument("--csv", metavar="OUT", help="write one row per query (failures to inspect)")
    p.add_argument("--report", metavar="OUT", help="write an HTML report (recall curve, error map)")
    p.add_argument("--threshold", type=a.positive_float, default=25.0,
                   help="metres within which a retrieved photo counts as a match (default 25)")
    p.add_argument("--sigma-km", type=a.positive_float, default=None,
                   help="kernel bandwidth of the location estimate in km (default 0.05)")
    p.add_argument("-m", type=a.non_negative_float, default=None,
                   help="similarity exponent w = s^m (default 10)")
    p.add_argument("-k", type=a.positive_int, default=None,
                   help="neighbours voting on the location (default 100)")
    p.add_argument("--geocell-size", type=a.positive_int, default=5,
                   help="max gallery photos per geocell for the geocell baseline (default 5)")
    p.add_argument("--device", default="auto", type=a.device,
                   help="cpu, cuda or auto (default)")
    p.add_argument("--no-verify", action="store_true",
                   help="calibration without geometric verification of the top 5 (faster)")
    p.add_argument("--sequence", action="store_true",
                   help="rank each query that is a frame of a query sequence (place ids "
                   "name_<number>) with up to 40 neighbouring query frames either side, when "
                   "the gallery is an image sequence too (sequence matching, as `geomatch "
                   "query` does by default for a folder of numbered frames)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from geomatch_app.data.gallery import load_photos
    from geomatch_app.geo.kde import DEFAULT_K, DEFAULT_M, DEFAULT_SIGMA_KM
    from geomatch_app.training.evaluation import (
        RECALL_NS,
        check_ground_truth,
        comparison_table,
        evaluate,
        write_csv,
        write_report,
    )

    sigma = args.sigma_km or DEFAULT_SIGMA_KM
    m = DEFAULT_M if args.m is None else args.m
    k = args.k or DEFAULT_K
    report = load_photos(args.queries, role="query")
    for path, reason in report.skipped:
        print(f"skipped query {path}: {reason}", file=sys.stderr)
    queries, n_unlabelled = check_ground_truth(report.photos, args.queries)
    if n_unlabelled:
        print(f"{n_unlabelled} query photos have neither place_id nor lat/lon and are left out",
              file=sys.stderr)

    results = []
    rankings_by_run = []
    verifier = None
    if not args.no_verify:
        from geomatch_app.models.verify import Verifier

        verifier = Verifier()  # inliers depend on the photos only: shared by every index
    for index_dir in args.index:
        model, qs, rankings, votes, centroid, seq = _rank(
            index_dir, queries, max(max(RECALL_NS), k), args.geocell_size, m, args.device,
            args.sequence)
        rankings_by_run.append((index_dir, {q.path: [c.path for c in cands]
                                            for q, cands in zip(qs, rankings, strict=True)}))
        label = Path(index_dir).name or str(index_dir)
        results.append(evaluate(
            qs, rankings, label=label, model=model, threshold_m=args.threshold, sigma_km=sigma,
            m=m, k=k, geocell_votes=votes, geocell_centroid=centroid,
            n_skipped=n_unlabelled + len(report.skipped) + len(queries) - len(qs),
            progress=terminal_progress(f"scoring {label}")))
        results[-1].calibration = _calibration(index_dir, qs, rankings, args, verifier, seq)
        if args.sequence:
            print(f"{label}: {sum(seq)} of {len(qs)} queries ranked with their neighbouring "
                  "frames (sequence matching)")

    summaries = [r.summary() for r in results]
    vpr = _gmberton_recall(args.queries, report.photos, args.index, rankings_by_run)
    for summary, extra in zip(summaries, vpr, strict=False):
        summary["vpr_methods_evaluation"] = extra
    first = summaries[0]
    gt = first["ground_truth"]
    print(f"{first['n_queries']} queries; ground truth: {gt['by_distance']} by distance "
          f"≤ {args.threshold:g} m (coordinates), {gt['by_place_id']} by place_id; "
          f"location estimate: KDE σ = {sigma:g} km, m = {m:g}, k = {k}")
    print(comparison_table(results))
    for r in results:
        print(_calibration_line(r))
    if first["n_located"] == 0:
        print("no query has coordinates: km accuracy is not available")
    if vpr:
        v0 = vpr[0]
        print(f"VPR-methods-evaluation recall (gmberton layout: positives = database images "
              f"≤ {v0['radius_m']:g} m in UTM; all {v0['n_queries']} queries counted, "
              f"{v0['n_with_positive']} have a positive):")
        for (index_dir, _), v in zip(rankings_by_run, vpr, strict=True):
            vals = "  ".join(f"{key} {val:.1f}" for key, val in v["recall"].items())
            print(f"  {Path(index_dir).name or index_dir}: {vals}")

    if args.json:
        data = {**first, "runs": summaries}
        text = json.dumps(data, indent=1)
        if args.json == "-":
            print(text)
        else:
            Path(args.json).parent.mkdir(parents=True, exist_ok=True)
            Path(args.json).write_text(text + "\n")
            print(f"metrics: {args.json}")
    if args.csv:
        print(f"per-query CSV: {write_csv(args.csv, results)}")
    if args.report:
        print(f"report: {write_report(args.report, results, title=str(args.queries))}")
    return 0


def _gmberton_recall(source: str, queries, index_dirs, rankings_by_run) -> list[dict]:
    """For a query folder in the gmberton layout, recall exactly as VPR-methods-evaluation
    computes it (UTM radius 25 m, every query in the denominator); [] for other sources."""
    from geomatch_app.data import gmberton

    if not Path(source).is_dir() or gmberton.find_root(source) is None:
        return []
    from geomatch_app.index import Index

    out = []
    for index_dir, ranked in rankings_by_run:
        gallery = Index.open(index_dir).photos
        out.append(gmberton.vpr_recall(queries, gallery, ranked))
    return out


def _calibration(index_dir: str, queries, rankings, args, verifier=None,
                 sequence: list[bool] | None = None) -> dict | None:
    """calibration_summary of one index (None when its model has no calibration): every
    query judged on its ranking and on the gallery without its true place (open set). A
    sequence ranking is read by the calibration's sequence fit, without verification."""
    from geomatch_app.index import Index
    from geomatch_app.training.calibration import (
        index_gallery_stats,
        judge,
        load_calibration,
        rerank_by_p,
        without_place,
    )
    from geomatch_app.training.evaluation import calibration_summary

    idx = Index.open(index_dir, device=args.device)
    cal = load_calibration(idx.fingerprint)
    if cal is None or not rankings:
        return None
    sequence = sequence or [False] * len(queries)
    if any(sequence) and cal.sequence is None:
        print(f"{index_dir}: the calibration of {idx.model_name} has no sequence fit; "
              "sequence rankings are not judged", file=sys.stderr)
        return None
    stats = index_gallery_stats(idx)  # computed once, cached in the index folder
    rule = stats.place_rule(args.threshold) if stats is not None else None
    verify = verifier is not None and cal.verified is not None
    bar = terminal_progress(f"calibration ({idx.model_name})")
    judged, removed, reranked = [], [], []
    for i, (q, cands) in enumerate(zip(queries, rankings, strict=True)):
        bar.step(i, len(queries), "judging")
        kw = {"calibration": cal, "verify": verify and not sequence[i], "rerank": False,
              "verifier": verifier, "stats": stats, "sequence": sequence[i]}
        j = judge(idx, q.path, cands, **kw)
        judged.append(j)
        reranked.append(rerank_by_p(j.candidates, int(cal.rerank.get("k", 5))))
        rest = without_place(q, cands, args.threshold, rule, related=sequence[i])
        removed.append(judge(idx, q.path, rest, **kw) if rest else None)
    bar.step(len(queries), len(queries), "judged")
    return calibration_summary(queries, judged, removed, cal.match_threshold,
                               cal.no_match_threshold, reranked if verify else None,
                               args.threshold, rule)


def _calibration_line(res) -> str:
    c = res.calibration
    if c is None:
        return f"{res.label}: no calibration for model {res.model} (raw scores only)"

    def f(v):
        return "-" if v is None else f"{v:.3f}"

    o = c["open_set"]
    line = (f"{res.label}: calibration top-1 AUROC {f(c['auroc'])}, ECE {f(c['ece'])} "
            f"(n={c['n']}); open set: {f(o['removed_flagged_no_match'])} of removed-place "
            f"queries flagged no_match, {f(o['correct_kept_match'])} of correct top-1 kept "
            "as match")
    if "recall_1_reranked" in c:
        line += f"; R@1 re-ranked by verification {f(c['recall_1_reranked'])}"
    return line


def _rank(index_dir: str, queries, k: int, geocell_size: int, m: float, device: str,
          sequence: bool = False):
    """Rankings plus geocell-baseline predictions for the queries that could be embedded, and
    per query whether it was ranked with its neighbouring frames (``sequence``)."""
    import numpy as np

    from geomatch_app.geo.geocell import (
        build_geocells,
        cell_descriptors,
        predict_by_centroid,
        predict_by_members,
    )
    from geomatch_app.index import Index

    idx = Index.open(index_dir, device=device)
    errors: list[tuple[str, str]] = []
    descs = idx.embed_paths([q.path for q in queries],
                            progress=terminal_progress(f"embedding queries ({idx.model_name})"),
                            errors=errors)
    for path, reason in errors:
        print(f"skipped query {path}: {reason}", file=sys.stderr)
    ok = ~np.isnan(descs).any(axis=1)
    queries = [q for q, good in zip(queries, ok, strict=True) if good]
    descs = descs[ok]
    rankings = idx.search(descs, k=k) if len(descs) else []
    used = [False] * len(rankings)
    if sequence and len(descs):
        used = _sequence_rankings(idx, queries, descs, rankings, k)

    gallery = idx.photos
    lat = np.array([np.nan if p.lat is None else p.lat for p in gallery])
    lon = np.array([np.nan if p.lon is None else p.lon for p in gallery])
    cells = build_geocells(lat, lon, max_photos=geocell_size)
    if not cells:
        return idx.model_name, queries, rankings, None, None, used
    gallery_cell = {p.path: -1 for p in gallery}
    for c in cells:
        for i in c.members:
            gallery_cell[gallery[int(i)].path] = c.id
    votes = []
    for cands in rankings:
        cell = predict_by_members(cands, cells, gallery_cell, m=m)
        votes.append(None if cell is None else (cell.lat, cell.lon))
    cd = cell_descriptors(idx.descriptors(), cells)
    centroid = [(cells[i].lat, cells[i].lon) for i in predict_by_centroid(descs, cd)]
    return idx.model_name, queries, rankings, votes, centroid, used


def _sequence_rankings(idx, queries, descs, rankings, k: int) -> list[bool]:
    """Replace the ranking of every query frame that has neighbouring query frames by its
    sequence ranking (training.sequence), in place; which ones were replaced."""
    from geomatch_app.training.sequence import (
        index_order,
        query_offsets,
        sequence_search,
    )

    order = index_order(idx)
    used = [False] * len(queries)
    if not order.usable:
        print(f"{idx.folder}: the gallery holds no image sequence; every query ranked alone",
              file=sys.stderr)
        return used
    for i, offs in enumerate(query_offsets([q.place_id for q in queries])):
        if offs:
            ids, scores, _n = sequence_search(idx.structure.search,
                                              {o: descs[r] for o, r in offs.items()}, order, k)
            rankings[i] = idx.candidates(ids[None], scores[None])[0]
            used[i] = True
    return used
