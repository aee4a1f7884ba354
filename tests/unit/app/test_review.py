"""A second curator's review and the agreement report: Cohen's kappa checked by hand."""

from __future__ import annotations

import pytest

from geomatch_app.app import review
from geomatch_app.cli import main
from geomatch_app.core.errors import GeomatchError
from geomatch_app.store import Store

# Ten photos; Ann and Bob each decide every one (c = confirmed at the same map point).
ANN = "c c c c n n u c n c".split()
BOB = "c c c n n n c c c c".split()
# Agreement on photos 1 2 3 5 6 8 10 -> p_o = 7/10.
# Marginals: Ann c 6, n 3, u 1; Bob c 7, n 3  ->  p_e = .6*.7 + .3*.3 + .1*0 = .51
# kappa = (.70 - .51) / (1 - .51) = .19 / .49 = 0.387755...
STATUS = {"c": "confirmed", "n": "none", "u": "unsure"}


def _decide(store, qid, code, curator, lat=55.7):
    if code == "c":
        return store.decide(qid, "confirmed", lat=lat, lon=13.19, curator=curator)
    return store.decide(qid, STATUS[code], curator=curator)


def test_cohen_kappa_by_hand():
    p_o, p_e, kappa = review.cohen_kappa(list(zip(ANN, BOB, strict=True)))
    assert p_o == pytest.approx(0.70)
    assert p_e == pytest.approx(0.51)
    assert kappa == pytest.approx(0.19 / 0.49)
    assert review.cohen_kappa([("a", "a"), ("a", "a")])[2] is None  # p_e = 1: undefined
    assert review.cohen_kappa([("a", "a"), ("b", "b")])[2] == pytest.approx(1.0)


def test_two_curators_kappa_from_the_store(tmp_path):
    with Store(tmp_path / "c.sqlite") as store:
        for i, (a, b) in enumerate(zip(ANN, BOB, strict=True)):
            qid = store.add_query(tmp_path / f"q{i}.jpg")
            _decide(store, qid, a, "Ann")
            _decide(store, qid, b, "Bob")
            store.decide(qid, "skipped", curator="Cy")  # skips are not opinions
        rep = review.agreement_report(store)
        assert len(rep.photos) == 10
        assert [p.agree for p in rep.photos] == [a == b for a, b in zip(ANN, BOB, strict=True)]
        assert rep.kappa == pytest.approx(0.19 / 0.49)
        assert "kappa = 0.388" in rep.text()


def test_confirmations_elsewhere_disagree(tmp_path):
    with Store(tmp_path / "c.sqlite") as store:
        q1, q2 = store.add_query(tmp_path / "a.jpg"), store.add_query(tmp_path / "b.jpg")
        _decide(store, q1, "c", "Ann")
        _decide(store, q1, "c", "Bob", lat=55.7 + 0.0001)  # 11 m: the same place
        _decide(store, q2, "c", "Ann")
        _decide(store, q2, "c", "Bob", lat=55.8)  # 11 km away
        rep = review.agreement_report(store)
        assert [(p.second_label, p.agree) for p in rep.photos] == [
            ("confirmed", True), (review.ELSEWHERE, False)]
        # p_o = 1/2; Ann c c, Bob c e -> p_e = 1 * 1/2; kappa = 0
        assert rep.kappa == pytest.approx(0.0)


def test_review_accept_dispute_undo_and_report(tmp_path):
    with Store(tmp_path / "c.sqlite") as store:
        ids = []
        for i, code in enumerate("c c n c".split()):
            qid = store.add_query(tmp_path / f"q{i}.jpg")
            ids.append(_decide(store, qid, code, "Ann"))
        todo = review.to_review(store, "Bob")
        assert [t.decision.id for t in todo] == ids  # confirmations and none of these
        assert review.to_review(store, "Ann") == []  # not one's own
        with pytest.raises(GeomatchError, match="second curator"):
            review.review(store, ids[0], "accept", reviewer="Ann")
        review.review(store, ids[0], "accept", reviewer="Bob")
        review.review(store, ids[1], "dispute", reviewer="Bob", note="wrong bridge")
        review.review(store, ids[2], "accept", reviewer="Bob")
        assert [t.verdict for t in review.to_review(store, "Bob")] == [
            "accept", "dispute", "accept", ""]
        rep = review.agreement_report(store)
        assert [(p.second_label, p.via) for p in rep.photos] == [
            ("confirmed", "review"), (review.DISPUTED, "review"), ("none", "review")]
        # p_o = 2/3; Ann c c n, Bob c d n -> p_e = (2*1 + 1*1)/9 = 1/3; kappa = (1/3)/(2/3)
        assert rep.kappa == pytest.approx(0.5)
        assert [q.id for q, _ in store.confirmed(reviewed=True)] == [store.decision(ids[0])
                                                                     .query_id]
        # a review is undoable like a decision; a newer verdict replaces the older one
        assert "accept by Bob of Ann's none" in store.undo()
        assert store.reviews(ids[2]) == []
        assert len(review.agreement_report(store).photos) == 2
        review.review(store, ids[1], "accept", reviewer="Bob")
        assert [r.verdict for r in store.reviews(ids[1])] == ["accept"]
        assert len(store.confirmed(reviewed=True)) == 2
        assert "accept by Bob" in store.undo()  # the older dispute comes back
        assert [r.verdict for r in store.reviews(ids[1])] == ["dispute"]


def test_cli_review(tmp_path, capsys):
    db = tmp_path / "c.sqlite"
    with Store(db) as store:
        qid = store.add_query(tmp_path / "q.jpg")
        did = _decide(store, qid, "c", "Ann")
    assert main(["review", "--db", str(db), "--reviewer", "Bob"]) == 0
    assert "to review" in capsys.readouterr().out
    assert main(["review", "--db", str(db), "--reviewer", "Bob", "--dispute", str(did),
                 "--note", "no"]) == 0
    out = capsys.readouterr().out
    assert "dispute decision" in out and "DIFFER" in out
