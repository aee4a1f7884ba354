"""One ranking call for both front ends: candidates, estimate with distances, stored run."""

from __future__ import annotations

import json

import pytest

from geomatch_app.app.project import open_project
from geomatch_app.app.ranking import rank
from geomatch_app.cli import main
from geomatch_app.core.errors import GeomatchError
from geomatch_app.geo.distance import haversine_m


def test_rank_gives_candidates_estimate_distances_and_run(tmp_path, berlin_index,
                                                          berlin_queries):
    project = open_project(tmp_path / "c.sqlite", berlin_index.folder)
    try:
        result = rank(project, berlin_queries[0].path, k=6)
        assert [c.rank for c in result.candidates] == [1, 2, 3, 4, 5, 6]
        est = result.estimate
        for c in result.candidates:  # distances to the estimate, computed by hand
            assert c.distance_m == pytest.approx(haversine_m(c.lat, c.lon, est.lat, est.lon),
                                                 rel=1e-6, abs=0.05)  # kept to 0.1 m
        run = project.store.run(result.run_id)
        assert run.query_id == result.query_id and run.index_id == project.index_id
        assert [s.path for s in run.suggestions] == [c.path for c in result.candidates]
    finally:
        project.close()


def test_cli_query_records_the_same_run_the_app_reuses(tmp_path, berlin_index, berlin_queries,
                                                       capsys):
    db = tmp_path / "c.sqlite"
    photo = berlin_queries[1].path
    assert main(["query", photo, "--index", str(berlin_index.folder), "--db", str(db),
                 "-k", "5", "--json"]) == 0
    cli = json.loads(capsys.readouterr().out)
    project = open_project(db, berlin_index.folder)  # what the window's ranking job calls
    try:
        app = rank(project, photo, k=5)
    finally:
        project.close()
    assert app.reused and app.run_id == cli["run_id"] and app.query_id == cli["query_id"]
    assert [c.to_json() for c in app.candidates] == cli["candidates"]
    assert app.estimate.to_json() == cli["estimate"]


def test_cli_without_db_ranks_the_same(tmp_path, berlin_index, berlin_queries, capsys):
    photo = berlin_queries[1].path
    assert main(["query", photo, "--index", str(berlin_index.folder), "-k", "5", "--json"]) == 0
    cli = json.loads(capsys.readouterr().out)
    project = open_project(tmp_path / "c.sqlite", berlin_index.folder)
    try:
        app = rank(project, photo, k=5)
    finally:
        project.close()
    assert cli["run_id"] is None and not app.reused
    assert [c.to_json() for c in app.candidates] == cli["candidates"]


@pytest.mark.parametrize("k,sigma", [(0, None), (5, 0.0), (5, float("nan")), (5, -1.0)])
def test_parameters_mean_the_same_everywhere(tmp_path, berlin_index, berlin_queries, k, sigma):
    project = open_project(None, berlin_index.folder)
    with pytest.raises(GeomatchError):
        rank(project, berlin_queries[0].path, k=k, sigma_km=sigma)


def test_no_index_is_an_error_not_a_crash(tmp_path):
    project = open_project(tmp_path / "c.sqlite")
    try:
        with pytest.raises(GeomatchError, match="no index"):
            rank(project, "x.jpg")
    finally:
        project.close()
