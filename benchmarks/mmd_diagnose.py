"""Why does paper A's MK-MMD term (L_u = L_r + α·M, α = 0.99, Eq. 1) hurt on our data?

Not a test: a one-minute diagnostic on a few real training batches, the same data, model,
96 px input and hard-negative mining as ``benchmarks/configs/paper_a.json``. For each batch it
reports, at the start of training:

- the two terms, L_r (ranking loss, Eq. 3) and M (MK-MMD on the conv5 maps, Eq. 7), and the
  norms of their gradients on the trainable weights, with the cosine between them: how much of
  each step α·M decides;
- M toward the old photos next to M between two halves of the *source* batch (same sizes): a
  small-sample null reference, i.e. how much of M is estimator noise rather than domain gap;
- the five kernel bandwidths σ² (median heuristic × 2^−2..2) and how the pairwise distances
  d/σ² fall under them (a kernel with every exp(−d/σ²) ≈ 0 or ≈ 1 carries no signal).

Writes ``benchmarks/results/mmd_diagnose.json``.

    .venv/bin/python benchmarks/mmd_diagnose.py [--model mobilenetv2-a1a2] [--batches 4]
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).parent))
import compare_models as cm  # noqa: E402

from geomatch_app.core.paths import shared_data_dir  # noqa: E402
from geomatch_app.core.progress import Progress  # noqa: E402
from geomatch_app.models import get_model, losses  # noqa: E402
from geomatch_app.training.augment import AugmentConfig, ImageSource  # noqa: E402
from geomatch_app.training.mining import Miner  # noqa: E402
from geomatch_app.training.objective import Layout, Outputs, objective  # noqa: E402
from geomatch_app.training.sources import merge_data, target_paths  # noqa: E402
from geomatch_app.training.trainer import TrainConfig, auto_init_netvlad, freeze_lower  # noqa: E402

log = logging.getLogger("mmd_diagnose")


def bandwidths(src: torch.Tensor, tgt: torch.Tensor, n_kernels: int = 5,
               kernel_mul: float = 2.0) -> dict:
    """The σ² that :func:`losses.mk_mmd` uses for this batch and how d/σ² spreads under them."""
    joint = torch.cat([src.flatten(1), tgt.flatten(1)])
    d = losses.pairwise_sq_dist(joint)
    off = d[~torch.eye(len(joint), dtype=torch.bool)]
    base = float(off.quantile(0.5))
    out = {"median_sq_dist": base, "min_sq_dist": float(off.min()),
           "max_sq_dist": float(off.max()), "kernels": []}
    for i in range(n_kernels):
        s2 = base * kernel_mul ** (i - (n_kernels - 1) / 2.0)
        k = torch.exp(-off / s2)
        out["kernels"].append({"sigma2": s2, "k_mean": float(k.mean()),
                               "k_min": float(k.min()), "k_max": float(k.max()),
                               "informative": float(((k > 0.05) & (k < 0.95)).float().mean())})
    return out


def grad_norm(loss: torch.Tensor, params: list[torch.Tensor]) -> tuple[float, torch.Tensor]:
    grads = torch.autograd.grad(loss, params, retain_graph=True, allow_unused=True)
    flat = torch.cat([(g if g is not None else torch.zeros_like(p)).flatten()
                      for g, p in zip(grads, params, strict=True)])
    return float(flat.norm()), flat


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", default=str(Path(__file__).parent / "configs" / "paper_a.json"))
    ap.add_argument("--model", default="mobilenetv2-a1a2")
    ap.add_argument("--batches", type=int, default=4)
    ap.add_argument("--alpha", type=float, default=0.99)
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    torch.set_num_threads(1)
    cfg = json.loads(Path(args.config).read_text())
    root = shared_data_dir()
    if root is None:
        print("../shared/data is absent", file=sys.stderr)
        return 2
    cm.register_experiment_models()
    data = merge_data([cm.split_set(n, root, cfg)[0] for n in cfg["sets"]], "union")
    tcfg = cfg["train"]
    size = int(cfg["image_size"])
    model = get_model(args.model)
    model.preprocess = replace(model.preprocess, size=size)
    model.eval()
    auto_init_netvlad(model, data, TrainConfig(model=args.model, out_dir="-"), Progress())
    freeze_lower(model, None)
    params = [p for p in model.parameters() if p.requires_grad]
    source = ImageSource(model.preprocess, AugmentConfig(enabled=False), seed=0)
    target = target_paths(root / "old_photos" / "manifest.csv")
    split = data.train
    rng = np.random.default_rng(0)

    def embed(paths: list[str]) -> np.ndarray:
        with torch.no_grad():
            return np.concatenate([model(source.batch(paths[i:i + 64], augment=False)).numpy()
                                   for i in range(0, len(paths), 64)])

    def embed_for_mining(g_idx, q_idx):
        return (embed([split.gallery[int(i)].path for i in g_idx]),
                embed([split.queries[int(i)].path for i in q_idx]))

    b, n_neg = int(tcfg["batch_size"]), int(tcfg["n_neg"])
    order = rng.permutation(len(split))[:b * args.batches]
    miner = Miner(split, embed_for_mining, n_cache=int(tcfg["neg_cache"]), n_hard=n_neg,
                  refresh_every=len(order), seed=0)
    tuples = list(miner.tuples(order))
    outputs = Outputs(model, maps=True)
    rank_cfg = TrainConfig(model=args.model, out_dir="-")
    rows = []
    for k in range(0, len(tuples) - b + 1, b):
        batch = tuples[k:k + b]
        mask = torch.zeros(b, n_neg, dtype=torch.bool)
        negs_all = []
        for i, t in enumerate(batch):
            negs = list(t.negatives)[:n_neg]
            mask[i, :len(negs)] = True
            negs_all.append(negs + [negs[0]] * (n_neg - len(negs)))
        paths = [split.queries[t.query].path for t in batch]
        paths += [split.gallery[t.positive].path for t in batch]
        paths += [split.gallery[j].path for negs in negs_all for j in negs]
        n_t = min(8, len(target))
        tgt_paths = [target[int(i)] for i in rng.choice(len(target), n_t, replace=False)]
        images = torch.cat([source.batch(paths, augment=False),
                            source.batch(tgt_paths, augment=False, center_crop=512)])
        lay = Layout(n_source=len(paths), b=b, n_neg=n_neg, neg_mask=mask)
        flat = outputs(images)
        rank, _ = objective(flat, outputs, lay, rank_cfg)  # n_target = 0: L_r alone
        o = outputs.unpack(flat)
        maps = o["map"]
        src = maps[lay.source_gallery()]
        tgt = maps[lay.n_source:]
        mmd = losses.mk_mmd(src, tgt)
        # null reference: source gallery split into n_t vs the rest, no target at all
        perm = torch.randperm(len(src), generator=torch.Generator().manual_seed(k))
        null = losses.mk_mmd(src[perm[n_t:]], src[perm[:n_t]])
        g_r, v_r = grad_norm(rank, params)
        g_m, v_m = grad_norm(mmd, params)
        cos = float(torch.dot(v_r, v_m) / (v_r.norm() * v_m.norm()).clamp_min(1e-20))
        row = {"L_r": float(rank), "M": float(mmd), "M_null_source_vs_source": float(null),
               "alphaM_over_L_r": args.alpha * float(mmd) / max(float(rank), 1e-12),
               "grad_L_r": g_r, "grad_M": g_m,
               "alpha_grad_M_over_grad_L_r": args.alpha * g_m / max(g_r, 1e-20),
               "cos_grad_L_r_grad_M": cos, "n_source": len(src), "n_target": len(tgt),
               "map_shape": list(maps.shape[1:]),
               "bandwidths": bandwidths(src.detach(), tgt.detach())}
        rows.append(row)
        log.info("batch %d: L_r %.4f  M %.4f (null %.4f)  |∇L_r| %.3g  |∇M| %.3g  "
                 "α|∇M|/|∇L_r| %.1f  cos %.2f", k // b, row["L_r"], row["M"], null, g_r, g_m,
                 row["alpha_grad_M_over_grad_L_r"], cos)
    summary = {k: float(np.mean([r[k] for r in rows])) for k in
               ("L_r", "M", "M_null_source_vs_source", "alphaM_over_L_r", "grad_L_r", "grad_M",
                "alpha_grad_M_over_grad_L_r", "cos_grad_L_r_grad_M")}
    doc = {"model": args.model, "image_size": size, "alpha": args.alpha,
           "n_target_photos": len(target), "batches": rows, "mean": summary}
    out = cm.RESULTS / "mmd_diagnose.json"
    out.write_text(json.dumps(doc, indent=1))
    print(json.dumps(summary, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
