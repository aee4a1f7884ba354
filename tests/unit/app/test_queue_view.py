"""Queue views: filters, counts, next pending."""

from __future__ import annotations

from geomatch_app.app.queue_view import (
    QueueFilter,
    QueueRow,
    counts,
    describe_counts,
    next_pending,
    rows_for,
)
from geomatch_app.store import Store

ROWS = [
    QueueRow("/a/one.jpg", "pending", title="Market square", date_from="1920-01-01",
             date_to="1925-12-31", place_text="Lund", radius_m=12_000.0),
    QueueRow("/a/two.jpg", "confirmed", curator="Ann", title="Harbour", date_from="1950-01-01",
             date_to="1950-12-31", radius_m=40.0),
    QueueRow("/a/three.jpg", "skipped", curator="Bob", verdict="likely not in gallery"),
    QueueRow("/a/four.jpg", "pending", archive_id="AR-4"),
    QueueRow("/a/five.jpg", "unreadable", unreadable="truncated file"),
    QueueRow("/a/six.jpg", "none", curator="Ann"),
]


def _names(view: QueueFilter) -> list[str]:
    return [r.path.split("/")[-1][:-4] for r in ROWS if view.matches(r)]


def test_filters():
    assert _names(QueueFilter(status="to do")) == ["one", "three", "four"]
    assert _names(QueueFilter(status="done")) == ["two", "six"]
    assert _names(QueueFilter(status="unreadable")) == ["five"]
    assert _names(QueueFilter(curator="Ann")) == ["two", "six"]
    assert _names(QueueFilter(verdict="not in")) == ["three"]
    assert _names(QueueFilter(min_radius_m=1000)) == ["one"]
    assert _names(QueueFilter(date_from="1921", date_to="1930")) == ["one"]  # overlaps
    assert _names(QueueFilter(date_from="1926")) == ["two"]
    assert _names(QueueFilter(date_to="1919")) == []
    assert _names(QueueFilter(text="lund market")) == ["one"]
    assert _names(QueueFilter(text="ar-4")) == ["four"]
    assert not QueueFilter().active and QueueFilter(text="x").active


def test_counts_and_next_pending():
    assert counts(ROWS) == {"done": 2, "to do": 3, "unreadable": 1, "total": 6}
    assert describe_counts(ROWS, 2) == "2 done · 3 to do · 1 unreadable · showing 2 of 6"
    assert next_pending(ROWS, "/a/one.jpg") == "/a/four.jpg"
    assert next_pending(ROWS, "/a/four.jpg") == "/a/one.jpg"  # wraps around
    assert next_pending(ROWS, "/a/four.jpg", QueueFilter(text="ar-")) is None
    assert next_pending([r for r in ROWS if r.status != "pending"], "/a/two.jpg") is None


def test_rows_from_the_store(tmp_path):
    with Store(tmp_path / "c.sqlite") as store:
        a = store.add_query(tmp_path / "a.jpg", title="A", date="1923", place_text="Lund")
        b = store.add_query(tmp_path / "b.jpg")
        store.decide(a, "confirmed", lat=1.0, lon=2.0, curator="Ann")
        store.decide(b, "rejected", candidate_path="/g/x.jpg", curator="Ann")  # one candidate
        store.mark_unreadable(store.add_query(tmp_path / "c.jpg"), "not an image")
        paths = [q.path for q in store.queries()]
        rows = rows_for(store, paths, radii={paths[0]: 30.0})
        assert [(r.status, r.curator) for r in rows] == [
            ("confirmed", "Ann"), ("pending", ""), ("unreadable", "")]
        assert (rows[0].title, rows[0].date_from, rows[0].radius_m) == ("A", "1923-01-01", 30.0)
        assert rows[2].unreadable == "not an image"


def test_an_unreadable_photo_cannot_be_decided(tmp_path):
    import pytest

    from geomatch_app.app import curation
    from geomatch_app.core.errors import GeomatchError

    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"not an image")
    with Store(tmp_path / "c.sqlite") as store:
        curation.mark_unreadable(store, str(bad), "not an image")
        with pytest.raises(GeomatchError, match="cannot be decided"):
            curation.decide(store, str(bad), "none", curator="Ann")
        assert store.decisions(store.find_query(bad).id) == []
        store.mark_unreadable(store.find_query(bad).id, "")  # the file was replaced
        curation.decide(store, str(bad), "none", curator="Ann")
        assert store.find_query(bad).status == "none"
