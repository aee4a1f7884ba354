"""A catalogue's free-text place as a prior region: the kind of place sets the radius."""

from __future__ import annotations

import numpy as np
import pytest

from geomatch_app.geo import region
from geomatch_app.geo.geocode import Gazetteer
from geomatch_app.geo.region import city_radius_m, haversine_m, resolve


def small() -> Gazetteer:
    """Five towns with their real GeoNames coordinates, populations and admin1 codes."""
    return Gazetteer(
        ["Helsinki", "Lund", "Paris", "Paris", "Espoo"], ["FI", "SE", "FR", "US", "FI"],
        ["helsinki|helsingfors", "lund", "paris", "paris", "espoo|esbo"],
        np.array([60.16952, 55.70584, 48.85341, 33.66094, 60.2052]),
        np.array([24.93545, 13.19321, 2.3488, -95.55551, 24.6522]),
        np.array([558457, 91940, 2138551, 24782, 256760]),
        admin1=["01", "13", "11", "TX", "18"])


@pytest.mark.parametrize("population,km", [(558_457, 25), (91_940, 10), (3_426_354, 50),
                                           (1_000, 5), (256_760, 15)])
def test_city_radius_follows_population(population, km):
    # 10 km · sqrt(pop / 100 000), rounded to 5 km, within 5–50 km: 558 457 → 23.6 → 25
    assert city_radius_m(population) == km * 1000


def test_city_with_country_and_alternate_name():
    g = small()
    r = resolve("Helsinki, Finland", g).region
    assert (r.label, r.kind, r.radius_m) == ("Helsinki, Finland", "city", 25_000)
    assert r.describe() == "Helsinki, Finland (± 25 km)"
    assert (r.lat, r.lon) == (60.16952, 24.93545)
    assert resolve("Helsingfors", g).region.label == "Helsinki, Finland"
    # a street the gazetteer does not know is ignored, the town is kept
    assert resolve("Lund, Stortorget", g).region.describe() == "Lund, Sweden (± 10 km)"


def test_country_and_state_constrain_the_town():
    g = small()
    assert resolve("Paris", g).region.label == "Paris, France"  # the most populous
    texas = resolve("Paris, Texas", g).region
    assert (texas.label, texas.radius_m) == ("Paris, Texas", 5_000)
    assert resolve("Paris; USA", g).region.label == "Paris, United States"


def test_country_is_the_median_of_its_towns_and_their_spread():
    g = small()
    r = resolve("Finland", g).region
    assert r.kind == "country" and r.label == "Finland"
    assert r.lat == pytest.approx(np.median([60.16952, 60.2052]))
    # two towns 15 km apart: the 95 % spread is below the 50 km floor of an area
    assert r.radius_m == 50_000


def test_unknown_place_and_coordinates():
    g = small()
    res = resolve("Atlantis", g)
    assert res.region is None and "no place named 'Atlantis'" in res.reason
    assert resolve("", g).region is None
    pt = resolve("55.70, 13.19", g).region
    assert (pt.kind, pt.lat, pt.lon, pt.radius_m) == ("point", 55.70, 13.19, 5_000)


def test_haversine_reference():
    # one degree of latitude on the 6 371 008.8 m sphere: 111 195 m
    assert haversine_m(0, 0, 1, 0) == pytest.approx(111_195.08, abs=0.1)


def test_region_key_changes_with_the_place():
    g = small()
    a, b = resolve("Helsinki", g).region, resolve("Espoo", g).region
    assert a.key() != b.key() and a.key() == resolve("Helsinki, FI", g).region.key()
    assert region.POINT_RADIUS_M == 5_000
