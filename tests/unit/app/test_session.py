"""The Qt-free session the window observes."""

from __future__ import annotations

from geomatch_app.app.ranking import RankResult
from geomatch_app.app.session import CandidatePick, ManualPick, Session
from geomatch_app.core.types import Candidate


def _result(path="q.jpg"):
    return RankResult(path, [Candidate(1, 0.9, "a.jpg", 1.0, 2.0), Candidate(2, 0.8, "b.jpg")])


def test_changes_are_announced_in_order():
    s = Session()
    seen = []
    s.changed.connect(seen.append)
    s.show("q.jpg")
    s.set_result(_result("other.jpg"))  # a ranking of another photo: kept, not shown
    assert s.result is None
    s.set_result(_result())
    assert s.pick_candidate(2) == CandidatePick(2, "b.jpg")
    assert s.pick_candidate(2) == CandidatePick(2, "b.jpg")  # unchanged: no second event
    assert s.pick_candidate(7) is None
    s.place(52.0, 13.0, heading=45.0)
    s.set_heading(90.0)
    assert s.pick == ManualPick(52.0, 13.0, 90.0)
    assert seen == ["photo", "result", "pick", "pick", "pick"]
    s.show("other.jpg")
    assert s.result is not None and s.result.path == "other.jpg" and s.pick is None


def test_describe_pick():
    s = Session()
    s.show("q.jpg")
    s.set_result(_result())
    assert "1–9" in s.describe_pick()
    s.pick_candidate(1)
    assert s.describe_pick().startswith("Picked candidate 1")
    s.place(52.123456, 13.0, heading=90.0, precision_m=30)
    assert s.describe_pick() == "Manual location 52.12346, 13.00000 ± 30 m, facing 90° — " \
                                "Enter confirms"


def test_verified_result_lands_only_on_the_ranking_it_verified():
    from dataclasses import replace

    s = Session()
    seen = []
    s.changed.connect(seen.append)
    s.show("q.jpg")
    first = _result()
    s.set_result(first)
    s.pick_candidate(2)
    verified = replace(first, candidates=[Candidate(1, 0.8, "b.jpg"),
                                          Candidate(2, 0.9, "a.jpg", 1.0, 2.0)])
    assert s.update_result(first, verified)
    assert s.result is verified and s.pick == CandidatePick(1, "b.jpg")  # the pick follows
    assert seen[-1] == "verified"
    newer = _result()  # ranked again (another index): an old verification must not land
    s.set_result(newer)
    assert not s.update_result(first, verified)
    assert s.result is newer
    s.show("other.jpg")  # off screen: kept for the photo, nothing announced
    other = _result("other2.jpg")
    s.set_result(other)
    n = len(seen)
    assert s.update_result(other, replace(other, verdict="match"))
    assert s.result_for("other2.jpg").verdict == "match" and len(seen) == n
