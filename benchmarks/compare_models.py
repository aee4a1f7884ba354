"""Experiment runner: train and evaluate a list of model configs on the ../shared/data sets.

Not a test: it trains for minutes. One JSON config lists the runs (see benchmarks/configs/);
every run trains (or not, ``"train": false`` = off-the-shelf) on the union of the sets'
training splits and is scored on each set's test split. Splits are place-disjoint and fixed by
the seed: per set the places are ordered (sequence number, position, name), the last
``test_fraction`` is the test block, the ``val_fraction`` before it validation, the rest
training, with ``gap`` places dropped between blocks so no neighbouring frame crosses over.
Test queries are ranked against the set's whole gallery (as the app would); a retrieved photo is
correct with the same place_id (exact frame for Nordland / corridor) or within 25 m.

Config keys besides the runs: ``max_test_queries`` (evenly spaced subsample of each test
split), ``max_train_queries_per_set``, ``place_block`` ({set: n}: keep only the middle n places
of a numbered sequence, queries and gallery alike). A run whose training settings say
``"cache_trunk": true`` (with ``freeze_below`` and optionally ``trunk_cache_dir``) trains on
cached trunk maps (training/trunk_cache.py) and is also *scored* through them, off-the-shelf
runs included: same descriptors, a fraction of the compute.

Writes ``benchmarks/results/compare_<name>.json`` and ``.md``: R@1/5/10/20 per set, descriptor
dim, parameters and ms/image (embedding the test gallery, one thread, same process).

    .venv/bin/python benchmarks/compare_models.py benchmarks/configs/paper_c.json
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from geomatch_app.core.paths import shared_data_dir
from geomatch_app.data.gallery import load_photos
from geomatch_app.training.promotion import promotion
from geomatch_app.training.sources import (
    MatchRules,
    TrainData,
    TrainSplit,
    from_photos,
    match_sets,
    merge_data,
    place_key,
    split_places,
)
from geomatch_app.training.trainer import TrainConfig, auto_init_netvlad, train
from geomatch_app.training.validation import evaluate_split

log = logging.getLogger("compare_models")

SEQUENCE_SETS = {"nordland_seqslam", "corridor_vprbench"}  # numbered place ids, ±frames
RESULTS = Path(__file__).parent / "results"


# ---------------------------------------------------------------------------- extra models


def register_experiment_models() -> None:
    """Heads of the papers on the MobileNetV2 trunk (ImageNet weights offline), registered for
    the experiments only: mobilenetv2-{vlad,crn,crn2,a1,a2,a1a2,haf,haf1} (f_avg / f_max are
    the built-in mobilenetv2-avg / mobilenetv2-max). The NetVLAD family uses K = 16 clusters
    here (20 480-D instead of 64 × 1280 = 81 920-D), so 3 576 Nordland gallery descriptors fit
    the shared machine's memory."""
    from geomatch_app.models import layers, registry
    from geomatch_app.models.backbones import MobileNetV2Trunk
    from geomatch_app.models.haf import HAFHead
    from geomatch_app.models.place import PlaceModel

    def pooled(kind):
        def build(pretrained: bool = True, clusters: int = 16):
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(0)
                trunk = MobileNetV2Trunk(pretrained)
                c = trunk.out_channels
                head = {"vlad": lambda: layers.NetVLAD(c, clusters),
                        "crn": lambda: layers.CRNNetVLAD(c, clusters, kind="crn"),
                        "crn2": lambda: layers.CRNNetVLAD(c, clusters, kind="crn2"),
                        "a1": lambda: layers.AttentionNetVLAD(c, clusters, mode="a1"),
                        "a2": lambda: layers.AttentionNetVLAD(c, clusters, mode="a2"),
                        "a1a2": lambda: layers.AttentionNetVLAD(c, clusters, mode="a1a2"),
                        }[kind]()
                dim = getattr(head, "out_dim", c)
                return PlaceModel(trunk, head, dim=dim)
        return build

    class Taps(torch.nn.Module):
        """MobileNetV2 features tapped at strides 8 / 16 / 32 (32, 96, 1280 channels)."""

        def __init__(self, pretrained: bool, taps=(6, 13, 18)):
            super().__init__()
            self.features = MobileNetV2Trunk(pretrained).features
            self.taps = taps

        def forward(self, x):
            outs = []
            for i, layer in enumerate(self.features):
                x = layer(x)
                if i in self.taps:
                    outs.append(x)
            return outs

    def haf(levels):
        def build(pretrained: bool = True):
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(0)
                if levels == 3:
                    trunk, head = Taps(pretrained), HAFHead((32, 96, 1280), 256)
                else:  # single level: conv5 only, weight 1
                    trunk = Taps(pretrained, taps=(18,))
                    head = HAFHead((1280,), 256, weights=(1.0,))
                return PlaceModel(trunk, head, dim=head.out_dim)
        return build

    registry._ensure_loaded()  # built-ins first: an experiment name never shadows one
    for kind in ("vlad", "crn", "crn2", "a1", "a2", "a1a2"):
        name = f"mobilenetv2-{kind}"
        if name not in registry._REGISTRY:
            registry.register_model(name, source="experiments", backbone="MobileNetV2",
                                    head=kind)(pooled(kind))
    for name, levels in (("mobilenetv2-haf", 3), ("mobilenetv2-haf1", 1)):
        if name not in registry._REGISTRY:
            registry.register_model(name, source="experiments (paper B on MobileNetV2)",
                                    backbone="MobileNetV2 taps", head=f"HAF {levels} level(s)"
                                    )(haf(levels))


# ---------------------------------------------------------------------------- data


def rules_for(name: str, training: bool) -> MatchRules:
    if name in SEQUENCE_SETS:
        return MatchRules(pos_frames=1 if training else 0, neg_frames=2)
    return MatchRules()


def place_block(queries, gallery, n: int):
    """Queries and gallery of the middle ``n`` places of a numbered sequence (config key
    ``place_block``: a contiguous stretch keeps Nordland's neighbouring frames, which are its
    positives and its hardest negatives, while shrinking a set a CPU cannot embed in time)."""
    import re

    def num(p) -> int:
        m = re.search(r"(\d+)$", p.place_id or "")
        return int(m.group(1)) if m else -1

    keys = sorted({num(q) for q in queries if num(q) >= 0})
    if len(keys) <= n:
        return queries, gallery
    start = (len(keys) - n) // 2
    keep = set(keys[start:start + n])
    return [q for q in queries if num(q) in keep], [g for g in gallery if num(g) in keep]


def split_set(name: str, root: Path, cfg: dict):
    """(TrainData of the training/validation places, test queries, full gallery)."""
    manifest = root / name / "manifest.csv"
    queries = [q for q in load_photos(manifest, "query").photos if place_key(q)]
    gallery = load_photos(manifest, "gallery").photos
    block = (cfg.get("place_block") or {}).get(name)
    if block:
        queries, gallery = place_block(queries, gallery, int(block))
    train_rules = rules_for(name, True)
    gap = max(train_rules.neg_frames, 0)
    rest_places, test_places = split_places(queries, cfg.get("test_fraction", 0.3), gap=gap)
    test_q = [q for q in queries if place_key(q) in test_places]
    rest_q = [q for q in queries if place_key(q) in rest_places]
    # no gallery photo near a test query is ever trained on
    _, near_test = match_sets(test_q, gallery, train_rules)
    banned = set(np.concatenate(near_test).tolist()) if near_test else set()
    train_gallery = [g for i, g in enumerate(gallery) if i not in banned]
    data = from_photos(rest_q, train_gallery, train_rules,
                       val_fraction=cfg.get("val_fraction", 0.2), description=name,
                       max_train_queries=cfg.get("max_train_queries_per_set"),
                       seed=cfg.get("seed", 0))
    max_test = cfg.get("max_test_queries")
    if max_test and len(test_q) > max_test:
        pick = np.linspace(0, len(test_q) - 1, max_test).round().astype(int)
        test_q = [test_q[i] for i in pick]
    return data, test_q, gallery


def test_split(name: str, test_q, gallery) -> TrainSplit:
    rules = rules_for(name, False)
    return TrainSplit(test_q, gallery, *match_sets(test_q, gallery, rules), description=name)


# ---------------------------------------------------------------------------- runs


def measure(model, name: str, split: TrainSplit, image_size: int | None, cache=None) -> dict:
    """Recall on one test split; with a trunk cache the descriptors come from cached maps (the
    same numbers, see training/trunk_cache.py) and ms/image is timed on 32 gallery photos
    through the whole model, so the column means the same in every run."""
    if image_size:
        model.preprocess = replace(model.preprocess, size=int(image_size))
    t0 = time.perf_counter()
    embed = None if cache is None else cache.embed
    rec = evaluate_split(model, split, rules_for(name, False), device="cpu", workers=0,
                         embed=embed)
    n = len(split.queries) + len(split.gallery)
    ms = 1000 * (time.perf_counter() - t0) / max(1, n)
    if cache is not None:
        from geomatch_app.index.extract import embed_paths

        sample = [p.path for p in split.gallery[:32]]
        t0 = time.perf_counter()
        embed_paths(model, sample, device="cpu", workers=0, engine="torch")
        ms = 1000 * (time.perf_counter() - t0) / max(1, len(sample))
    return {"recall": rec, "ms_per_image": ms, "cached_trunk": cache is not None,
            "n_queries": len(split.queries), "n_gallery": len(split.gallery)}


def trunk_cache_for(model, kw: dict):
    """The TrunkCache of a run whose training settings say ``cache_trunk`` (None otherwise):
    the cut is the run's ``freeze_below``; maps are shared through ``trunk_cache_dir``."""
    if not kw.get("cache_trunk"):
        return None
    from geomatch_app.training.trainer import freeze_lower
    from geomatch_app.training.trunk_cache import TrunkCache

    cut = freeze_lower(model, kw.get("freeze_below"))
    for p in model.parameters():
        p.requires_grad_(True)
    return TrunkCache(model, cut, directory=kw.get("trunk_cache_dir") or None)


def run_one(run: dict, cfg: dict, data: TrainData, tests: dict, out_root: Path) -> dict:
    from geomatch_app.models import get_model

    label = run["label"]
    size = run.get("image_size", cfg.get("image_size"))
    t0 = time.perf_counter()
    info: dict = {"label": label, "model": run["model"], "trained": bool(run.get("train", True))}
    # an override "seed" re-seeds training only (mining, order, jitter); splits keep cfg's
    kw = {"seed": cfg.get("seed", 0), **cfg.get("train", {}), **run.get("overrides", {})}
    if run.get("train", True):
        tc = TrainConfig(model=run["model"], out_dir=str(out_root / _slug(label)),
                         image_size=size, device="cpu", min_pairs=1, **kw)
        target = _all_rows(shared_data_dir() / run["target"] / "manifest.csv") \
            if run.get("target") else []
        res = train(data, tc, target=target)
        model = get_model(str(res.model_dir))
        info.update(val_before=res.before, val_after=res.after, improved=res.improved,
                    netvlad_init=res.netvlad_init, n_target=len(target),
                    train_s=round(res.elapsed_s, 1), config={k: v for k, v in kw.items()},
                    loss_terms=loss_terms(res.events))
    else:
        model = get_model(run["model"])
        if size:
            model.preprocess = replace(model.preprocess, size=int(size))
        model.eval()
        init = auto_init_netvlad(model, data, TrainConfig(model=run["model"], out_dir="-"),
                                 progress=_quiet(), cache=trunk_cache_for(model, kw))
        info["netvlad_init"] = init
    model.eval()
    if size:
        model.preprocess = replace(model.preprocess, size=int(size))
    cache = trunk_cache_for(model, kw)
    info["dim"] = int(model.dim)
    info["params"] = int(sum(p.numel() for p in model.parameters()))
    info["image_size"] = int(size or model.preprocess.size)
    info["sets"] = {}
    for name, split in tests.items():
        info["sets"][name] = measure(model, name, split, size, cache)
        r = info["sets"][name]["recall"]
        log.info("%s on %s: %s", label, name, " ".join(f"{k}={v:.3f}" for k, v in r.items()))
    info["wall_s"] = round(time.perf_counter() - t0, 1)
    return info


def loss_terms(events: list[dict], n: int = 10) -> dict:
    """Mean of each loss term (ranking L_r, MK-MMD M, total) over the first and the last ``n``
    optimiser steps and over eighths of training (``curve``): shows whether α·M dwarfs L_r
    (paper A Eq. 1), which term fell, and a collapse (ranking L_r stuck at n_neg × margin:
    every negative is as close to the query as its positive)."""
    steps = [e["losses"] for e in events if e.get("losses")]
    out: dict = {"steps": len(steps)}
    for key in sorted({k for s in steps for k in s}):
        vals = [s[key] for s in steps if key in s]
        out[key] = {"first": float(np.mean(vals[:n])), "last": float(np.mean(vals[-n:])),
                    "mean": float(np.mean(vals)),
                    "curve": [float(np.mean(c)) for c in np.array_split(vals, 8) if len(c)]}
    return out


def _all_rows(manifest: Path) -> list[str]:
    from geomatch_app.training.sources import target_paths

    return target_paths(manifest)


def _quiet():
    from geomatch_app.core.progress import Progress

    return Progress()


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in text.lower()).strip("-")


def markdown(results: list[dict], sets: list[str], title: str) -> str:
    head = "| run | dim | params | ms/img | " + " | ".join(f"{s} R@1/5/10/20" for s in sets)
    head += " | val R@1 / R@20 before → after"
    lines = [f"### {title}", "", head + " |", "|---|---|---|---|" + "---|" * (len(sets) + 1)]
    for r in results:
        cells = []
        for s in sets:
            rec = r["sets"].get(s, {}).get("recall", {})
            cells.append("/".join(f"{100 * rec.get(k, float('nan')):.0f}"
                                  for k in ("R@1", "R@5", "R@10", "R@20")))
        ms = np.mean([v["ms_per_image"] for v in r["sets"].values()]) if r["sets"] else 0
        vb, va = r.get("val_before") or {}, r.get("val_after") or {}
        val = (f"{100 * vb.get('R@1', 0):.1f} / {100 * vb.get('R@20', 0):.1f} → "
               f"{100 * va.get('R@1', 0):.1f} / {100 * va.get('R@20', 0):.1f}"
               if va else "–")
        lines.append(f"| {r['label']} | {r['dim']} | {r['params'] / 1e6:.2f} M | {ms:.1f} | "
                     + " | ".join(cells) + f" | {val} |")
    return "\n".join(lines) + "\n"


def promotion_markdown(verdicts: list[dict]) -> str:
    if not verdicts:  # the config names no promotion base: no heading without verdicts
        return ""
    lines = ["", "Promotion rule (no worse on every split, better on one and on the mean):", ""]
    for v in verdicts:
        worse = [k for k, x in v["sets"].items() if not x["no_worse"]]
        better = [k for k, x in v["sets"].items() if x["better"]]
        lines.append(f"- {v['candidate']} vs {v['base']}: "
                     f"{'**promote**' if v['promote'] else '**keep the base**'} — mean R@k "
                     f"{100 * v['base_mean']:.1f} → {100 * v['cand_mean']:.1f}; better on "
                     f"{', '.join(better) or 'none'}; worse on {', '.join(worse) or 'none'}")
    return "\n".join(lines) + "\n"


def verdicts_for(cfg: dict, results: list[dict]) -> list[dict]:
    """Config key ``promotion``: {"base": label, "candidates": [labels]}."""
    rule = cfg.get("promotion") or {}
    by = {r["label"]: r for r in results}
    base = by.get(rule.get("base", ""))
    if base is None:
        return []
    return [promotion(base, by[c], cfg["sets"]) for c in rule.get("candidates", []) if c in by]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("config", help="JSON file with sets, common training settings and runs")
    ap.add_argument("--only", default="", help="comma-separated run labels to run")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--markdown-only", action="store_true",
                    help="rewrite the .md table from the existing JSON results")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    torch.set_num_threads(args.threads)
    cfg = json.loads(Path(args.config).read_text())
    if args.markdown_only:
        stem = RESULTS / f"compare_{cfg['name']}"
        doc = json.loads(stem.with_suffix(".json").read_text())
        stem.with_suffix(".md").write_text(
            markdown(doc["runs"], cfg["sets"], cfg["name"])
            + promotion_markdown(verdicts_for(cfg, doc["runs"])))
        print(stem.with_suffix(".md").read_text())
        return 0
    root = shared_data_dir()
    if root is None:
        print("../shared/data is absent", file=sys.stderr)
        return 2
    register_experiment_models()
    parts, tests = [], {}
    for name in cfg["sets"]:
        data, test_q, gallery = split_set(name, root, cfg)
        parts.append(data)
        tests[name] = test_split(name, test_q, gallery)
        log.info("%s: %d train pairs, %d val queries, %d test queries, gallery %d", name,
                 data.n_pairs, len(data.val.queries), len(test_q), len(gallery))
    data = merge_data(parts, "union of the shared training splits")
    only = {s.strip() for s in args.only.split(",") if s.strip()}
    RESULTS.mkdir(exist_ok=True)
    stem = RESULTS / f"compare_{cfg['name']}"
    old = json.loads(stem.with_suffix(".json").read_text()) if (only and stem.with_suffix(
        ".json").is_file()) else {"runs": []}
    done = {r["label"]: r for r in old["runs"]}
    with tempfile.TemporaryDirectory() as tmp:
        out_root = Path(cfg.get("out_root") or tmp)
        for run in cfg["runs"]:
            if only and run["label"] not in only:
                continue
            done[run["label"]] = run_one(run, cfg, data, tests, out_root)
            results = [done[r["label"]] for r in cfg["runs"] if r["label"] in done]
            doc = {"name": cfg["name"], "config": cfg, "threads": args.threads,
                   "n_train_pairs": data.n_pairs, "n_val_queries": len(data.val.queries),
                   "tests": {k: {"n_queries": len(v.queries), "n_gallery": len(v.gallery)}
                             for k, v in tests.items()}, "runs": results,
                   "promotion": verdicts_for(cfg, results)}
            stem.with_suffix(".json").write_text(json.dumps(doc, indent=1, default=str))
            stem.with_suffix(".md").write_text(markdown(results, cfg["sets"], cfg["name"])
                                               + promotion_markdown(doc["promotion"]))
    print(stem.with_suffix(".md").read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
