"""Decisions carry the run they were made on; the export reads place ids from the gallery."""

from __future__ import annotations

import csv
import sqlite3

import pytest

from geomatch_app.app import curation
from geomatch_app.app.export import export
from geomatch_app.app.project import open_project
from geomatch_app.app.ranking import rank
from geomatch_app.app.session import CandidatePick, ManualPick
from geomatch_app.core.errors import GeomatchError


@pytest.fixture
def ranked(tmp_path, berlin_index, berlin_queries):
    project = open_project(tmp_path / "c.sqlite", berlin_index.folder)
    result = rank(project, berlin_queries[0].path, k=5)
    yield project, result
    project.close()


def test_confirm_a_candidate_with_provenance(ranked):
    project, result = ranked
    c = result.candidates[2]
    did = curation.decide(project.store, result.path, "confirmed",
                          CandidatePick(c.rank, c.path), result=result, curator="Ann")
    d = project.store.decision(did)
    assert (d.rank, d.candidate_path, d.curator) == (3, c.path, "Ann")
    assert d.model_name == project.index.model_name and d.suggestion_id is not None
    assert d.image_id == project.store.find_image(c.path).id
    assert (d.lat, d.lon) == (c.lat, c.lon)
    assert curation.status_of(project.store, result.path) == "confirmed"


def test_a_decision_costs_few_statements(ranked):
    """Carrying the run id keeps a confirmation to a handful of statements (it was ~27)."""
    project, result = ranked
    conn = project.store._db().conn
    statements: list[str] = []
    conn.set_trace_callback(statements.append)
    try:
        c = result.candidates[0]
        curation.decide(project.store, result.path, "confirmed", CandidatePick(1, c.path),
                        result=result, curator="Ann")
    finally:
        conn.set_trace_callback(None)
    real = [s for s in statements if not s.startswith(("SAVEPOINT", "RELEASE"))]
    assert len(real) <= 10, "\n".join(real)


def test_manual_pick_keeps_heading_precision_and_what_was_placed(ranked):
    project, result = ranked
    pick = ManualPick(52.5, 13.4, heading=370.0, precision_m=25.0, placed="subject")
    d = project.store.decision(curation.decide(project.store, result.path, "confirmed", pick,
                                               result=result, curator="Ann"))
    assert (d.lat, d.lon, d.heading, d.precision_m, d.placed) == (52.5, 13.4, 10.0, 25.0,
                                                                   "subject")
    # the map draws the precision circle and says what was placed
    assert curation.confirmed_location(project.store, result.path) == (52.5, 13.4, 10.0, 25.0,
                                                                       "subject")


def test_confirm_without_pick_and_bad_points_are_messages(ranked):
    project, result = ranked
    with pytest.raises(GeomatchError, match="pick a candidate"):
        curation.decide(project.store, result.path, "confirmed", None, result=result)
    with pytest.raises(ValueError):
        ManualPick(200.0, 0.0)


def test_none_of_these_undo_redo(ranked):
    project, result = ranked
    curation.decide(project.store, result.path, "none", result=result, curator="Ann")
    assert curation.status_of(project.store, result.path) == "none"
    assert curation.undo(project.store) == result.path
    assert curation.status_of(project.store, result.path) is None
    assert curation.redo(project.store) == result.path
    assert curation.status_of(project.store, result.path) == "none"
    assert any("none" in line for line in curation.history_lines(project.store, result.path))


def test_same_bytes_under_two_names_are_two_queries(tmp_path, berlin_queries):
    from geomatch_app.store import Store

    src = berlin_queries[0].path
    a, b = tmp_path / "a.jpg", tmp_path / "b.jpg"
    a.write_bytes(open(src, "rb").read())
    b.write_bytes(a.read_bytes())
    with Store(tmp_path / "c.sqlite") as store:
        qa, qb = curation.ensure_query(store, a), curation.ensure_query(store, b)
        assert qa != qb
        moved = tmp_path / "moved.jpg"
        a.rename(moved)  # the same photo, moved: found by its content
        assert curation.ensure_query(store, moved) == qa


def test_manifest_export_carries_the_gallery_place_ids(tmp_path, ranked):
    project, result = ranked
    c = result.candidates[1]
    curation.decide(project.store, result.path, "confirmed", CandidatePick(c.rank, c.path),
                    result=result, curator="Ann")
    export(project.store, tmp_path / "out", "manifest")
    with open(tmp_path / "out" / "manifest.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    query = next(r for r in rows if r["split"] == "query")
    gallery = next(r for r in rows if r["split"] == "gallery")
    assert query["place_id"] == gallery["place_id"] == c.place_id != ""
    with sqlite3.connect(project.store.path) as con:
        assert con.execute("SELECT count(*) FROM images").fetchone()[0] == 24
