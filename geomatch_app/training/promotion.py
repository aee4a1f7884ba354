"""The rule for replacing the default model (issue 13): "measure before you default".

A candidate replaces the default only if, on the shared test splits, it is no worse than the
default on every split, better on at least one, and better on the mean. Per split, "no worse"
means R@1 and the mean of R@1/5/10/20 are both ≥ the default's; "better" means a higher R@1, or
the same R@1 and a higher mean (training's own ``recall_improved`` rule). A split where the
default already scores 100 % can only tie. Used by ``benchmarks/compare_models.py`` (config key
``promotion``) and documented in docs/results.md. Pure numbers in, no torch.
"""

from __future__ import annotations

import numpy as np

KS = ("R@1", "R@5", "R@10", "R@20")


def promotion(base: dict, cand: dict, sets: list[str]) -> dict:
    """Verdict of ``cand`` against ``base`` (compare_models run dicts: ``label`` and
    ``sets[name]["recall"]`` with R@1/5/10/20) on ``sets``. The overall mean is over splits of
    the per-split mean R@k."""
    eps = 1e-9
    per = {}
    for name in sets:
        b = base["sets"][name]["recall"]
        c = cand["sets"][name]["recall"]
        bm, cm = np.mean([b[k] for k in KS]), np.mean([c[k] for k in KS])
        no_worse = c["R@1"] >= b["R@1"] - eps and cm >= bm - eps
        better = c["R@1"] > b["R@1"] + eps or (abs(c["R@1"] - b["R@1"]) <= eps and cm > bm + eps)
        per[name] = {"no_worse": bool(no_worse), "better": bool(better),
                     "base_mean": float(bm), "cand_mean": float(cm)}
    base_mean = float(np.mean([v["base_mean"] for v in per.values()]))
    cand_mean = float(np.mean([v["cand_mean"] for v in per.values()]))
    wins = (all(v["no_worse"] for v in per.values()) and any(v["better"] for v in per.values())
            and cand_mean > base_mean + eps)
    return {"base": base["label"], "candidate": cand["label"], "promote": bool(wins),
            "sets": per, "base_mean": base_mean, "cand_mean": cand_mean}
