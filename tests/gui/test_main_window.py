"""The curator's path through the main window, on the real demo gallery and a real SQLite file."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QApplication

from geomatch_app.core.paths import demo_dir


def _decisions(db: Path) -> list[tuple]:
    with sqlite3.connect(db) as con:
        return con.execute("SELECT status, candidate_path, rank, deleted FROM decisions "
                           "ORDER BY id").fetchall()


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_drop_files_and_folders_fills_queue(qtbot, window, tmp_path):
    folder = demo_dir() / "images" / "opensfm_berlin_lund"
    single = next((demo_dir() / "images").rglob("*.jpg"))
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(folder)), QUrl.fromLocalFile(str(single))])
    view = window.queue.viewport()
    enter = QDragEnterEvent(QPoint(10, 10), Qt.DropAction.CopyAction, mime,
                            Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(view, enter)
    assert enter.isAccepted()
    drop = QDropEvent(QPointF(10, 10), Qt.DropAction.CopyAction, mime,
                      Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(view, drop)
    expected = sorted(str(p.resolve()) for p in folder.glob("*.jpg"))
    paths = window.queue.paths()
    assert paths[:len(expected)] == expected
    assert str(single.resolve()) in paths
    assert len(paths) == len(set(paths))
    assert all(window.queue.status(p) == "pending" for p in paths)
    # thumbnails are made in the worker and arrive as icons
    qtbot.waitUntil(lambda: not window.queue.topLevelItem(0).icon(0).isNull(), timeout=20_000)


def test_query_fills_grid_then_decide_undo_redo(qtbot, ranked_window, tmp_path):
    from geomatch_app.gui.inspect import verdict_text

    win = ranked_window
    q = win.current
    result = win.session.result
    assert result.verdict in ("match", "uncertain", "no_match")  # the model is calibrated
    assert win.results.banner.isVisible()
    assert win.results.banner.text().startswith(verdict_text(result.verdict, result.p_best))
    assert "geometric verification" in win.results.banner.text()  # it ran, and says so
    assert win.queue.topLevelItem(0).text(3) == result.verdict.replace("_", " ")
    assert win.grid.count() == 8  # k from the settings
    ranks = [win.grid.item(i).data(Qt.ItemDataRole.UserRole) for i in range(win.grid.count())]
    assert ranks == list(range(1, 9))
    top = win.grid.candidate(1)
    assert Path(top.path).is_file() and top.score >= win.grid.candidate(8).score

    qtbot.keyClick(win, Qt.Key.Key_1)
    assert win.pick.rank == 1
    assert win.inspect_panel.currentIndex() == 1  # side by side
    qtbot.keyClick(win, Qt.Key.Key_Return)
    db = tmp_path / "curation.sqlite"
    assert _decisions(db) == [("confirmed", top.path, 1, 0)]
    assert win.queue.status(q) == "confirmed"
    history = win.curation.history
    assert any("confirmed" in history.item(i).text() for i in range(history.count()))

    qtbot.keyClick(win, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert _decisions(db) == [("confirmed", top.path, 1, 1)]  # undone, never deleted
    assert win.queue.status(q) == "pending"
    qtbot.keyClick(win, Qt.Key.Key_Z,
                   Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    assert _decisions(db) == [("confirmed", top.path, 1, 0)]
    assert win.queue.status(q) == "confirmed"

    # X rejects the picked candidate only: a hard negative; the photo stays confirmed
    qtbot.keyClick(win, Qt.Key.Key_2)
    qtbot.keyClick(win, Qt.Key.Key_X)
    assert _decisions(db)[-1] == ("rejected", win.grid.candidate(2).path, 2, 0)
    assert win.queue.status(q) == "confirmed"


def test_corrupt_image_shows_error_and_next_photo_works(qtbot, window, demo_index, demo_queries,
                                                       tmp_path):
    bad = tmp_path / "scan_0001.jpg"
    bad.write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg" * 4)
    window.open_index(str(demo_index))
    qtbot.waitUntil(lambda: window.index is not None, timeout=60_000)
    with qtbot.waitSignal(window.query_ranked, timeout=60_000) as blocker:
        window.add_photos([str(bad), demo_queries[1]])
    assert blocker.args == [demo_queries[1]]
    qtbot.waitUntil(lambda: window.queue.status(str(bad)) == "unreadable", timeout=20_000)
    assert any(str(bad) in m for m in window.messages.messages())
    assert window.messages.isVisible()  # non-modal panel, no dialog
    assert QApplication.activeModalWidget() is None
    qtbot.keyClick(window, Qt.Key.Key_Right)
    assert window.current == demo_queries[1]
    assert window.grid.count() == 8


def test_missing_index_is_a_message_not_a_crash(qtbot, window, tmp_path):
    window.open_index(str(tmp_path / "no-such-index"))
    qtbot.waitUntil(lambda: bool(window.messages.messages()), timeout=20_000)
    assert "no-such-index" in window.messages.messages()[0]
    assert window.index is None


def test_settings_persist_in_isolated_qsettings(qtbot, isolated_settings):
    from geomatch_app.gui.settings import Settings

    s = Settings.load()
    assert s.k == Settings().k
    s.curator, s.k, s.sigma_km = "Ann", 12, 0.3
    s.save()
    again = Settings.load()
    assert (again.curator, again.k, again.sigma_km) == ("Ann", 12, 0.3)
    assert list((isolated_settings / "qsettings").rglob("*.ini"))


def test_side_by_side_heatmap_overlay_and_opacity(qtbot, ranked_window):
    win = ranked_window
    qtbot.keyClick(win, Qt.Key.Key_2)
    assert win.pick.rank == 2
    assert win.inspect.current_method() == "magnitude"
    qtbot.waitUntil(lambda: not win.inspect.query_view.overlay.pixmap().isNull()
                    and not win.inspect.cand_view.overlay.pixmap().isNull(), timeout=30_000)
    qtbot.waitUntil(lambda: win.inspect.cand_view.has_image(), timeout=10_000)
    # the overlay covers the photo exactly
    assert (win.inspect.cand_view.overlay.pixmap().size()
            == win.inspect.cand_view.photo.pixmap().size())
    win.inspect.opacity.setValue(20)
    assert abs(win.inspect.query_view.overlay.opacity() - 0.2) < 1e-6
    assert win.inspect.select_method("none")
    assert win.inspect.query_view.overlay.pixmap().isNull()


def test_occlusion_runs_in_background_and_esc_cancels(qtbot, ranked_window):
    win = ranked_window
    qtbot.keyClick(win, Qt.Key.Key_1)
    assert win.inspect.select_method("occlusion")
    job = win.inspect_panel.heat_slot.current
    assert job is not None and "occlusion" in job.label
    qtbot.waitUntil(lambda: job.last_progress[1] > 0 or job.is_done(), timeout=60_000)
    qtbot.keyClick(win, Qt.Key.Key_Escape)
    qtbot.waitUntil(job.is_done, timeout=60_000)
    assert job.state in ("cancelled", "done")
    assert not win.messages.messages()


def test_keyboard_works_with_focus_in_the_queue(qtbot, ranked_window, demo_queries):
    win = ranked_window
    win.add_photos(demo_queries[1:])
    win.queue.setFocus()
    qtbot.keyClick(win.queue, Qt.Key.Key_Right)
    assert win.current == demo_queries[1]
    qtbot.keyClick(win.queue, Qt.Key.Key_Left)
    assert win.current == demo_queries[0]
    qtbot.keyClick(win.queue, Qt.Key.Key_3)
    assert win.pick.rank == 3
    qtbot.keyClick(win.queue, Qt.Key.Key_S)
    assert win.queue.status(demo_queries[0]) == "skipped"
    assert win.current == demo_queries[1]  # auto-advance to the next photo to decide
    qtbot.keyClick(win.queue, Qt.Key.Key_U)
    assert win.queue.status(demo_queries[1]) == "unsure"
    assert win.finetune_action.isEnabled()


def test_queue_and_decisions_come_back_in_a_new_session(qtbot, ranked_window, tmp_path,
                                                       opened_demo_index):
    """A second start on the same project: the queue, decisions and history come back, the
    ranking is the stored one (no new suggestion run), and `db check` sees the gallery."""
    from geomatch_app.gui.main_window import MainWindow
    from geomatch_app.gui.settings import Settings
    from geomatch_app.store.check import check_database

    win = ranked_window
    q = win.current
    qtbot.keyClick(win, Qt.Key.Key_1)
    qtbot.keyClick(win, Qt.Key.Key_Return)
    assert win.undo_action.isEnabled() and "confirmed" in win.undo_action.text()
    db = tmp_path / "curation.sqlite"
    again = MainWindow(settings=Settings(k=8, curator="tester"), db_path=str(db))
    try:
        assert again.queue.paths() == [q]
        assert again.queue.status(q) == "confirmed"
        history = again.curation.history
        assert any("confirmed" in history.item(i).text() for i in range(history.count()))
        with qtbot.waitSignal(again.query_ranked, timeout=60_000):
            again.set_index(opened_demo_index)
        assert again.session.result_for(q).reused
        assert again.grid.count() == 8
    finally:
        again.jobs.cancel_all()
        qtbot.waitUntil(lambda: not again.jobs.workers, timeout=20_000)
        again.close()
        again.deleteLater()
        qtbot.wait(50)
    with sqlite3.connect(db) as con:
        assert con.execute("SELECT count(*) FROM suggestion_runs").fetchone()[0] == 1
        assert con.execute("SELECT count(*) FROM models").fetchone()[0] == 1
    report = check_database(db)
    assert report.ok and report.counts["galleries"] == 1 and report.counts["indexes"] == 1
    assert report.counts["images"] == len(opened_demo_index)


def test_place_names_in_grid_queue_and_result_line(qtbot, ranked_window, monkeypatch):
    from geomatch_app.geo import geocode

    monkeypatch.setattr(geocode, "is_loaded", lambda: True)
    monkeypatch.setattr(geocode, "place_names", lambda pts: ["Lund, SE"] * len(pts))
    win = ranked_window
    win._on_ranked(win.session.result)  # the same ranking delivered again, names known now
    assert win.grid.item(0).text().endswith("\nLund, SE")
    assert win.queue.topLevelItem(0).text(0).endswith("\nLund, SE")
    assert "(Lund, SE)" in win.results.label.text()


def test_return_in_the_map_search_searches_instead_of_confirming(qtbot, window, monkeypatch):
    """Typed into the map's place search, Return runs the search; the window's Return
    shortcut (Confirm location) does not take it. Elsewhere Return still confirms."""
    from PySide6.QtCore import Qt

    window.show()
    qtbot.waitExposed(window)
    searched, decided = [], []
    monkeypatch.setattr(window.map, "search_place", lambda text: searched.append(text))
    monkeypatch.setattr(window, "decide", lambda status: decided.append(status))
    box = window.map.search
    box.setFocus()
    qtbot.waitUntil(box.hasFocus, timeout=5_000)
    qtbot.keyClicks(box, "Helsingfors")
    qtbot.keyClick(box, Qt.Key.Key_Return)
    assert searched == ["Helsingfors"] and decided == []
    window.grid.setFocus()
    qtbot.waitUntil(window.grid.hasFocus, timeout=5_000)
    qtbot.keyClick(window.grid, Qt.Key.Key_Return)
    assert decided == ["confirmed"]
