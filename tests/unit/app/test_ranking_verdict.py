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


def test_two_stages_give_the_one_stage_result_and_update_the_run_in_place(tmp_path, fordham):
    """rank(wait=False) → the base calibration at once, stored pending; verify_ranking →
    exactly what rank() gives in one go, in the same run (same suggestion rows)."""
    from geomatch_app.app.ranking import verify_ranking
    from geomatch_app.training.calibration import judge, load_calibration

    idx, queries = fordham
    q = queries["fordham_p0"]
    whole = open_project(tmp_path / "one.sqlite", idx.folder)
    staged = open_project(tmp_path / "two.sqlite", idx.folder)
    try:
        ref = rank(whole, q.path, k=8)
        first = rank(staged, q.path, k=8, wait=False)
        assert first.pending and not first.inliers and first.before is None
        # stage 1 = descriptor order with the descriptor-only calibration
        base = judge(idx, q.path, idx.search_paths([q.path], k=8)[0], verify=False,
                     calibration=load_calibration(idx.fingerprint))
        assert [(c.path, c.p_match) for c in first.candidates] == [
            (c.path, c.p_match) for c in base.candidates]
        assert (first.verdict, first.p_best) == (base.verdict, base.p_best)
        stored = staged.store.run(first.run_id)
        ids = {s.path: s.id for s in stored.suggestions}
        assert [s.p_match for s in stored.suggestions] == [c.p_match for c in first.candidates]
        # a restart during verification re-uses stage 1 and knows it is still pending
        again = rank(staged, q.path, k=8, wait=False)
        assert again.reused and again.pending and again.run_id == first.run_id

        done = verify_ranking(staged, again)
        assert not done.pending and done.before == (first.verdict, first.p_best)
        assert [c.to_json() for c in done.candidates] == [c.to_json() for c in ref.candidates]
        assert (done.verdict, done.p_best, done.inliers) == (ref.verdict, ref.p_best,
                                                             ref.inliers)
        assert done.estimate.to_json() == ref.estimate.to_json()
        run = staged.store.run(first.run_id)
        assert {s.path: s.id for s in run.suggestions} == ids  # updated in place
        assert [(s.path, s.rank, s.p_match) for s in run.suggestions] == [
            (c.path, c.rank, c.p_match) for c in done.candidates]
        assert run.verdict == done.verdict
        assert run.est_confidence == pytest.approx(done.estimate.confidence)
        later = rank(staged, q.path, k=8, wait=False)  # complete now: nothing left to do
        assert later.reused and not later.pending and later.run_id == first.run_id
        assert [c.p_match for c in later.candidates] == [c.p_match for c in done.candidates]
    finally:
        whole.close()
        staged.close()


def test_cancelled_verification_leaves_the_run_pending(tmp_path, fordham):
    from geomatch_app.app.ranking import verify_ranking
    from geomatch_app.core.progress import Cancelled, Progress

    idx, queries = fordham
    q = queries["fordham_p1"]
    project = open_project(tmp_path / "c.sqlite", idx.folder)
    try:
        first = rank(project, q.path, k=8, wait=False)
        calls = []

        def cancelled():
            calls.append(1)
            return len(calls) > 3  # stop during the top 5

        with pytest.raises(Cancelled):
            verify_ranking(project, first, progress=Progress(cancelled=cancelled))
        again = rank(project, q.path, k=8, wait=False)
        assert again.reused and again.pending
        assert [s.p_match for s in project.store.run(first.run_id).suggestions] == [
            c.p_match for c in first.candidates]
    finally:
        project.close()
