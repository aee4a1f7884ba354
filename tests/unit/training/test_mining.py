"""Mining returns the truly hardest negatives and the best positive (papers A, C)."""

from __future__ import annotations

import numpy as np

from geomatch_app.core.types import Photo
from geomatch_app.training.mining import (
    Miner,
    best_positive,
    hardest_negatives,
    sample_negatives,
)
from geomatch_app.training.sources import TrainSplit


def test_hardest_negatives_are_the_closest_in_order():
    q = np.array([0.0, 0.0])
    # distances² to q: 25, 1, 16, 4, 9, 0.25 → hardest first: ids 15, 11, 13, 14
    cands = np.array([[5, 0], [1, 0], [0, 4], [2, 0], [0, -3], [0.5, 0]], dtype=np.float32)
    ids = np.array([10, 11, 12, 13, 14, 15])
    assert hardest_negatives(q, cands, ids, n_hard=4).tolist() == [15, 11, 13, 14]
    assert hardest_negatives(q, cands, ids, n_hard=10).tolist() == [15, 11, 13, 14, 12, 10]
    assert hardest_negatives(q, cands[:0], ids[:0]).size == 0


def test_best_positive_is_the_closest_positive():
    q = np.array([1.0, 1.0])
    pos = np.array([[3, 3], [1, 1.5], [-1, 1]], dtype=np.float32)
    assert best_positive(q, pos, np.array([7, 8, 9])) == 8


def test_sample_negatives_never_returns_near_items():
    rng = np.random.default_rng(0)
    near = np.array([0, 1, 2, 50])
    s = sample_negatives(rng, 100, near, n_cache=30)
    assert len(s) == 30 and len(set(s.tolist())) == 30
    assert not set(s.tolist()) & set(near.tolist())
    everything = sample_negatives(rng, 100, near, n_cache=1000)
    assert sorted(everything.tolist()) == sorted(set(range(100)) - set(near.tolist()))


def test_miner_mines_under_the_current_descriptors():
    """Gallery points on a line; the query sits at 0. Positives: gallery 0 and 1; non-negatives
    also 2. The hardest allowed negatives are 3, 4, 5 (closest beyond the exclusion)."""
    gallery = [Photo(f"g{i}.png") for i in range(20)]
    split = TrainSplit([Photo("q.png")], gallery, [np.array([0, 1])], [np.array([0, 1, 2])])
    g_pos = np.array([[0.3, 0], [0.1, 0]] + [[float(i), 0.0] for i in range(2, 20)], np.float32)
    calls = []

    def embed(g_idx, q_idx):
        calls.append((g_idx.tolist(), q_idx.tolist()))
        return g_pos[g_idx], np.zeros((len(q_idx), 2), np.float32)

    miner = Miner(split, embed, n_cache=1000, n_hard=3, refresh_every=10)
    (t,) = list(miner.tuples(np.array([0])))
    assert t.query == 0 and t.positive == 1  # 0.1 is closer than 0.3
    assert t.negatives == [3, 4, 5]
    assert len(calls) == 1 and 2 not in calls[0][0]


def test_miner_refreshes_every_n_queries():
    gallery = [Photo(f"g{i}.png") for i in range(30)]
    n_q = 7
    split = TrainSplit([Photo(f"q{i}.png") for i in range(n_q)], gallery,
                       [np.array([i]) for i in range(n_q)], [np.array([i]) for i in range(n_q)])
    calls = []

    def embed(g_idx, q_idx):
        calls.append(len(q_idx))
        rng = np.random.default_rng(len(calls))
        return rng.normal(size=(len(g_idx), 4)), rng.normal(size=(len(q_idx), 4))

    tuples = list(Miner(split, embed, n_cache=5, n_hard=2, refresh_every=3)
                  .tuples(np.arange(n_q)))
    assert calls == [3, 3, 1]
    assert [t.query for t in tuples] == list(range(n_q))
    for t in tuples:
        assert t.positive == t.query and t.query not in t.negatives and len(t.negatives) == 2
