"""Ranking in two stages in the window (app.ranking, gui/rank_queue.py): the ranking with the
base calibration is shown at once, geometric verification follows in its own job and updates
p_match, the verdict and the order of the top 5 — and a verification the curator has moved
away from never lands."""

from __future__ import annotations

import json
import sqlite3
import threading

from PySide6.QtCore import Qt


class GatedVerifier:
    """Stands in for the project's verifier: holds every pair until ``gate`` opens, then
    reports many inliers for ``boost`` (a candidate path chosen by the test) and none else."""

    def __init__(self) -> None:
        self.gate = threading.Event()
        self.boost: str | None = None
        self.calls: list[tuple[str, str]] = []

    def __call__(self, query_path: str, cand_path: str) -> int:
        assert self.gate.wait(60), "the test never opened the gate"
        self.calls.append((query_path, cand_path))
        return 400 if cand_path == self.boost else 0


def _run_row(db, run_id):
    with sqlite3.connect(db) as con:
        params = con.execute("SELECT params FROM suggestion_runs WHERE id = ?",
                             [run_id]).fetchone()[0]
        rows = con.execute("SELECT id, path, rank, p_match FROM suggestions WHERE run_id = ?"
                           " ORDER BY rank", [run_id]).fetchall()
    return json.loads(params), rows


def _ranked_and_verifying(qtbot, window, index, photo) -> None:
    """Open ``index``, add ``photo``: its first stage is shown, its verification running."""
    window.set_index(index)
    with qtbot.waitSignal(window.query_ranked, timeout=60_000):
        window.add_photos([photo])
    qtbot.waitUntil(lambda: window.ranker.verifying_path() == photo, timeout=10_000)


def test_ranking_shows_before_verification_then_updates(qtbot, window, opened_demo_index,
                                                        demo_queries, tmp_path):
    gated = GatedVerifier()
    window.project._verifier = gated
    try:
        window.set_index(opened_demo_index)
        with qtbot.waitSignal(window.query_ranked, timeout=60_000):
            window.add_photos([demo_queries[0]])
        first = window.session.result
        # stage 1 is on screen while verification is held at the gate
        assert first.pending and not gated.calls
        assert window.grid.count() == 8
        assert first.verdict in ("match", "uncertain", "no_match")
        assert window.results.banner.text().endswith("verifying…")
        params, rows = _run_row(tmp_path / "curation.sqlite", first.run_id)
        assert params["pending"] == "verification"  # stored at once, marked pending
        assert [r[1] for r in rows] == [c.path for c in first.candidates]
        qtbot.keyClick(window, Qt.Key.Key_3)  # the curator looks at candidate 3 meanwhile
        third = first.candidates[2].path
        assert window.pick.path == third

        gated.boost = third  # geometry strongly supports candidate 3
        with qtbot.waitSignal(window.query_verified, timeout=60_000):
            gated.gate.set()
        done = window.session.result
        assert not done.pending and done.run_id == first.run_id
        assert done.before == (first.verdict, first.p_best)
        assert len(gated.calls) == 5  # the top 5, once each
        p = [c.p_match for c in done.candidates[:5]]
        assert p == sorted(p, reverse=True)  # the top 5 re-ranked by verified p_match
        moved = next(c for c in done.candidates if c.path == third)
        assert moved.p_match > first.candidates[2].p_match  # the geometry counted
        assert "verifying…" not in window.results.banner.text()
        assert "geometric verification" in window.results.banner.text()
        assert [window.grid.candidate(i + 1).path for i in range(8)] == [
            c.path for c in done.candidates]  # the grid shows the new order
        assert window.pick.path == third and window.pick.rank == moved.rank  # pick followed
        # the stored run was updated in place: same suggestion rows, new ranks and p_match
        params, rows2 = _run_row(tmp_path / "curation.sqlite", first.run_id)
        assert "pending" not in params
        assert sorted(r[0] for r in rows2) == sorted(r[0] for r in rows)
        assert [(r[1], r[2], r[3]) for r in rows2] == [(c.path, c.rank, c.p_match)
                                                        for c in done.candidates]
        assert window.queue.topLevelItem(0).text(3) == done.verdict.replace("_", " ")
        qtbot.keyClick(window, Qt.Key.Key_Return)  # the decision names the verified rank
        with sqlite3.connect(tmp_path / "curation.sqlite") as con:
            assert con.execute("SELECT candidate_path, rank FROM decisions").fetchall() == [
                (third, moved.rank)]
    finally:
        gated.gate.set()


def test_verification_the_curator_left_never_lands(qtbot, window, opened_demo_index,
                                                   demo_queries):
    a, b = demo_queries[0], demo_queries[1]
    gated = GatedVerifier()
    window.project._verifier = gated
    landed: list[str] = []
    window.ranker.verified.connect(lambda first, result: landed.append(result.path))
    try:
        window.set_index(opened_demo_index)
        with qtbot.waitSignal(window.query_ranked, timeout=60_000):
            window.add_photos([a, b])
        assert window.current == a and window.session.result.pending
        qtbot.waitUntil(lambda: window.ranker.verifying_path() == a, timeout=10_000)
        stale = window.ranker.verify_slot.current  # a's verification, held at the gate
        first_a = window.session.result_for(a)
        with qtbot.waitSignal(window.query_ranked, timeout=60_000) as blocker:
            window.queue.select_path(b)  # the curator moves on before it finishes
        assert blocker.args == [b] and window.current == b
        assert stale.is_cancelled()  # b's ranking did not wait for a's verification
        gated.boost = window.session.result.candidates[1].path
        with qtbot.waitSignal(window.query_verified, timeout=60_000) as blocker:
            gated.gate.set()
        assert blocker.args == [b]  # b on screen: its own verification came first
        qtbot.waitUntil(stale.is_done, timeout=20_000)
        assert stale.state == "cancelled"  # a's old job stopped and delivered nothing
        assert landed == [b]
        assert window.session.result.path == b and not window.session.result.pending
        # a is verified later by a job of its own, in the background, off screen
        qtbot.waitUntil(lambda: not window.session.result_for(a).pending, timeout=60_000)
        assert window.session.result_for(a) is not first_a
        assert window.current == b and window.session.result.path == b
    finally:
        gated.gate.set()


def test_a_newer_ranking_is_never_overwritten_by_an_old_verification(qtbot, window,
                                                                     opened_demo_index,
                                                                     demo_queries):
    gated = GatedVerifier()
    window.project._verifier = gated
    try:
        _ranked_and_verifying(qtbot, window, opened_demo_index, demo_queries[0])
        old_job = window.ranker.verify_slot.current
        with qtbot.waitSignal(window.query_ranked, timeout=60_000):
            window.set_index(opened_demo_index)  # e.g. the index re-opened: rank again
        assert old_job.is_cancelled()
        newer = window.session.result
        gated.gate.set()
        qtbot.waitUntil(old_job.is_done, timeout=20_000)
        qtbot.waitUntil(lambda: not window.session.result.pending, timeout=60_000)
        assert window.session.result.before == (newer.verdict, newer.p_best)
    finally:
        gated.gate.set()


def test_cancel_in_the_jobs_bar_stops_verifying_and_keeps_the_ranking(qtbot, window,
                                                                      opened_demo_index,
                                                                      demo_queries):
    gated = GatedVerifier()
    window.project._verifier = gated
    try:
        _ranked_and_verifying(qtbot, window, opened_demo_index, demo_queries[0])
        first = window.session.result
        assert window.jobs.current().label.startswith("Verifying")
        qtbot.mouseClick(window.jobs.cancel_button, Qt.MouseButton.LeftButton)
        gated.gate.set()
        qtbot.waitUntil(lambda: not window.session.result.pending, timeout=20_000)
        shown = window.session.result
        assert [c.p_match for c in shown.candidates] == [c.p_match for c in first.candidates]
        assert shown.before is None and "verifying" not in window.results.banner.text()
        assert len(gated.calls) < 5  # it stopped at its next step
    finally:
        gated.gate.set()
