"""Evaluation metrics on constructed rankings with hand-computed answers."""

import csv
import math

import pytest

from geomatch_app.core.errors import ManifestError
from geomatch_app.core.types import Candidate, Photo
from geomatch_app.geo.distance import destination
from geomatch_app.training.evaluation import (
    accuracy_at_km,
    check_ground_truth,
    comparison_table,
    evaluate,
    first_correct_rank,
    is_match,
    median_km,
    recall_at,
    write_csv,
    write_report,
)

LUND = (55.6985, 13.1950)


def near(metres, bearing=0.0, origin=LUND):
    lat, lon = destination(origin[0], origin[1], bearing, metres)
    return float(lat), float(lon)


def test_recall_from_constructed_ranking():
    # first correct ranks of 5 queries: 1, 3, 7, 15, never
    r = recall_at([1, 3, 7, 15, None])
    assert r == {"1": 0.2, "5": 0.4, "10": 0.6, "20": 0.8}


def test_match_by_distance_threshold_and_place_id():
    q = Photo("q.jpg", *LUND, place_id="p1")
    assert is_match(q, Candidate(1, 0.9, "a", *near(24.0), place_id="other"))
    assert not is_match(q, Candidate(1, 0.9, "a", *near(26.0), place_id="p1"))  # coords win
    assert is_match(q, Candidate(1, 0.9, "a", *near(26.0)), threshold_m=30)
    assert is_match(q, Candidate(1, 0.9, "a", place_id="p1"))  # no coords: place_id
    q2 = Photo("q2.jpg", place_id="p1")
    assert is_match(q2, Candidate(1, 0.9, "a", *near(5000.0), place_id="p1"))
    assert not is_match(Photo("q3.jpg"), Candidate(1, 0.9, "a", place_id=""))


def test_first_correct_rank_follows_rank_order():
    q = Photo("q.jpg", place_id="p1")
    cands = [Candidate(2, 0.5, "b", place_id="p1"), Candidate(1, 0.9, "a", place_id="p2"),
             Candidate(3, 0.4, "c", place_id="p1")]
    assert first_correct_rank(q, cands) == 2
    assert first_correct_rank(q, cands[1:2]) is None


def test_km_thresholds_are_inclusive():
    acc = accuracy_at_km([0.5, 1.0, 30.0, 800.0, 3000.0])
    assert acc == {"1": 0.4, "25": 0.4, "200": 0.6, "750": 0.6, "2500": 0.8}
    assert median_km([0.5, 1.0, 30.0, 800.0]) == pytest.approx(15.5)
    assert accuracy_at_km([]) == {} and median_km([]) is None


def test_refuses_query_sets_without_ground_truth(tmp_path):
    with pytest.raises(ManifestError, match="place_id or lat/lon"):
        check_ground_truth([Photo("a.jpg"), Photo("b.jpg")], tmp_path / "m.csv")
    usable, skipped = check_ground_truth([Photo("a.jpg"), Photo("b.jpg", place_id="x")], "m")
    assert [p.path for p in usable] == ["b.jpg"] and skipped == 1


def _toy():
    """Two located queries: one found at rank 1, one whose matches all sit 2 km away."""
    q1 = Photo("q1.jpg", *LUND, place_id="a")
    q2 = Photo("q2.jpg", *near(0, origin=(52.5189, 13.4003)), place_id="b")
    r1 = [Candidate(1, 0.9, "g1.jpg", *near(10), place_id="a"),
          Candidate(2, 0.8, "g2.jpg", *near(15, 90), place_id="a")]
    far = near(2000, 0, (52.5189, 13.4003))
    r2 = [Candidate(1, 0.9, "g3.jpg", *far, place_id="c"),
          Candidate(2, 0.5, "g4.jpg", 52.5189, 13.4003, place_id="b")]
    return [q1, q2], [r1, r2]


def test_evaluate_summary_and_outputs(tmp_path):
    queries, rankings = _toy()
    res = evaluate(queries, rankings, label="toy", model="m", sigma_km=0.05)
    s = res.summary()
    assert s["n_queries"] == 2
    assert s["recall"]["1"] == 0.5 and s["recall"]["5"] == 1.0
    assert s["ground_truth"]["by_distance"] == 2
    # q1: the estimate sits between g1 and g2 (< 25 m); q2: on the 0.9 match 2 km away
    # (weight 0.9^10 against 0.5^10 = 0.35 vs 0.001)
    assert res.rows[0].error_km < 0.025
    assert res.rows[1].error_km == pytest.approx(2.0, abs=0.01)
    assert s["accuracy_km"] == {"1": 0.5, "25": 1.0, "200": 1.0, "750": 1.0, "2500": 1.0}
    assert s["median_error_km"] == pytest.approx((res.rows[0].error_km + 2.0) / 2, abs=0.01)
    assert s["inside_90"] == 0.5
    assert s["baselines"]["top1"]["n"] == 2

    out = write_csv(tmp_path / "q.csv", [res])
    rows = list(csv.DictReader(out.open()))
    assert [r["first_correct_rank"] for r in rows] == ["1", "2"]
    assert rows[1]["top_k"].startswith("1:0.9000:c:g3.jpg")
    assert math.isclose(float(rows[1]["error_km"]), 2.0, abs_tol=0.01)

    page = write_report(tmp_path / "r.html", [res, res]).read_text()
    assert "<svg" in page and "R@1" in page and "polyline" in page
    table = comparison_table([res])
    assert "toy" in table and "0.500" in table


def test_place_id_only_queries_have_no_km_accuracy():
    q = Photo("q.jpg", place_id="a")
    res = evaluate([q], [[Candidate(1, 0.9, "g.jpg", place_id="a")]])
    s = res.summary()
    assert s["recall"]["1"] == 1.0 and s["accuracy_km"] == {} and s["median_error_km"] is None
    assert s["ground_truth"]["by_place_id"] == 1
