"""Class-balanced p×k batches for the batch losses (paper D's eDBL and multi-positive loss).

Why: an exhaustive batch loss only sees a positive pair when a place appears at least twice in
the batch, so each batch holds ``p`` places with up to ``k`` photos each — the training query
and up to k−1 of its gallery positives. The places of one batch are chosen so that no item of
one is near (a non-negative of) another: every cross-place pair in the batch is a true negative,
which the labels then say.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from geomatch_app.training.sources import TrainSplit, place_key


@dataclass
class PKBatch:
    """Items as (kind, index): kind "q" = training query, "g" = gallery; labels per item."""

    items: list[tuple[str, int]]
    labels: list[int]

    @property
    def n_places(self) -> int:
        return len(set(self.labels))


def _compatible(split: TrainSplit, a: int, b: int) -> bool:
    """Whether queries a and b may sit in one batch as each other's negatives."""
    ka, kb = place_key(split.queries[a]), place_key(split.queries[b])
    if ka and ka == kb:
        return False
    pa, pb = split.positives[a], split.positives[b]
    return not (np.isin(pa, split.non_negatives[b]).any()
                or np.isin(pb, split.non_negatives[a]).any())


def pk_batches(split: TrainSplit, order: np.ndarray, p: int, k: int,
               rng: np.random.Generator) -> Iterator[PKBatch]:
    """Batches of ``p`` mutually negative places × up to ``k`` photos, covering the queries of
    ``order`` once each (a query that fits no open batch starts the next one)."""
    if p < 2 or k < 2:
        raise ValueError("p×k batches need p ≥ 2 places and k ≥ 2 photos per place")
    pending = [int(i) for i in order]
    while pending:
        chosen: list[int] = []
        rest: list[int] = []
        for q in pending:
            if len(chosen) < p and all(_compatible(split, q, c) for c in chosen):
                chosen.append(q)
            else:
                rest.append(q)
        pending = rest
        if len(chosen) < 2:
            continue  # a lone place has no negative in the batch: nothing to learn from it
        items: list[tuple[str, int]] = []
        labels: list[int] = []
        for label, q in enumerate(chosen):
            pos = split.positives[q]
            take = rng.choice(pos, min(k - 1, len(pos)), replace=False)
            items += [("q", q)] + [("g", int(g)) for g in take]
            labels += [label] * (1 + len(take))
        yield PKBatch(items, labels)
