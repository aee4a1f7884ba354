"""rank() with a calibrated model: p_match per candidate, the verdict, a calibrated estimate,
all kept in the stored run and printed by `geomatch query --json` (issue 12)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from geomatch_app.app.project import open_project
from geomatch_app.app.ranking import rank
from geomatch_app.cli import main

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def fordham(shared_data, tmp_path_factory):
    from geomatch_app.data.gallery import load_photos
    from geomatch_app.index import build_index

    manifest = shared_data / "fordham_places" / "manifest.csv"
    idx = build_index(manifest, tmp_path_factory.mktemp("fordham") / "idx",
                      model_name="effnetlite2-gem", device="cpu")
    queries = {q.place_id: q for q in load_photos(manifest, "query").photos}
    return idx, queries


def test_rank_carries_verdict_and_p_match_into_the_store(tmp_path, fordham):
    idx, queries = fordham
    q = queries["fordham_p0"]
    project = open_project(tmp_path / "c.sqlite", idx.folder)
    try:
        result = rank(project, q.path, k=8)
        assert result.verdict in ("match", "uncertain", "no_match")
        assert all(c.p_match is not None and 0 <= c.p_match <= 1 for c in result.candidates)
        assert result.p_best == pytest.approx(max(c.p_match for c in result.candidates),
                                              abs=1e-4)
        assert len(result.inliers) == 5  # the top 5 were verified
        # the estimate's confidence: P(some candidate within its radius shows the place)
        est = result.estimate
        near = [c.p_match for c in result.candidates
                if c.distance_m is not None and c.distance_m <= est.radius_m + 25]
        assert est.confidence == pytest.approx(1 - np.prod([1 - p for p in near]), abs=1e-3)
        run = project.store.run(result.run_id)
        assert run.verdict == result.verdict
        assert [s.p_match for s in run.suggestions] == [c.p_match for c in result.candidates]
        again = rank(project, q.path, k=8)
        assert again.reused and again.verdict == result.verdict
        assert [c.p_match for c in again.candidates] == [c.p_match for c in result.candidates]
        assert again.estimate.confidence == pytest.approx(result.estimate.confidence)
    finally:
        project.close()


def test_cli_query_json_has_verdict_and_p_match(fordham, capsys):
    idx, queries = fordham
    capsys.readouterr()
    assert main(["query", queries["fordham_p0"].path, "--index", str(idx.folder), "-k", "5",
                 "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["verdict"] in ("match", "uncertain", "no_match")
    assert all(isinstance(c["p_match"], float) for c in out["candidates"])
    assert main(["query", queries["fordham_p0"].path, "--index", str(idx.folder),
                 "-k", "3", "--no-verify"]) == 0
    text = capsys.readouterr().out
    assert "verdict:" in text and "p_match" in text
