"""The default-model promotion rule on hand-made recall tables."""

from __future__ import annotations

import pytest

from geomatch_app.training.promotion import promotion

SETS = ["a", "b"]


def run(label, a, b):
    def rec(r1, r5, r10, r20):
        return {"recall": {"R@1": r1, "R@5": r5, "R@10": r10, "R@20": r20}}

    return {"label": label, "sets": {"a": rec(*a), "b": rec(*b)}}


BASE = run("base", (1.0, 1.0, 1.0, 1.0), (0.1, 0.2, 0.3, 0.4))


def test_tie_at_the_ceiling_and_a_gain_elsewhere_promotes():
    v = promotion(BASE, run("c", (1.0, 1.0, 1.0, 1.0), (0.2, 0.2, 0.3, 0.4)), SETS)
    assert v["promote"] and v["sets"]["b"]["better"] and not v["sets"]["a"]["better"]
    assert v["base_mean"] == pytest.approx((1.0 + 0.25) / 2)
    assert v["cand_mean"] == pytest.approx((1.0 + 0.275) / 2)


def test_one_split_worse_at_r1_refuses_even_with_a_higher_mean():
    # the fine-tuned GeM's case: R@1 down on one split, everything else up
    v = promotion(BASE, run("c", (0.9, 1.0, 1.0, 1.0), (0.5, 0.8, 0.9, 1.0)), SETS)
    assert not v["promote"] and not v["sets"]["a"]["no_worse"]
    assert v["cand_mean"] > v["base_mean"]


def test_same_r1_with_a_higher_mean_counts_as_better_and_an_exact_copy_does_not():
    v = promotion(BASE, run("c", (1.0, 1.0, 1.0, 1.0), (0.1, 0.3, 0.3, 0.4)), SETS)
    assert v["promote"] and v["sets"]["b"]["better"]
    assert not promotion(BASE, BASE, SETS)["promote"]
