"""Every entity goes in and comes back out unchanged, from a fresh connection."""

from __future__ import annotations

import json
import sqlite3

import pytest
from store_helpers import candidates_for, gallery_photos

from geomatch_app.core.types import Candidate, Estimate, Photo
from geomatch_app.store import SCHEMA_VERSION, NotFoundError, Store


def test_pragmas_and_version(store: Store):
    conn = sqlite3.connect(store.path)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert store.schema_version == SCHEMA_VERSION
    db = store._db().conn
    assert db.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    assert db.execute("PRAGMA busy_timeout").fetchone()[0] >= 1000
    assert db.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL


def test_gallery_and_images(store: Store, fordham):
    gid = store.add_gallery("fordham", root=fordham, source="VPR_Tutorial", credit="N. Trinh",
                            licence="GPL-3.0")
    assert store.add_images(gid, gallery_photos(fordham)) == 2
    assert store.add_images(gid, gallery_photos(fordham)) == 0  # same again: nothing changes
    reopened = Store(store.path)
    (g,) = reopened.galleries()
    assert (g.name, g.licence, g.credit, g.n_images) == ("fordham", "GPL-3.0", "N. Trinh", 2)
    imgs = reopened.images(gid)
    assert [i.place_id for i in imgs] == ["fordham_p0", "fordham_p0"]
    assert imgs[1].heading == 80.0 and imgs[0].lat == pytest.approx(40.8623556)
    import hashlib
    want = hashlib.sha256((fordham / "images/p0_i1.jpg").read_bytes()).hexdigest()
    assert imgs[0].sha256 == want
    assert reopened.find_image(sha256=want).id == imgs[0].id
    assert reopened.find_image(imgs[1].path).id == imgs[1].id
    assert reopened.find_image("/nowhere.jpg") is None


def test_query_fields_and_dates(store: Store, fordham):
    path = fordham / "images/p0_i0.jpg"
    qid = store.add_query(path, title="Keating Hall", archive_id="A-17", date="c. 1920-1925",
                          notes="glass plate")
    q = store.query(qid)
    assert (q.title, q.archive_id, q.notes, q.status) == ("Keating Hall", "A-17", "glass plate",
                                                           "open")
    assert (q.date_from, q.date_to) == ("1920-01-01", "1925-12-31")
    assert store.add_query(str(path)) == qid  # same file, same query
    assert store.find_query(path).id == qid
    store.update_query(qid, title="Keating Hall, east side", date_text="1931-05-07")
    q = store.query(qid)
    assert q.title == "Keating Hall, east side" and q.date_from == q.date_to == "1931-05-07"
    with pytest.raises(ValueError):
        store.update_query(qid, path="/elsewhere.jpg")


def test_find_query_by_content_after_move(store: Store, fordham, tmp_path):
    src = tmp_path / "scan.jpg"
    src.write_bytes((fordham / "images/p1_i0.jpg").read_bytes())
    qid = store.add_query(src)
    moved = src.rename(tmp_path / "renamed.jpg")
    assert store.find_query(moved).id == qid


def test_identical_files_side_by_side_are_two_queries(store: Store, fordham, tmp_path):
    """Two files with the same bytes that both exist (a copy, a re-scan) are not one query."""
    a, b = tmp_path / "a.jpg", tmp_path / "b.jpg"
    for f in (a, b):
        f.write_bytes((fordham / "images/p1_i0.jpg").read_bytes())
    qa = store.add_query(a)
    assert store.find_query(b) is None
    qb = store.add_query(b)
    assert qb != qa and store.find_query(b).id == qb and store.find_query(a).id == qa


def test_models_indexes_suggestions(store: Store, fordham):
    gid = store.add_gallery("fordham")
    store.add_images(gid, gallery_photos(fordham))
    mid = store.register_model("effnetlite2-gem", weight_hash="abc", card="card text",
                               fingerprint={"name": "effnetlite2-gem", "dim": 352})
    assert store.register_model("effnetlite2-gem", weight_hash="abc") == mid
    iid = store.register_index("/idx", model=mid, gallery_id=gid, n_images=2)
    (m,) = store.models()
    assert json.loads(m.fingerprint)["dim"] == 352 and m.card == "card text"
    (ix,) = store.indexes()
    assert (ix.id, ix.model_id, ix.gallery_id, ix.n_images) == (iid, mid, gid, 2)

    qid = store.add_query(fordham / "images/p0_i0.jpg")
    cands = candidates_for(gallery_photos(fordham)) + [Candidate(3, 0.1, "/elsewhere.jpg")]
    est = Estimate(lat=40.862, lon=-73.8847, radius_m=80.0, confidence=0.7)
    run_id = store.record_suggestions(qid, cands, model=mid, estimate=est, index_id=iid)
    run = Store(store.path).latest_run(qid)
    assert run.id == run_id and run.model_name == "effnetlite2-gem" and run.index_id == iid
    assert (run.est_lat, run.est_lon, run.est_radius_m, run.est_confidence) == (
        40.862, -73.8847, 80.0, 0.7)
    assert [s.rank for s in run.suggestions] == [1, 2, 3]
    assert run.suggestions[0].image_id is not None and run.suggestions[2].image_id is None
    assert run.suggestions[1].heading == 80.0
    # an unknown model name is registered on the fly
    store.record_suggestions(qid, cands[:1], model="resnet18-netvlad")
    assert [r.model_name for r in store.suggestion_runs(qid)] == [
        "resnet18-netvlad", "effnetlite2-gem"]


def test_decisions_candidate_and_point(store: Store, fordham):
    gid = store.add_gallery("fordham")
    photos = gallery_photos(fordham)
    store.add_images(gid, photos)
    qid = store.add_query(fordham / "images/p0_i0.jpg")
    store.record_suggestions(qid, candidates_for(photos), model="effnetlite2-gem")
    d1 = store.decide(qid, "confirmed", candidate_path=photos[1].path, curator="Ann",
                      note="same tower")
    d = store.decision(d1)
    # location, heading, rank and model are filled in from the gallery and the suggestion
    assert (d.lat, d.lon, d.heading) == (photos[1].lat, photos[1].lon, 80.0)
    assert (d.rank, d.model_name, d.curator, d.note) == (2, "effnetlite2-gem", "Ann", "same tower")
    assert d.suggestion_id is not None and d.image_id is not None and not d.is_point
    d2 = store.decide(qid, "confirmed", lat=40.86, lon=-73.88, heading=-90, curator="Ann")
    cur = store.current_decision(qid)
    assert cur.id == d2 and cur.is_point and cur.heading == 270.0 and cur.rank is None
    assert store.query(qid).status == "confirmed"
    d3 = store.decide(qid, "rejected", suggestion_id=store.latest_run(qid).suggestions[0].id,
                      curator="Bob")
    assert store.decision(d3).candidate_path == photos[0].path and store.decision(d3).rank == 1
    assert store.current_decision(qid, curator="Ann").id == d2
    # rejecting one candidate is a hard negative, not a verdict on the photo: Ann's
    # confirmation stays in force and the photo stays confirmed
    assert store.current_decision(qid).id == d2
    assert store.queries(status="rejected") == []
    assert [q.id for q in store.queries(status="confirmed")] == [qid]
    assert [d.id for _, d in store.negatives()] == [d3]


def test_decide_validates(store: Store, tmp_path):
    qid = store.add_query(tmp_path / "q.jpg")
    with pytest.raises(ValueError):
        store.decide(qid, "maybe")
    with pytest.raises(ValueError):
        store.decide(qid, "confirmed")  # no place
    with pytest.raises(ValueError):
        store.decide(qid, "confirmed", lat=91.0, lon=0.0)
    with pytest.raises(ValueError):
        store.decide(qid, "confirmed", lat=1.0)
    with pytest.raises(NotFoundError):
        store.decide(qid + 99, "skipped")
    assert store.decide(qid, "skipped") > 0
    assert store.decisions(qid)[0].status == "skipped"
    assert store.stats()["decisions"] == 1


def test_decisions_cannot_be_deleted(store: Store, tmp_path):
    qid = store.add_query(tmp_path / "q.jpg")
    store.decide(qid, "confirmed", lat=1.0, lon=2.0)
    conn = sqlite3.connect(store.path)
    with pytest.raises(sqlite3.IntegrityError, match="never deleted"):
        conn.execute("DELETE FROM decisions")
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        conn.execute("UPDATE events SET description = 'x'")


def test_photo_dicts_accepted(store: Store):
    gid = store.add_gallery("g")
    store.add_images(gid, [{"path": "/x/a.jpg", "lat": 1.0, "lon": 2.0, "credit": "me"}],
                     hash_files=False)
    (img,) = store.images(gid)
    assert img.credit == "me" and img.sha256 == ""
    assert store.add_images(gid, [Photo(path="/x/a.jpg", lat=1.5, lon=2.0)],
                            hash_files=False) == 1
    assert store.images(gid)[0].lat == 1.5


def test_a_run_may_list_one_gallery_photo_twice(tmp_path):
    from geomatch_app.core.types import Candidate

    with Store(tmp_path / "c.sqlite") as store:
        gid = store.add_gallery("g")
        store.add_images(gid, [{"path": "/g/a.jpg", "lat": 1.0, "lon": 2.0}], hash_files=False)
        q = store.add_query(tmp_path / "q.jpg")
        run = store.record_suggestions(q, [Candidate(1, 0.9, "/g/a.jpg"),
                                           Candidate(2, 0.8, "/g/a.jpg")], model="m")
        image = store.find_image("/g/a.jpg").id
        assert [s.image_id for s in store.run(run).suggestions] == [image, image]


def test_update_run_reorders_in_place_and_decisions_follow_the_path(store: Store, fordham):
    """Geometric verification re-reads a run (store.update_run): new ranks and p_match on the
    same suggestion rows, a new verdict/estimate/params; a decision made with the rank the
    curator saw before the re-order still names the photo picked."""
    from dataclasses import replace

    from geomatch_app.store.errors import InvalidValueError

    gid = store.add_gallery("fordham")
    photos = gallery_photos(fordham)
    store.add_images(gid, photos)
    qid = store.add_query(fordham / "images/p0_i0.jpg")
    cands = [replace(c, p_match=p) for c, p in zip(candidates_for(photos), (0.6, 0.3),
                                                    strict=True)]
    run_id = store.record_suggestions(qid, cands, model="m", verdict="uncertain",
                                      params={"k": 2, "pending": "verification"})
    before = {s.path: s.id for s in store.run(run_id).suggestions}
    swapped = [replace(cands[1], rank=1, p_match=0.9), replace(cands[0], rank=2, p_match=0.2)]
    est = Estimate(lat=40.862, lon=-73.8847, radius_m=30.0, confidence=0.9)
    store.update_run(run_id, swapped, estimate=est, verdict="match", params={"k": 2})
    run = Store(store.path).run(run_id)
    assert [(s.path, s.rank, s.p_match) for s in run.suggestions] == [
        (cands[1].path, 1, 0.9), (cands[0].path, 2, 0.2)]
    assert {s.path: s.id for s in run.suggestions} == before
    assert (run.verdict, run.est_radius_m, run.est_confidence) == ("match", 30.0, 0.9)
    assert store.find_run(qid, model_id=run.model_id, index_id=None, params={"k": 2}).id \
        == run_id
    assert store.find_run(qid, model_id=run.model_id, index_id=None,
                          params={"k": 2, "pending": "verification"}) is None
    # picked as rank 1 before the re-order: the decision keeps the photo picked
    did = store.decide(qid, "confirmed", candidate_path=cands[0].path, run_id=run_id, rank=1)
    d = store.decision(did)
    assert (d.suggestion_id, d.candidate_path, d.rank) == (before[cands[0].path],
                                                           cands[0].path, 2)
    with pytest.raises(InvalidValueError):  # only the run's own candidates
        store.update_run(run_id, [replace(cands[0], path="/other.jpg")], verdict="match")
    assert [s.rank for s in store.run(run_id).suggestions] == [1, 2]  # rolled back


def test_suggestion_writes_skip_the_fsync_and_decisions_keep_it(store: Store, fordham):
    """A suggestion run is a cached computation: written with synchronous=NORMAL; every
    other write (a decision) stays FULL, and the connection is back to FULL afterwards."""
    qid = store.add_query(fordham / "images/p0_i0.jpg")
    seen = []
    store._db().conn.set_trace_callback(seen.append)
    run_id = store.record_suggestions(qid, candidates_for(gallery_photos(fordham)), model="m")
    store.decide(qid, "skipped")
    store._db().conn.set_trace_callback(None)
    assert seen.index("PRAGMA synchronous = NORMAL") < seen.index("PRAGMA synchronous = FULL")
    assert seen.count("PRAGMA synchronous = NORMAL") == 1
    assert store._db().execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    assert Store(store.path).run(run_id).suggestions  # committed
