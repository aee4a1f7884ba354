"""Recall@N on the held-out validation split, with the index's own preprocessing.

Why not a faiss index: the validation gallery is small and rebuilt after every epoch, so a
matrix product is simpler and exact. The numbers equal what ``geomatch eval`` reports for the
same queries and gallery (same place_id, or within ``pos_m`` when both have coordinates), and
``training.evaluation.recall_at`` turns first-correct ranks into the R@N dict.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from geomatch_app.core.progress import Progress
from geomatch_app.training.evaluation import recall_at
from geomatch_app.training.sources import MatchRules, TrainSplit, match_sets

RECALL_NS = (1, 5, 10, 20)


def first_correct_ranks(q_desc: np.ndarray, g_desc: np.ndarray,
                        positives: list[np.ndarray], max_n: int = 20) -> list[int | None]:
    """1-based rank of the first positive in each query's top ``max_n`` (None when absent)."""
    sims = q_desc.astype(np.float32) @ g_desc.astype(np.float32).T
    k = min(max_n, sims.shape[1])
    top = np.argpartition(-sims, k - 1, axis=1)[:, :k]
    order = np.take_along_axis(top, np.argsort(-np.take_along_axis(sims, top, 1), 1), 1)
    out: list[int | None] = []
    for row, pos in zip(order, positives, strict=True):
        hits = np.flatnonzero(np.isin(row, pos))
        out.append(int(hits[0]) + 1 if len(hits) else None)
    return out


def recall_from_descriptors(q_desc: np.ndarray, g_desc: np.ndarray,
                            positives: list[np.ndarray], ns=RECALL_NS) -> dict[str, float]:
    ranks = first_correct_ranks(q_desc, g_desc, positives, max(ns))
    return {f"R@{n}": v for n, v in zip(ns, recall_at(ranks, ns).values(), strict=True)}


def evaluate_split(model, split: TrainSplit, rules: MatchRules | None = None, *,
                   device: str = "auto", batch_size: int = 32, max_queries: int | None = None,
                   progress: Progress | None = None, workers: int | None = 0,
                   embed: Callable[[list[str]], np.ndarray] | None = None) -> dict[str, float]:
    """R@1/5/10/20 of ``model`` on ``split`` (queries against the split's gallery).

    ``rules`` decides what counts as correct (default: the same place, or within 25 m).
    ``embed(paths) -> descriptors`` replaces the model's own forward pass (cached-trunk
    training, :mod:`.trunk_cache`, passes its cache; the descriptors are the same).
    """
    from geomatch_app.index.extract import embed_paths

    if not split.queries or not split.gallery:
        return {}
    rules = rules or MatchRules()
    queries = split.queries
    if max_queries and len(queries) > max_queries:
        pick = np.linspace(0, len(queries) - 1, max_queries).round().astype(int)
        queries = [queries[i] for i in pick]
    positives, _ = match_sets(queries, split.gallery, rules)
    progress = progress or Progress()
    n_total = len(queries) + len(split.gallery)

    def sub(offset: int) -> Progress:
        return Progress(report=lambda d, t, m: progress.report(offset + d, n_total, "validation"),
                        cancelled=progress.cancelled)

    if embed is not None:
        g = np.nan_to_num(embed([p.path for p in split.gallery]))
        q = np.nan_to_num(embed([p.path for p in queries]))
        return recall_from_descriptors(q, g, positives)
    # torch, not ONNX: the weights change between validations, an export would not be reused
    g = embed_paths(model, [p.path for p in split.gallery], device=device,
                    batch_size=batch_size, workers=workers, progress=sub(0), engine="torch")
    q = embed_paths(model, [p.path for p in queries], device=device, batch_size=batch_size,
                    workers=workers, progress=sub(len(split.gallery)), engine="torch")
    g = np.nan_to_num(g)
    q = np.nan_to_num(q)
    return recall_from_descriptors(q, g, positives)
