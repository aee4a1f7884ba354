"""The GUI thread reads while a background thread writes: no errors, no torn reads."""

from __future__ import annotations

import threading

from geomatch_app.store import Store


def test_reader_and_writer_threads(store: Store, tmp_path):
    qids = [store.add_query(tmp_path / f"q{i}.jpg") for i in range(20)]
    errors: list[BaseException] = []
    done = threading.Event()
    seen_counts: list[int] = []

    def writer() -> None:  # a background job recording decisions, one transaction each
        try:
            for i in range(200):
                store.decide(qids[i % 20], "confirmed", lat=float(i % 80), lon=1.0,
                             curator="bg")
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            done.set()

    def reader() -> None:  # the GUI refreshing its lists while the writer runs
        try:
            while not done.is_set():
                stats = store.stats()
                assert stats["queries"] == 20
                assert stats["confirmed"] + stats["open"] == 20
                seen_counts.append(stats["decisions"])
                for q in store.queries(status="confirmed")[:3]:
                    assert store.current_decision(q.id) is not None
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=writer), threading.Thread(target=reader)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors
    assert seen_counts == sorted(seen_counts)  # the reader only ever sees committed progress
    assert store.stats()["decisions"] == 200


def test_two_stores_on_one_file(tmp_path):
    """Two processes' worth of Store objects (e.g. two curators) see each other's writes."""
    a, b = Store(tmp_path / "c.sqlite"), Store(tmp_path / "c.sqlite")
    q = a.add_query(tmp_path / "q.jpg")
    b.decide(q, "confirmed", lat=1.0, lon=2.0, curator="Bob")
    a.decide(q, "confirmed", lat=1.0001, lon=2.0, curator="Ann")
    assert b.agreement(q).state == "agree"
    a.close()
    b.close()
