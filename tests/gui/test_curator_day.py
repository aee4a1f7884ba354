"""The curator's working day in the window: catalogue in, queue views, decisions that say what
they mean (per-candidate reject, none of these, notes, auto-advance), unreadable photos, a
second curator's review with the kappa report, the export dialog, and Build index into a new
folder."""

from __future__ import annotations

import csv
import shutil
import sqlite3
from pathlib import Path

from PySide6.QtCore import Qt


def _rows(db: Path, sql: str) -> list[tuple]:
    with sqlite3.connect(db) as con:
        return con.execute(sql).fetchall()


def _catalogue(tmp_path, demo_queries) -> Path:
    cat = tmp_path / "catalogue.csv"
    with cat.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["file", "title", "archive_id", "date", "place", "lat", "lon"])
        for i, q in enumerate(demo_queries[:3]):
            w.writerow([q, f"Street view {i}", f"AR-{i}", f"{1920 + i}", "Berlin, Mitte",
                        "52.5" if i == 0 else "", "13.4" if i == 0 else ""])
    return cat


def test_catalogue_import_fills_queue_fields_and_filters(qtbot, window, tmp_path, demo_queries):
    from geomatch_app.gui.catalogue_dialog import start_import
    from geomatch_app.gui.queue import COL_DATE, COL_TITLE

    assert start_import(window, str(_catalogue(tmp_path, demo_queries))) is not None
    qtbot.waitUntil(lambda: len(window.queue.paths()) == 3, timeout=20_000)
    q = window.queue
    assert [q._items[p].text(COL_TITLE) for p in demo_queries[:3]] == [
        "Street view 0", "Street view 1", "Street view 2"]
    assert q._items[demo_queries[1]].text(COL_DATE) == "1921"
    panel = window.queue_panel
    assert panel.counts.text() == "0 done · 3 to do"
    # the record of the current photo is shown and editable
    window.queue.select_path(demo_queries[0])
    qtbot.waitUntil(lambda: window.record.edits["title"].text() == "Street view 0",
                    timeout=5_000)
    assert window.record.coords.text() == "52.500000, 13.400000"
    window.record.edits["place_text"].setText("Berlin, Schlossplatz")
    window.record.save_button.click()
    db = tmp_path / "curation.sqlite"
    assert ("Berlin, Schlossplatz",) in _rows(db, "SELECT place_text FROM queries")
    # filters: text, date range, status
    qtbot.keyClicks(panel.text, "schlossplatz")
    assert [p for p in q.paths() if not q._items[p].isHidden()] == [demo_queries[0]]
    assert "showing 1 of 3" in panel.counts.text()
    panel.text.clear()
    panel.date_from.setText("1921")
    assert [p for p in q.paths() if not q._items[p].isHidden()] == demo_queries[1:3]
    panel.date_from.clear()
    window.settings.auto_advance = False
    window.queue.select_path(demo_queries[2])
    window.decide("skipped")
    panel.status.setCurrentText("skipped")
    assert [p for p in q.paths() if not q._items[p].isHidden()] == [demo_queries[2]]
    panel.status.setCurrentText("all")
    # batch: select two, mark them unsure
    q.clearSelection()
    for p in demo_queries[:2]:
        q._items[p].setSelected(True)
    panel.unsure_button.click()
    assert [q.status(p) for p in demo_queries[:3]] == ["unsure", "unsure", "skipped"]
    assert panel.counts.text() == "0 done · 3 to do"


def test_reject_candidate_none_of_these_auto_advance_and_export(qtbot, ranked_window,
                                                                demo_queries, tmp_path):
    from geomatch_app.gui.export_dialog import ExportDialog

    win = ranked_window
    db = tmp_path / "curation.sqlite"
    win.add_photos(demo_queries[1:3])
    first = win.current
    # X without a pick says what to do and records nothing
    qtbot.keyClick(win, Qt.Key.Key_X)
    assert _rows(db, "SELECT count(*) FROM decisions") == [(0,)]
    assert any("Pick the candidate to reject" in m for m in win.messages.messages())
    # X on candidate 2: a hard negative, the photo stays to decide, no advance
    qtbot.keyClick(win, Qt.Key.Key_2)
    rejected = win.grid.candidate(2).path
    win.curation.note.setText("tower is different")
    qtbot.keyClick(win, Qt.Key.Key_X)
    assert _rows(db, "SELECT status, candidate_path, rank, note FROM decisions") == [
        ("rejected", rejected, 2, "tower is different")]
    assert win.queue.status(first) == "pending" and win.current == first
    assert win.pick is None and win.curation.note.text() == ""
    # confirm candidate 1: auto-advance to the next pending photo
    qtbot.keyClick(win, Qt.Key.Key_1)
    qtbot.keyClick(win, Qt.Key.Key_Return)
    assert win.queue.status(first) == "confirmed"
    assert win.current == demo_queries[1]
    # N: none of these, then on to the third
    qtbot.keyClick(win, Qt.Key.Key_N)
    assert win.queue.status(demo_queries[1]) == "none"
    assert win.current == demo_queries[2]
    assert win.queue_panel.counts.text() == "2 done · 1 to do"

    dlg = ExportDialog(win)
    dlg.out.setText(str(tmp_path / "set"))
    dlg.place_names.setChecked(False)  # the GeoNames table is tested in tests/unit/geo
    assert "1 confirmations" in dlg.preview.text()
    assert "1 rejected candidates, 1 none of these" in dlg.preview.text()
    assert dlg.start() is not None
    qtbot.waitUntil(lambda: dlg.report is not None, timeout=30_000)
    assert "geomatch eval --queries" in dlg.status.text()
    with (tmp_path / "set" / "labels.csv").open(encoding="utf-8") as fh:
        labels = list(csv.DictReader(fh))
    assert [(r["label"], r["curator"]) for r in labels] == [
        ("match", "tester"), ("not this candidate", "tester"), ("none of these", "tester")]
    assert labels[1]["candidate"] == rejected and labels[1]["note"] == "tower is different"
    assert (tmp_path / "set" / "manifest.csv").is_file()
    dlg.close()


def test_second_curator_review_and_kappa_report(qtbot, ranked_window, demo_queries, tmp_path):
    from geomatch_app.gui.review_panel import ReviewDialog

    win = ranked_window
    qtbot.keyClick(win, Qt.Key.Key_1)
    qtbot.keyClick(win, Qt.Key.Key_Return)
    dlg = ReviewDialog(win)
    assert dlg.items.topLevelItemCount() == 0  # one's own decisions are not reviewed
    assert "No shared decisions" in dlg.report.text()
    win.settings.curator = "Bob"
    dlg.refresh()
    assert dlg.items.topLevelItemCount() == 1
    assert dlg.items.topLevelItem(0).text(4) == "to review"
    dlg.note.setText("same facade")
    dlg.accept_button.click()
    assert dlg.items.topLevelItem(0).text(4) == "accept"
    assert "1 shared photos, 1 agree" in dlg.report.text()
    assert dlg.per_photo.topLevelItem(0).text(3) == "yes"
    db = tmp_path / "curation.sqlite"
    assert _rows(db, "SELECT reviewer, verdict, note FROM reviews") == [
        ("Bob", "accept", "same facade")]
    # undo works on a review like on a decision
    qtbot.keyClick(win, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert _rows(db, "SELECT deleted FROM reviews") == [(1,)]
    dlg.close()


def test_broken_file_cannot_be_decided(qtbot, window, tmp_path):
    bad = tmp_path / "scan_0007.jpg"
    bad.write_bytes(b"\xff\xd8\xff\xe0 truncated" * 3)
    window.add_photos([str(bad)])
    qtbot.waitUntil(lambda: window.queue.status(str(bad)) == "unreadable", timeout=20_000)
    assert window.current == str(bad)
    db = tmp_path / "curation.sqlite"
    for key in (Qt.Key.Key_S, Qt.Key.Key_N, Qt.Key.Key_U):
        qtbot.keyClick(window, key)
    assert _rows(db, "SELECT count(*) FROM decisions") == [(0,)]
    assert any("cannot be decided" in m for m in window.messages.messages())
    why = _rows(db, "SELECT unreadable FROM queries")[0][0]
    assert why  # the store says why
    qtbot.waitUntil(lambda: "cannot be read" in window.record.problem.text(), timeout=5_000)
    assert "cannot be read" in window.results.label.text()
    assert window.queue_panel.counts.text().endswith("1 unreadable")


def test_build_index_into_new_folder_leaves_open_one_untouched(qtbot, window, demo_index,
                                                                opened_demo_index, tmp_path,
                                                                tiny_model_name):
    from geomatch_app.core.paths import demo_dir
    from geomatch_app.gui.index_dialog import IndexDialog

    window.set_index(opened_demo_index)
    before = {p: p.stat().st_mtime_ns for p in Path(demo_index).rglob("*") if p.is_file()}
    gallery = tmp_path / "harbour"
    gallery.mkdir()
    rows = (demo_dir() / "manifest.csv").read_text(encoding="utf-8").splitlines()
    keep = [rows[0]] + [r for r in rows[1:] if r.endswith(",gallery")][:4]
    for r in keep[1:]:
        src = demo_dir() / r.split(",")[0]
        (gallery / "images").mkdir(exist_ok=True)
        shutil.copy(src, gallery / "images" / src.name)
    (gallery / "manifest.csv").write_text(
        "\n".join([keep[0]] + [f"images/{Path(r.split(',')[0]).name}," + ",".join(
            r.split(",")[1:]) for r in keep[1:]]) + "\n", encoding="utf-8")
    dlg = IndexDialog(window, window.settings)
    dlg.show()
    assert dlg.add_to_open.isEnabled() and not dlg.add_to_open.isChecked()
    dlg.source.setText(str(gallery / "manifest.csv"))
    assert Path(dlg.out.text()).name == "harbour-manifest"  # named after the source
    assert Path(dlg.out.text()) != Path(demo_index)
    dlg.model.setCurrentText(tiny_model_name)
    # pointing the target at the open index without asking is refused
    dlg.out.setText(str(demo_index))
    assert dlg.start() is None and "open index" in dlg.status.text()
    dlg.source.setText("")
    dlg.source.setText(str(gallery / "manifest.csv"))
    with qtbot.waitSignal(dlg.index_built, timeout=120_000) as built:
        dlg.start()
    new = built.args[0]
    assert Path(new.folder).name == "harbour-manifest" and len(new) == 4
    after = {p: p.stat().st_mtime_ns for p in Path(demo_index).rglob("*") if p.is_file()}
    assert after == before  # the open index's files were not touched
    assert "4 of the 4" in dlg.status.text()
    dlg.close()


def test_build_index_warns_when_photos_have_no_location(qtbot, window, tmp_path, demo_queries):
    from geomatch_app.data.images import read_geotag
    from geomatch_app.gui.index_dialog import IndexDialog

    folder = tmp_path / "no-gps"
    folder.mkdir()
    from PIL import Image

    for i in range(3):
        Image.new("RGB", (64, 48), (i * 40, 90, 120)).save(folder / f"p{i}.jpg")
    assert read_geotag(str(folder / "p0.jpg")) is None
    dlg = IndexDialog(window, window.settings)
    dlg.show()
    assert not dlg.add_to_open.isEnabled()  # no index is open
    dlg.source.setText(str(folder))
    assert dlg.start() is not None
    qtbot.waitUntil(lambda: dlg.warning.isVisible(), timeout=20_000)
    assert "none of the 3 photos have a location" in dlg.warning.text()
    assert dlg.csv_button.isVisible() and dlg.anyway_button.isVisible()
    assert not Path(dlg.out.text()).exists()  # nothing was built
    dlg.close()
