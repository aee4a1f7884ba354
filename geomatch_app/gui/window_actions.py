"""What the window's menu items do: the file dialogs, recent projects, settings, the index and
fine-tune dialogs. Functions of the window, so ``main_window`` stays layout and wiring."""

from __future__ import annotations

from PySide6.QtWidgets import QFileDialog, QInputDialog

from geomatch_app.app import recent
from geomatch_app.gui.queue import expand_paths


def open_index_dialog(win) -> None:
    folder = QFileDialog.getExistingDirectory(win, "Open an index folder")
    if folder:
        win.open_index(folder)


def open_store_dialog(win) -> None:
    path, _ = QFileDialog.getSaveFileName(
        win, "Open or create a curation database", "", "SQLite (*.sqlite *.db);;All (*)",
        options=QFileDialog.Option.DontConfirmOverwrite)
    if path:
        win.open_store(path)


def fill_recent_menu(win) -> None:
    win.recent_menu.clear()
    for ref in recent.recent_projects():
        act = win.recent_menu.addAction(ref.label)
        act.setToolTip(f"{ref.index or 'no index'}\n{ref.db}")
        act.triggered.connect(lambda _c=False, r=ref: open_project(win, r))
    win.recent_menu.setEnabled(not win.recent_menu.isEmpty())


def open_project(win, ref: recent.ProjectRef) -> None:
    win.open_store(ref.db)
    if ref.index:
        win.open_index(ref.index)


def open_demo(win) -> None:
    from geomatch_app.gui.app import prepare_demo

    prepare_demo(win)


def settings_dialog(win) -> None:
    from geomatch_app.gui.settings_dialog import SettingsDialog

    if SettingsDialog(win.settings, win).exec():
        win.settings.save()
        win.queue_panel.set_me(win.settings.curator)
        win.map.set_basemap(win.settings.basemap)  # the page swaps layers, keeps its view
        win.online_action.setChecked(win.map.online)


def build_index_dialog(win) -> None:
    from geomatch_app.gui.index_dialog import IndexDialog

    dlg = IndexDialog(win, win.settings)
    dlg.index_built.connect(win.set_index)
    dlg.show()


def open_finetune(win) -> None:
    from geomatch_app.gui.train_dialog import TrainDialog

    dlg = TrainDialog(win)
    dlg.index_built.connect(win.set_index)  # queries re-rank with the new model
    dlg.show()


def toggle_online(win) -> None:
    win.settings.basemap = "osm" if win.online_action.isChecked() else "offline"
    win.map.set_basemap(win.settings.basemap)


def open_photos_dialog(win) -> None:
    files, _ = QFileDialog.getOpenFileNames(
        win, "Open query photos", "", "Images (*.jpg *.jpeg *.png *.tif *.tiff *.bmp "
        "*.webp);;All files (*)")
    if files:
        win.add_photos(expand_paths(files))


def open_folder_dialog(win) -> None:
    folder = QFileDialog.getExistingDirectory(win, "Open a folder of query photos")
    if folder:
        win.add_photos(expand_paths([folder]))



def drop_photos(win, paths: list[str]) -> None:
    """Photos dropped on the query view: queued like a drop on the queue, the first shown."""
    win.add_photos(paths)
    if paths and paths[0] in win.queue.paths():
        win.queue.select_path(paths[0])


def ask_curator(win) -> str:
    """The curator's name, asked once and kept in the settings (recorded on every decision)."""
    if not win.settings.curator:
        name, ok = QInputDialog.getText(win, "Who is curating?",
                                        "Your name (recorded with every decision):")
        if ok and name.strip():
            win.settings.curator = name.strip()
            win.settings.save()
            win.queue_panel.set_me(win.settings.curator)
    return win.settings.curator


def next_pending(win) -> None:
    from geomatch_app.gui import decide_flow

    decide_flow.advance(win)


def save_record(win, query_id: int, values: dict) -> None:
    """The catalogue record panel's Save: edit the query's fields (undoable)."""
    try:
        before = win.store.query(query_id)
        win.store.update_query(query_id, curator=win.settings.curator, **values)
        after = win.store.query(query_id)
    except Exception as exc:  # noqa: BLE001 - a bad value is a message
        win._error(exc)
        return
    win._after_change(after.path)  # ranks again when the place or its prior changed
    if (before.place_text, bool(before.use_prior)) != (after.place_text, bool(after.use_prior)):
        win.statusBar().showMessage("catalogue record saved; ranking again with the "
                                    "place prior " + ("on" if after.use_prior else "off"), 5000)
    else:
        win.statusBar().showMessage("catalogue record saved", 3000)


def rerank_if_prior_changed(win, path: str) -> bool:
    """After a save, an undo or a redo: rank ``path`` again when the ranking shown was made
    under another place prior than the one its record now asks for."""
    r = win.session.result_for(path) if path and win.store is not None else None
    q = win.store.find_query(path, by_content=False) if r is not None else None
    if q is None:
        return False
    text = q.place_text.strip()
    want = (text, bool(text) and not q.use_prior)
    have = (r.prior.text, r.prior.off) if r.prior is not None else ("", False)
    if want == have or (r.prior is not None and r.prior.source != "catalogue place"):
        return False
    rerank(win, path)
    return True


def rerank(win, path: str) -> None:
    """Rank ``path`` again (its place or prior changed); the result replaces the shown one."""
    if win.index is None or path not in win.queue.paths():
        return
    win.ranker.add([path])
    win.ranker.prefer(path)


def import_catalogue(win) -> None:
    from geomatch_app.gui.catalogue_dialog import import_catalogue_dialog

    import_catalogue_dialog(win)


def export_dialog(win) -> None:
    from geomatch_app.gui.export_dialog import ExportDialog

    if win.store is None:
        return
    ExportDialog(win).show()


def review_dialog(win) -> None:
    from geomatch_app.gui.review_panel import ReviewDialog

    if win.store is None:
        return
    dlg = ReviewDialog(win)
    dlg.reviewed.connect(lambda path: win._after_change(path))
    dlg.show()
