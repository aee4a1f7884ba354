"""What the catalogue-place prior (app.prior) does to R@1, with a correct and with a wrong place.

Gallery: the demo gallery (Berlin, Lund, the Bronx, Arezzo; resources/demo). Queries: the
query rows of ../shared/data/opensfm_berlin_lund (8) and fordham_places (11), each given the
place text of its own city ("correct") or of another city in the gallery ("wrong"). A query is
right at 1 when the top candidate shares its place_id (the sets' ground truth); 7 Fordham
queries show places the demo gallery lacks, so R@1 is also given over the 12 whose place is in
it, and "own city" counts a top candidate in the query's city (what a region can fix). Rankings are
the descriptor shortlist (top 100) re-weighted by the prior, before geometric verification.

Compared: no prior; the shipped rule (score − w·min(1, (d − r)/r), w = app.prior.WEIGHT) and
other weights; a hard filter (only candidates inside the region, when any is).
Usage: python benchmarks/prior_region.py [--index DIR] [--out benchmarks/results/prior_region.json]
"""

from __future__ import annotations

import argparse
import json
import tempfile
from dataclasses import replace
from pathlib import Path

from geomatch_app.app import prior as prior_
from geomatch_app.core.paths import demo_manifest, shared_data_dir
from geomatch_app.data.gallery import load_photos

PLACES = {"berlin": "Berlin, Germany", "lund": "Lund, Sweden", "fordham": "The Bronx, New York"}
WRONG = {"berlin": "Lund, Sweden", "lund": "Berlin, Germany", "fordham": "Arezzo, Italy"}
WEIGHTS = (0.02, 0.05, 0.10, 0.20, 0.50)


def city(place_id: str) -> str:
    return place_id.split("_")[0]


def hard_filter(cands, prior, k):
    region = prior.region
    inside = [c for c in cands if c.lat is None
              or region.distance_m(c.lat, c.lon) <= region.radius_m]
    keep = inside if any(c.lat is not None for c in inside) else cands
    return [replace(c, rank=n) for n, c in enumerate(keep[:k], start=1)]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--index", help="an index of the demo gallery (built when absent)")
    ap.add_argument("--out", default="benchmarks/results/prior_region.json")
    args = ap.parse_args()
    import torch

    torch.set_num_threads(1)
    from geomatch_app.index import Index, build_index

    data = shared_data_dir()
    queries = [q for s in ("opensfm_berlin_lund", "fordham_places")
               for q in load_photos(data / s / "manifest.csv", "query").photos]
    tmp = None
    if args.index is None:
        tmp = tempfile.TemporaryDirectory()
        args.index = tmp.name
        build_index(demo_manifest(), args.index, workers=0)
    index = Index.open(args.index, device="cpu")
    in_gallery = {index.photo(i).place_id for i in range(len(index))}
    shortlists = index.search_paths([str(q.path) for q in queries], k=100)
    priors = {kind: {c: prior_.from_text(t) for c, t in table.items()}
              for kind, table in (("correct", PLACES), ("wrong", WRONG))}
    rows: dict[str, dict] = {}
    shipped = prior_.WEIGHT

    def r_at_1(ranked_lists) -> dict:
        """R@1, R@5, and the share of the top 5 in the query's own city (what the curator
        looks at), over located candidates."""
        pairs = list(zip(queries, ranked_lists, strict=True))
        r1 = sum(bool(r) and r[0].place_id == q.place_id for q, r in pairs) / len(pairs)
        r5 = sum(any(c.place_id == q.place_id for c in r[:5]) for q, r in pairs) / len(pairs)
        top5 = [c for q, r in pairs for c in r[:5] if c.lat is not None]
        own = sum(city(c.place_id) == city(q.place_id) for q, r in pairs for c in r[:5]
                  if c.lat is not None)
        top1_city = sum(bool(r) and city(r[0].place_id) == city(q.place_id)
                        for q, r in pairs) / len(pairs)
        answerable = [(q, r) for q, r in pairs if q.place_id in in_gallery]
        r1_ans = sum(bool(r) and r[0].place_id == q.place_id for q, r in answerable)
        return {"R@1": round(r1, 3), "R@1_place_in_gallery": round(r1_ans / len(answerable), 3),
                "R@5": round(r5, 3), "top1_own_city": round(top1_city, 3),
                "top5_own_city": round(own / max(1, len(top5)), 3)}

    rows["no prior"] = {"any": r_at_1([s[:20] for s in shortlists])}
    for w in WEIGHTS:
        prior_.WEIGHT = w
        rows[f"re-weight w={w:g}"] = {
            kind: r_at_1([prior_.apply(s, ps[city(q.place_id)], 20)[0]
                          for q, s in zip(queries, shortlists, strict=True)])
            for kind, ps in priors.items()}
    prior_.WEIGHT = shipped
    rows["hard filter"] = {
        kind: r_at_1([hard_filter(s, ps[city(q.place_id)], 20)
                      for q, s in zip(queries, shortlists, strict=True)])
        for kind, ps in priors.items()}
    regions = {c: p.region.describe() for c, p in priors["correct"].items()}
    cross = sum(bool(s) and city(s[0].place_id) != city(q.place_id)
                for q, s in zip(queries, shortlists, strict=True))
    out = {"queries": len(queries),
           "queries_whose_place_is_in_gallery": sum(q.place_id in in_gallery for q in queries),
           "top1_in_another_city_without_prior": cross,
           "gallery": len(index), "regions": regions, "r_at_1": rows, "model": index.model_name,
           "rule": prior_.RULE}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=1))
    print(json.dumps(out, indent=1))
    if tmp is not None:
        tmp.cleanup()


if __name__ == "__main__":
    main()
