"""The catalogue place's prior narrows the ranking, says so, and is part of the stored run."""

from __future__ import annotations

import json

import pytest

from geomatch_app.app import prior
from geomatch_app.app.project import open_project
from geomatch_app.app.ranking import rank
from geomatch_app.cli import main
from geomatch_app.core.types import Candidate
from geomatch_app.geo import region
from geomatch_app.geo.region import Region, haversine_m
from tests.unit.geo.test_region import small


@pytest.fixture(autouse=True)
def small_gazetteer(monkeypatch):
    """Five towns instead of GeoNames' 170 000 (loading those takes seconds)."""
    g = small()
    g.names.append("Berlin")
    g.countries.append("DE")
    g.admin1.append("16")
    import numpy as np

    from geomatch_app.geo.geocode import Gazetteer

    g2 = Gazetteer(g.names, g.countries, [*g.keys, "berlin"],
                   np.append(g.lat, 52.52437), np.append(g.lon, 13.41053),
                   np.append(g.population, 3_426_354), admin1=g.admin1)
    monkeypatch.setattr(region, "gazetteer", lambda: g2)


def test_reweighting_by_hand():
    # r = 10 km around (0, 0); one degree of longitude at the equator is 111.195 km
    reg = Region("Here", "city", 0.0, 0.0, 10_000.0)
    p = prior.Prior("Here", region=reg)
    far = Candidate(1, 0.80, "far.jpg", 0.0, 100_000 / 111_195.08)  # 100 km: − 0.10
    inside = Candidate(2, 0.75, "in.jpg", 0.0, 0.05)  # 5.6 km: − 0
    edge = Candidate(3, 0.72, "edge.jpg", 0.0, 15_000 / 111_195.08)  # 15 km: − 0.05
    nowhere = Candidate(4, 0.71, "nogps.jpg")  # no location: not moved
    out, done = prior.apply([far, inside, edge, nowhere], p, k=4)
    # adjusted: in .75, nogps .71, far .70, edge .67
    assert [c.path for c in out] == ["in.jpg", "nogps.jpg", "far.jpg", "edge.jpg"]
    assert [c.rank for c in out] == [1, 2, 3, 4]
    assert [c.score for c in out] == [0.75, 0.71, 0.80, 0.72]  # the descriptor's scores
    assert (done.inside, done.moved, done.shown) == (1, 4, 4)
    assert prior.penalty(15_000, 10_000) == pytest.approx(0.05)
    assert done.describe() == ("Ranking narrowed to Here (± 10 km) from the catalogue place"
                               " · 1 of 4 candidates inside")
    # off, or no region: the ranking is the descriptor's, and the result says why
    off = prior.Prior("Here", region=reg, off=True)
    assert prior.apply([far, inside], off, 2)[0] == [far, inside] and off.key() is None
    assert "off for this photo" in off.describe()
    unknown = prior.from_text("Atlantis")
    assert unknown.region is None and unknown.describe().startswith("Ranking not narrowed")
    assert prior.shortlist_k(20, p) == 100 and prior.shortlist_k(20, off) == 20


def _expected(shortlist, reg, k):
    def adj(c):
        return c.score - prior.penalty(haversine_m(reg.lat, reg.lon, c.lat, c.lon),
                                       reg.radius_m)
    return [c.path for c in sorted(shortlist, key=lambda c: -adj(c))[:k]]


def test_catalogue_place_narrows_the_ranking_and_is_part_of_the_run(tmp_path, berlin_index,
                                                                    berlin_queries):
    lund_query = next(q for q in berlin_queries if q.place_id.startswith("lund"))
    project = open_project(tmp_path / "c.sqlite", berlin_index.folder)
    try:
        plain = rank(project, lund_query.path, k=5)
        assert plain.prior is not None and not plain.prior.active
        qid = plain.query_id
        project.store.update_query(qid, place_text="Berlin, Germany")  # a wrong place
        narrowed = rank(project, lund_query.path, k=5)
        assert not narrowed.reused  # another prior: the stored run is not re-used
        reg = narrowed.prior.region
        assert reg.describe() == "Berlin, Germany (± 50 km)"
        assert narrowed.prior.describe().startswith(
            "Ranking narrowed to Berlin, Germany (± 50 km) from the catalogue place")
        shortlist = berlin_index.search_paths([lund_query.path], k=100)[0]
        assert [c.path for c in narrowed.candidates] == _expected(shortlist, reg, 5)
        berlin_photos = [c for c in shortlist if c.place_id.startswith("berlin")]
        assert {c.path for c in berlin_photos} <= {c.path for c in narrowed.candidates}
        assert narrowed.prior.inside == len(berlin_photos)
        params = json.loads(project.store._db().execute(
            "SELECT params FROM suggestion_runs WHERE id = ?", [narrowed.run_id]).fetchone()[0])
        assert params["prior"]["label"] == "Berlin, Germany"
        # the same prior again: the stored run is re-used, and still stated
        again = rank(project, lund_query.path, k=5)
        assert again.reused and again.run_id == narrowed.run_id
        assert again.prior.describe() == narrowed.prior.describe()
        # turned off for this photo: the first (prior-less) run comes back
        project.store.update_query(qid, use_prior=False)
        off = rank(project, lund_query.path, k=5)
        assert off.reused and off.run_id == plain.run_id
        assert "off for this photo" in off.prior.describe()
    finally:
        project.close()


def test_cli_query_place_and_json_prior(tmp_path, berlin_index, berlin_queries, capsys):
    photo = berlin_queries[0].path
    assert main(["query", photo, "--index", str(berlin_index.folder), "-k", "3", "--json",
                 "--place", "Lund, Sweden"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["prior"]["active"] and out["prior"]["region"]["label"] == "Lund, Sweden"
    assert out["prior"]["description"].startswith("Ranking narrowed to Lund, Sweden (± 10 km)"
                                                  " from the place given")
    assert main(["query", photo, "--index", str(berlin_index.folder), "-k", "3",
                 "--place", "Atlantis"]) == 0
    assert "Ranking not narrowed: no place named 'Atlantis'" in capsys.readouterr().out
    assert main(["query", photo, "--index", str(berlin_index.folder), "-k", "3", "--json",
                 "--place", "Lund", "--no-prior"]) == 0
    assert json.loads(capsys.readouterr().out)["prior"]["off"] is True
