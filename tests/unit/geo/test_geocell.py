"""Adaptive geocells: hand-checked partitions and both prediction rules."""

import numpy as np
import pytest

from geomatch_app.core.types import Candidate
from geomatch_app.geo.distance import haversine_m
from geomatch_app.geo.geocell import (
    build_geocells,
    cell_descriptors,
    cell_of,
    predict_by_centroid,
    predict_by_members,
)

# two towns 400 km apart, 3 photos each, plus one photo without location
LAT = np.array([55.698, 55.699, 55.700, 52.518, 52.519, 52.520, np.nan])
LON = np.array([13.195, 13.195, 13.195, 13.400, 13.400, 13.400, np.nan])


def test_cells_respect_the_size_limit_and_cover_located_photos():
    cells = build_geocells(LAT, LON, max_photos=3)
    assert sorted(len(c.members) for c in cells) == [3, 3]
    assert sorted(np.concatenate([c.members for c in cells]).tolist()) == [0, 1, 2, 3, 4, 5]
    for c in cells:
        assert np.all((LAT[c.members] >= c.south) & (LAT[c.members] < c.north))
        assert np.all((LON[c.members] >= c.west) & (LON[c.members] < c.east))
    berlin = next(c for c in cells if 3 in c.members)
    assert (berlin.lat, berlin.lon) == pytest.approx((52.519, 13.400), abs=1e-6)
    assert cell_of(cells, 7).tolist()[-1] == -1


def test_min_size_stops_splitting_identical_positions():
    cells = build_geocells(np.full(10, 55.7), np.full(10, 13.2), max_photos=2, min_size_m=25)
    assert len(cells) == 1 and len(cells[0].members) == 10
    ns, ew = cells[0].size_m()
    assert max(ns, ew) < 25


def test_one_photo_per_cell_when_max_is_one():
    cells = build_geocells(LAT, LON, max_photos=1, min_size_m=1.0)
    assert len(cells) == 6


def test_predict_by_members_sums_similarity_votes():
    cells = build_geocells(LAT, LON, max_photos=3)
    ids = cell_of(cells, 7)
    gallery_cell = {f"g{i}": int(ids[i]) for i in range(7)}
    # one strong Lund match against two weaker Berlin ones: 0.9^10 = 0.349 > 2·0.7^10 = 0.056
    cands = [Candidate(1, 0.9, "g0"), Candidate(2, 0.7, "g3"), Candidate(3, 0.7, "g4"),
             Candidate(4, 0.99, "g6")]  # g6 has no location: ignored
    best = predict_by_members(cands, cells, gallery_cell, m=10)
    assert 0 in best.members
    # with m = 0 every vote counts the same: two Berlin votes win
    best = predict_by_members(cands, cells, gallery_cell, m=0)
    assert 3 in best.members
    assert haversine_m(best.lat, best.lon, 52.519, 13.4) < 1


def test_predict_by_centroid():
    cells = build_geocells(LAT, LON, max_photos=3)
    descs = np.zeros((7, 2))
    descs[:3] = [1, 0]
    descs[3:6] = [0, 1]
    cd = cell_descriptors(descs, cells)
    pred = predict_by_centroid(np.array([[0.1, 0.9], [0.8, 0.2]]), cd)
    assert 3 in cells[pred[0]].members and 0 in cells[pred[1]].members
