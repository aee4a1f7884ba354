"""kNN kernel-density geolocation: hand-computed modes, weights, radius, date line, poles."""

import math

import numpy as np
import pytest

from geomatch_app.core.types import Candidate
from geomatch_app.geo.distance import destination, haversine_m
from geomatch_app.geo.kde import (
    estimate_location,
    fit_density,
    inverse_distance,
    region_contains,
    similarity_weights,
    with_distances,
)

LUND = (55.6985, 13.1950)


def cand(rank, score, lat, lon, heading=None):
    return Candidate(rank=rank, score=score, path=f"g{rank}.jpg", lat=lat, lon=lon, heading=heading)


def at(bearing, metres, origin=LUND):
    lat, lon = destination(origin[0], origin[1], bearing, metres)
    return float(lat), float(lon)


def test_weights_are_s_to_the_m():
    w = similarity_weights(np.array([0.9, 0.8, -0.2]), m=10)
    assert w[0] / w[1] == pytest.approx((0.9 / 0.8) ** 10)
    assert w[2] == 0 and w.sum() == pytest.approx(1)


def test_default_similarity_is_inverse_descriptor_distance():
    # paper D: s = 1 / ||a - b||; for unit descriptors ||a - b|| = sqrt(2 - 2 cos)
    np.testing.assert_allclose(inverse_distance(np.array([0.5, 0.875])), [1.0, 2.0])
    far = at(0, 2000)
    cands = [cand(1, 0.875, *LUND), cand(2, 0.5, *far)]
    est = estimate_location(cands, sigma_km=0.05)  # weights 2^10 : 1
    assert est.confidence == pytest.approx(1024 / 1025, abs=1e-4)


def test_weights_uniform_when_no_positive_score():
    np.testing.assert_allclose(similarity_weights(np.array([-1.0, 0.0]), m=10), [0.5, 0.5])


def test_three_point_gallery_mode_is_midpoint_of_close_pair():
    # two equal-weight photos 20 m apart (σ = 50 m: one merged bump) and a weaker one 2 km away:
    # by symmetry the densest point is halfway between the pair
    a, b, far = at(90, 10), at(270, 10), at(0, 2000)
    est = estimate_location([cand(1, 0.9, *a), cand(2, 0.9, *b), cand(3, 0.7, *far)],
                            sigma_km=0.05, similarity="score")
    assert haversine_m(est.lat, est.lon, *LUND) < 0.1
    # far photo weight (0.7/0.9)^10 = 0.0808 against 2 → confidence 2 / 2.0808
    assert est.confidence == pytest.approx(2 / (2 + (0.7 / 0.9) ** 10), abs=1e-3)


def test_higher_m_moves_mode_to_best_match():
    # 60 m apart, σ = 50 m: with m = 0 the two equal kernels form one bump in the middle; with
    # m = 10 and scores 0.9 / 0.6 (weight ratio 57.7) the mode sits almost on the better photo
    a, b = at(90, 30), at(270, 30)
    cands = [cand(1, 0.9, *a), cand(2, 0.6, *b)]
    flat = estimate_location(cands, sigma_km=0.05, m=0, similarity="score")
    sharp = estimate_location(cands, sigma_km=0.05, m=10, similarity="score")
    assert haversine_m(flat.lat, flat.lon, *LUND) < 0.5
    assert haversine_m(sharp.lat, sharp.lon, *a) < 2.0


def test_single_kernel_radius_and_regions_match_the_gaussian():
    # one kernel: the circle holding p of a 2-D Gaussian has r = σ·sqrt(-2 ln(1-p))
    est = estimate_location([cand(1, 0.8, 10.0, 20.0)], sigma_km=1.0)
    assert (est.lat, est.lon) == pytest.approx((10.0, 20.0))
    assert est.radius_m == pytest.approx(1000 * math.sqrt(-2 * math.log(0.1)), rel=0.02)
    assert est.confidence == pytest.approx(1.0)
    for p in (50, 90):
        ring = np.array(est.regions[str(p)]["coordinates"][0][0])
        r = haversine_m(10, 20, ring[:, 1], ring[:, 0])
        np.testing.assert_allclose(r, 1000 * math.sqrt(-2 * math.log(1 - p / 100)), rtol=0.03)


def test_radius_grows_as_points_spread():
    radii = []
    for spacing in (5, 50, 200):
        cands = [cand(i + 1, 0.9, *at(90, (i - 1) * spacing)) for i in range(3)]
        radii.append(estimate_location(cands, sigma_km=0.05).radius_m)
    assert radii[0] < radii[1] < radii[2]


def test_split_evidence_gives_two_regions_and_low_confidence():
    lund, berlin = (55.6985, 13.1950), (52.5189, 13.4003)
    est = estimate_location([cand(1, 0.9, *lund), cand(2, 0.9, *berlin)], sigma_km=0.05)
    assert est.confidence == pytest.approx(0.5, abs=1e-3)
    assert len(est.regions["90"]["coordinates"]) == 2
    assert region_contains(est.regions["90"], *lund) and region_contains(est.regions["90"], *berlin)
    assert not region_contains(est.regions["90"], 54.0, 13.3)


def test_regions_nest_and_contain_the_mode():
    cands = [cand(i + 1, 0.95 - 0.05 * i, *at(37 * i, 15 * i)) for i in range(6)]
    est = estimate_location(cands, sigma_km=0.05)
    assert region_contains(est.regions["50"], est.lat, est.lon)
    assert region_contains(est.regions["90"], est.lat, est.lon)
    probe = at(0, 120, (est.lat, est.lon))
    assert not region_contains(est.regions["50"], *probe)


def test_k_limits_the_candidates_and_unlocated_are_ignored():
    cands = [cand(1, 0.9, None, None), cand(2, 0.8, *LUND), cand(3, 0.8, 52.5, 13.4)]
    est = estimate_location(cands, sigma_km=0.05, k=2)
    assert est.confidence == pytest.approx(1.0)
    assert haversine_m(est.lat, est.lon, *LUND) < 0.1
    assert estimate_location([cand(1, 0.9, None, None)]) is None
    assert fit_density([], 1.0) is None


def test_date_line():
    est = estimate_location([cand(1, 0.9, 0.0, 179.9995), cand(2, 0.9, 0.0, -179.9995)],
                            sigma_km=0.1)
    assert est.lat == pytest.approx(0, abs=1e-7)
    assert haversine_m(est.lat, est.lon, 0, 180) < 0.1  # the middle, not lon 0
    assert est.radius_m < 300
    assert region_contains(est.regions["90"], 0.0, -179.9999)
    assert region_contains(est.regions["90"], 0.0, 180.0)
    assert not region_contains(est.regions["90"], 0.0, 179.99)


def test_pole():
    est = estimate_location([cand(1, 0.9, 89.9999, 0.0), cand(2, 0.9, 89.9999, 180.0)],
                            sigma_km=0.1)
    assert est.lat == pytest.approx(90, abs=1e-6)
    assert est.radius_m < 300
    assert region_contains(est.regions["90"], 90.0, 0.0)
    assert region_contains(est.regions["90"], 89.9999, 90.0)
    assert not region_contains(est.regions["90"], 89.99, 90.0)


def test_with_distances_keeps_headings():
    est = estimate_location([cand(1, 0.9, *LUND, heading=45.0)], sigma_km=0.05)
    (c,) = with_distances([cand(1, 0.9, *at(0, 100), heading=45.0)], est)
    assert c.distance_m == pytest.approx(100, abs=0.2) and c.heading == 45.0
