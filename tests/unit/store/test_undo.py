"""Undo/redo behave like an editor's: LIFO, redo cleared by a new action, nothing lost."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from geomatch_app.store import NotFoundError, Store


def test_undo_redo_sequence(store: Store, tmp_path):
    q = store.add_query(tmp_path / "q.jpg")
    a = store.decide(q, "confirmed", lat=1.0, lon=1.0, curator="Ann")
    b = store.decide(q, "confirmed", lat=2.0, lon=2.0, curator="Ann")
    assert store.undo_description().endswith("confirmed by Ann at 2.00000, 2.00000 (map point)")
    assert "2.00000" in store.undo()
    assert store.current_decision(q).id == a
    assert "1.00000" in store.undo()
    assert store.current_decision(q) is None and store.query(q).status == "open"
    assert "add query" in store.undo()  # the query itself goes too
    assert store.queries() == [] and store.undo() is None
    assert "add query" in store.redo()
    assert "1.00000" in store.redo()
    assert store.current_decision(q).id == a
    c = store.decide(q, "rejected", curator="Ann")  # a new action clears the redo stack
    assert store.redo() is None and store.redo_description() is None
    assert store.current_decision(q).id == c
    # undone decisions are still in the file, marked
    assert [d.undone for d in store.decisions(q, include_undone=True)] == [False, True, False]
    assert store.decision(b).undone


def test_undo_survives_reopen(store: Store, tmp_path):
    q = store.add_query(tmp_path / "q.jpg")
    store.decide(q, "confirmed", lat=1.0, lon=1.0)
    store.close()
    again = Store(store.path)
    assert "confirmed" in again.undo()
    again.close()
    assert Store(store.path).current_decision(q) is None


def test_undo_per_curator(store: Store, tmp_path):
    q = store.add_query(tmp_path / "q.jpg")
    ann = store.decide(q, "confirmed", lat=1.0, lon=1.0, curator="Ann")
    bob = store.decide(q, "rejected", curator="Bob")
    assert "Ann" in store.undo(curator="Ann")
    assert store.decision(ann).undone and not store.decision(bob).undone
    assert store.undo(curator="Ann") is None  # Ann's only action is undone
    assert store.redo(curator="Bob") is None
    assert "Ann" in store.redo(curator="Ann")


def test_undo_of_edit_restores_old_values(store: Store, tmp_path):
    q = store.add_query(tmp_path / "q.jpg", title="old", date="1920")
    store.update_query(q, title="new", date_text="1931")
    store.undo()
    rec = store.query(q)
    assert (rec.title, rec.date_text, rec.date_from) == ("old", "1920", "1920-01-01")
    store.redo()
    assert store.query(q).title == "new"


def test_gallery_import_undo(store: Store):
    g = store.add_gallery("g")
    store.add_images(g, [{"path": f"/x/{i}.jpg"} for i in range(5)], hash_files=False)
    store.remove_gallery(g)
    assert store.images() == [] and store.galleries() == []
    store.undo()
    assert len(store.images(g)) == 5
    store.undo()  # the import
    assert store.images(g) == [] and len(store.galleries()) == 1


def test_suggestions_not_on_undo_stack(store: Store, tmp_path):
    from geomatch_app.core.types import Candidate

    q = store.add_query(tmp_path / "q.jpg")
    store.decide(q, "skipped")
    store.record_suggestions(q, [Candidate(1, 0.5, "/g.jpg")], model="m")
    assert "skipped" in store.undo()  # not the suggestion run
    assert store.latest_run(q) is not None


class UndoMachine(RuleBasedStateMachine):
    """The store against a two-stack model of an editor's undo/redo."""

    def __init__(self) -> None:
        super().__init__()
        self.dir = Path(tempfile.mkdtemp())
        self.store = Store(self.dir / "c.sqlite")
        self.queries = [self.store.add_query(self.dir / f"q{i}.jpg") for i in range(2)]
        self.done: list[tuple] = [("query", q) for q in self.queries]
        self.redo_stack: list[tuple] = []

    def teardown(self) -> None:
        self.store.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    def _live(self, q: int) -> bool:
        return ("query", q) in self.done

    @rule(i=st.integers(0, 1), status=st.sampled_from(["confirmed", "rejected", "skipped"]),
          lat=st.floats(-80, 80))
    def decide(self, i: int, status: str, lat: float) -> None:
        q = self.queries[i]
        if not self._live(q):
            with pytest.raises(NotFoundError):
                self.store.decide(q, status, lat=lat, lon=0.0)
            return
        did = self.store.decide(q, status, lat=lat, lon=0.0)
        self.done.append(("decide", q, did))
        self.redo_stack.clear()

    @rule()
    def undo(self) -> None:
        text = self.store.undo()
        if not self.done:
            assert text is None
            return
        self.redo_stack.append(self.done.pop())
        assert text is not None

    @rule()
    def redo(self) -> None:
        text = self.store.redo()
        if not self.redo_stack:
            assert text is None
            return
        self.done.append(self.redo_stack.pop())
        assert text is not None

    @invariant()
    def current_matches_model(self) -> None:
        for q in self.queries:
            applied = [a[2] for a in self.done if a[0] == "decide" and a[1] == q]
            current = self.store.current_decision(q)
            assert (current.id if current else None) == (max(applied) if applied else None)
        live = sorted(q.id for q in self.store.queries())
        assert live == sorted(q for q in self.queries if self._live(q))


TestUndoMachine = UndoMachine.TestCase
TestUndoMachine.settings = settings(max_examples=25, stateful_step_count=15, deadline=None,
                                    suppress_health_check=[HealthCheck.too_slow])
