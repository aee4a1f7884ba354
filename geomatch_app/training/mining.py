"""Hard-negative mining as in NetVLAD / paper A and best-positive selection as in paper C.

Per query a sample of ``n_cache`` (1000) random negatives is scored under the *current* model and
the ``n_hard`` (10) closest are kept; the best positive is the positive closest to the query.
Descriptors are refreshed every ``refresh_every`` queries, so the mined tuples follow the model
as it trains. The pure functions take descriptors so tests can check them on hand-made points.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from geomatch_app.training.sources import TrainSplit

log = logging.getLogger(__name__)


@dataclass
class Tuple:
    """One training tuple: query index, best positive and hardest negatives (gallery indices)."""

    query: int
    positive: int
    negatives: list[int]


def sq_dists(q: np.ndarray, items: np.ndarray) -> np.ndarray:
    """Squared L2 distances of one descriptor (D,) to rows of ``items`` (M, D)."""
    diff = items.astype(np.float64) - q.astype(np.float64)[None, :]
    return np.einsum("ij,ij->i", diff, diff)


def hardest_negatives(q: np.ndarray, cand_desc: np.ndarray, cand_ids: np.ndarray,
                      n_hard: int = 10) -> np.ndarray:
    """The ``n_hard`` candidates closest to ``q`` (hardest first)."""
    if len(cand_ids) == 0:
        return np.zeros(0, dtype=np.int64)
    d = sq_dists(q, cand_desc)
    k = min(n_hard, len(d))
    part = np.argpartition(d, k - 1)[:k]
    order = part[np.lexsort((cand_ids[part], d[part]))]  # ties broken by id: reproducible
    return np.asarray(cand_ids)[order]


def best_positive(q: np.ndarray, pos_desc: np.ndarray, pos_ids: np.ndarray) -> int:
    """The positive closest to ``q`` (paper C: "the one with the most similar descriptor")."""
    d = sq_dists(q, pos_desc)
    return int(np.asarray(pos_ids)[int(np.argmin(d))])


def sample_negatives(rng: np.random.Generator, n_gallery: int, non_negatives: np.ndarray,
                     n_cache: int) -> np.ndarray:
    """Up to ``n_cache`` random gallery indices that are not near the query."""
    allowed = np.ones(n_gallery, dtype=bool)
    allowed[non_negatives] = False
    pool = np.flatnonzero(allowed)
    if len(pool) <= n_cache:
        return pool
    return np.sort(rng.choice(pool, n_cache, replace=False))


class Miner:
    """Yields tuples for a stream of queries, re-embedding what it needs every
    ``refresh_every`` queries with ``embed(gallery_idx, query_idx) -> (g_desc, q_desc)``."""

    def __init__(self, split: TrainSplit, embed: Callable[[np.ndarray, np.ndarray],
                                                         tuple[np.ndarray, np.ndarray]],
                 n_cache: int = 1000, n_hard: int = 10, refresh_every: int = 1000,
                 seed: int = 0):
        self.split = split
        self.embed = embed
        self.n_cache = n_cache
        self.n_hard = n_hard
        self.refresh_every = max(1, refresh_every)
        self.rng = np.random.default_rng(seed)

    def tuples(self, query_order: np.ndarray):
        """Iterate over tuples for queries in ``query_order`` (one per query)."""
        for start in range(0, len(query_order), self.refresh_every):
            chunk = np.asarray(query_order[start:start + self.refresh_every])
            yield from self._mine_chunk(chunk)

    def _mine_chunk(self, chunk: np.ndarray):
        split = self.split
        n_g = len(split.gallery)
        samples = {int(q): sample_negatives(self.rng, n_g, split.non_negatives[q], self.n_cache)
                   for q in chunk}
        # One shared embedding pass: every sampled negative and every positive of the chunk.
        need = np.unique(np.concatenate(
            [samples[int(q)] for q in chunk] + [split.positives[q] for q in chunk]
        ).astype(np.int64))
        g_desc, q_desc = self.embed(need, chunk)
        row = {int(g): i for i, g in enumerate(need)}
        for j, q in enumerate(chunk):
            q = int(q)
            pos = split.positives[q]
            if len(pos) == 0:
                continue
            p = best_positive(q_desc[j], g_desc[[row[int(i)] for i in pos]], pos)
            negs = samples[q]
            if len(negs) == 0:
                continue
            hard = hardest_negatives(q_desc[j], g_desc[[row[int(i)] for i in negs]], negs,
                                     self.n_hard)
            yield Tuple(q, p, [int(i) for i in hard])
