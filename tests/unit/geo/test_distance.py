"""Great-circle helpers: hand-computed distances, date line and poles."""

import math

import numpy as np
import pytest

from geomatch_app.geo.distance import (
    EARTH_RADIUS_M,
    bearing_deg,
    destination,
    from_local_xy,
    haversine_m,
    local_xy,
    spherical_mean,
    unwrap_lon,
)

ONE_DEG_M = EARTH_RADIUS_M * math.pi / 180  # 111 195.08 m


def test_one_degree_of_latitude():
    assert haversine_m(10, 20, 11, 20) == pytest.approx(ONE_DEG_M, rel=1e-12)


def test_longitude_shrinks_with_cos_lat():
    # 0.001° of longitude at 60° N is half of it at the equator (short distance ≈ planar)
    d = haversine_m(60, 13, 60, 13.001)
    assert d == pytest.approx(ONE_DEG_M * 0.001 * 0.5, rel=1e-6)


def test_date_line_is_short_way_round():
    assert haversine_m(0, 179.5, 0, -179.5) == pytest.approx(ONE_DEG_M, rel=1e-9)


def test_poles():
    assert haversine_m(90, 0, 90, 123) == pytest.approx(0, abs=1e-6)
    assert haversine_m(89, 0, 89, 180) == pytest.approx(2 * ONE_DEG_M, rel=1e-9)
    assert haversine_m(90, 0, -90, 0) == pytest.approx(math.pi * EARTH_RADIUS_M, rel=1e-12)


def test_vectorised_broadcast():
    d = haversine_m(np.zeros((3, 1)), 0, 0, np.array([0.0, 1.0]))
    assert d.shape == (3, 2)
    np.testing.assert_allclose(d[:, 1], ONE_DEG_M)


def test_few_metres_stay_exact():
    # 1e-5° of latitude ≈ 1.112 m: haversine keeps full precision here
    assert haversine_m(55.0, 13.0, 55.00001, 13.0) == pytest.approx(1.1119508, rel=1e-6)


def test_destination_and_bearing_round_trip():
    lat, lon = destination(55.7, 13.19, 30.0, 250.0)
    assert haversine_m(55.7, 13.19, lat, lon) == pytest.approx(250.0, rel=1e-9)
    assert bearing_deg(55.7, 13.19, lat, lon) == pytest.approx(30.0, abs=1e-6)
    lat, lon = destination(0, 179.9999, 90.0, 100.0)  # east across the date line
    assert -180 <= lon < -179.99


def test_spherical_mean_across_date_line_and_pole():
    lat, lon = spherical_mean([0, 0], [179, -179])
    assert lat == pytest.approx(0, abs=1e-9) and abs(lon) == pytest.approx(180, abs=1e-9)
    lat, _ = spherical_mean([89, 89], [0, 180])
    assert lat == pytest.approx(90, abs=1e-9)


@pytest.mark.parametrize("clat,clon", [(55.7, 13.2), (90.0, 0.0), (-90.0, 40.0), (0.0, 180.0)])
def test_local_projection_round_trip(clat, clon):
    lats = np.array([clat - 0.01 if clat > 0 else clat + 0.01, clat])
    lons = np.array([clon, clon])
    x, y = local_xy(clat, clon, lats, lons)
    assert np.hypot(x, y)[0] == pytest.approx(0.01 * ONE_DEG_M, rel=1e-9)
    back_lat, back_lon = from_local_xy(clat, clon, x, y)
    np.testing.assert_allclose(haversine_m(back_lat, back_lon, lats, lons), 0, atol=1e-6)


def test_unwrap_lon():
    np.testing.assert_allclose(unwrap_lon([-179.0, 179.0, 10.0], 179.5), [181.0, 179.0, 10.0])


def test_scalar_haversine_is_the_array_formula_bit_for_bit():
    """Plain floats take a math-module path (the calibration calls it per candidate pair);
    it must give exactly what the numpy path gives, including across the date line."""
    import numpy as np

    from geomatch_app.geo.distance import haversine_m

    rng = np.random.default_rng(1)
    lat = rng.uniform(-90, 90, 2000)
    lon = rng.uniform(-180, 180, 2000)
    lat2 = np.clip(lat + rng.normal(0, 1e-3, 2000), -90, 90)
    lon2 = lon + rng.normal(0, 1e-3, 2000)
    lat2[:10], lon2[:10] = -lat[:10], lon[:10] + 180  # antipodes: a clipped to 1
    arrays = haversine_m(lat, lon, lat2, lon2)
    scalars = [haversine_m(float(a), float(b), float(c), float(d))
               for a, b, c, d in zip(lat, lon, lat2, lon2, strict=True)]
    assert np.array_equal(np.array(scalars), arrays)
    assert isinstance(scalars[0], np.floating)
    assert float(haversine_m(60.0, 24.0, 60.0, 24.0)) == 0.0
