"""The KDE grid is computed in each cluster's azimuthal-equidistant plane (fast path of a
query); it must equal the great-circle density at the same points."""

from __future__ import annotations

import numpy as np
import pytest

from geomatch_app.geo.kde import Density, _cluster_grid


@pytest.mark.parametrize("lat0, lon0, spread", [(52.52, 13.40, 5e-4),  # street scale
                                                (-16.5, 179.999, 1e-3),  # across the date line
                                                (89.99, 0.0, 2e-4)])  # next to the pole
def test_plane_grid_equals_great_circle_density(lat0, lon0, spread):
    rng = np.random.default_rng(0)
    n = 12
    lat = lat0 + rng.normal(0, spread, n)
    lon = (lon0 + rng.normal(0, spread, n) + 180) % 360 - 180
    w = rng.uniform(0.1, 1, n)
    dens = Density(lat, lon, w / w.sum(), sigma_m=50.0)
    grid = _cluster_grid(dens, np.arange(n))
    gx, gy = np.meshgrid(grid.xs, grid.ys)
    glat, glon = grid.to_latlon(gx, gy)
    ref = dens(glat, glon)
    assert ref.max() > 0.05  # the grid covers the kernels
    np.testing.assert_allclose(grid.values, ref, rtol=1e-5, atol=1e-9)
