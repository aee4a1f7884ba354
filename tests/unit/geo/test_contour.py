"""Marching squares and polygon grouping on hand-made grids."""

import numpy as np
import pytest

from geomatch_app.geo.contour import contour_rings, points_in_ring, polygons_from_rings, ring_area


def test_square_plateau_gives_one_ring_through_the_midpoints():
    g = np.zeros((5, 5))
    g[1:4, 1:4] = 1.0
    (ring,) = contour_rings(g, 0.5)
    # the 0.5 crossing lies halfway between the 0 and 1 samples: rows/cols 0.5 and 3.5
    assert ring[:, 0].min() == pytest.approx(0.5) and ring[:, 0].max() == pytest.approx(3.5)
    # 3×3 square with its four corners cut by triangles of legs 0.5
    assert abs(ring_area(ring)) == pytest.approx(3 * 3 - 4 * 0.125)
    assert np.array_equal(ring[0], ring[-1])


def test_edge_values_close_the_ring():
    (ring,) = contour_rings(np.ones((3, 3)), 0.5)  # all above: ring around the grid border
    assert ring[:, 0].min() < 0 and ring[:, 0].max() > 2


def test_annulus_becomes_polygon_with_hole():
    y, x = np.mgrid[-10:11, -10:11]
    r = np.hypot(x, y)
    g = ((r > 3) & (r < 8)).astype(float)
    rings = contour_rings(g, 0.5)
    assert len(rings) == 2
    xy = [np.column_stack([rr[:, 1], rr[:, 0]]) for rr in rings]
    (poly,) = polygons_from_rings(xy)
    assert len(poly) == 2
    assert ring_area(poly[0]) > 0 > ring_area(poly[1])  # outer CCW, hole CW
    inside = points_in_ring(np.array([10.0, 15.0]), np.array([10.0, 10.0]), poly[0])
    assert inside.tolist() == [True, True]  # ring (row, col) → centre (10, 10) is in the outer
    in_hole = points_in_ring(10.0, 10.0, poly[1])
    assert bool(in_hole)


def test_two_peaks_give_two_polygons():
    g = np.zeros((5, 9))
    g[2, 2] = g[2, 6] = 1.0
    polys = polygons_from_rings(contour_rings(g, 0.5))
    assert len(polys) == 2 and all(len(p) == 1 for p in polys)
