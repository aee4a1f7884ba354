"""Provenance reads as sentences, and curators' agreement is summarised per query."""

from __future__ import annotations

from store_helpers import candidates_for, gallery_photos

from geomatch_app.store import Store


def test_history_lines(store: Store, fordham):
    gid = store.add_gallery("fordham")
    photos = gallery_photos(fordham)
    store.add_images(gid, photos)
    q = store.add_query(fordham / "images/p0_i0.jpg")
    cands = candidates_for(photos)
    cands = [cands[1], cands[0]]
    for rank, c in enumerate(cands, start=1):
        c.rank = rank
    store.record_suggestions(q, cands, model="effnetlite2-gem")
    store.decide(q, "confirmed", candidate_path=photos[0].path, curator="Ann")
    store.decide(q, "confirmed", lat=40.8621, lon=-73.8846, heading=120, curator="Ann",
                 note="tower on the left")
    store.decide(q, "unsure", curator="Bob")
    store.undo()
    lines = [str(h) for h in store.history(q)]
    texts = [h.text for h in store.history(q)]
    assert texts[0] == "add query p0_i0.jpg"
    assert texts[1] == "2 suggestions from model effnetlite2-gem"
    assert lines[2].endswith("confirmed by Ann using model effnetlite2-gem at rank 2 "
                             "(candidate p0_i1.jpg), later changed")
    assert lines[3].endswith('confirmed by Ann at 40.86210, -73.88460 (map point), facing 120°'
                             ' — "tower on the left", current')
    assert lines[4].endswith("marked unsure by Bob, undone")
    assert texts[5].startswith("undo by an unnamed curator: p0_i0.jpg: marked unsure by Bob")


def test_agreement_states(store: Store, tmp_path):
    q = store.add_query(tmp_path / "q.jpg")
    assert store.agreement(q).state == "none"
    store.decide(q, "skipped", curator="Cy")
    assert store.agreement(q).state == "none"  # a skip is not an opinion
    store.decide(q, "confirmed", candidate_path="/g/a.jpg", lat=52.0, lon=4.0, curator="Ann")
    assert store.agreement(q).state == "single"
    store.decide(q, "confirmed", lat=52.0002, lon=4.0002, curator="Bob")  # ~26 m away
    agree = store.agreement(q)
    assert agree.state == "agree" and set(agree.decisions) == {"Ann", "Bob", "Cy"}
    store.decide(q, "confirmed", lat=52.01, lon=4.0, curator="Bob")  # 1.1 km away
    conflict = store.agreement(q)
    assert conflict.state == "conflict" and "a.jpg" in conflict.summary
    store.decide(q, "rejected", curator="Bob")
    assert "Bob: rejected" in store.agreement(q).summary
    store.undo()
    store.undo()
    assert store.agreement(q).state == "agree"
