"""The window's menus and keyboard shortcuts. Each action calls one window method; the keys are
the curator's keyboard loop (1–9 pick, Enter confirm, X reject the picked candidate, S skip,
U unsure, N none of these, ←/→ previous/next, Space next to decide, Ctrl+Z / Ctrl+Shift+Z
undo/redo, Esc cancel)."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QMainWindow, QMenu

from geomatch_app.gui import window_actions as actions
from geomatch_app.gui.help_menu import add_help_menu

DECISIONS = {  # status: (menu text, key)
    "confirmed": ("&Confirm location", "Return"),
    "rejected": ("Re&ject picked candidate (not this place)", "X"),
    "none": ("&None of these (not in this gallery)", "N"),
    "skipped": ("&Skip for now", "S"),
    "unsure": ("Mark &unsure", "U"),
}


def add_action(win: QMainWindow, menu: QMenu, text: str, slot, shortcut=None) -> QAction:
    act = QAction(text, win)
    if shortcut is not None:
        act.setShortcut(QKeySequence(shortcut))
        act.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
    act.triggered.connect(lambda checked=False: slot())
    menu.addAction(act)
    win.addAction(act)
    return act


def build_menus(win) -> None:
    """Menus of the main window ``win`` (a MainWindow); sets the actions other code updates."""
    def on(fn):
        return lambda: fn(win)

    mb = win.menuBar()
    file = mb.addMenu("&File")
    add_action(win, file, "&Open photos…", on(actions.open_photos_dialog),
               QKeySequence.StandardKey.Open)
    add_action(win, file, "Open &folder…", on(actions.open_folder_dialog), "Ctrl+Shift+O")
    add_action(win, file, "Import &catalogue (CSV or IIIF)…", on(actions.import_catalogue),
               "Ctrl+Shift+C")
    add_action(win, file, "&Export labelled set…", on(actions.export_dialog), "Ctrl+E")
    file.addSeparator()
    add_action(win, file, "Open &index…", on(actions.open_index_dialog), "Ctrl+I")
    add_action(win, file, "&Build or update index…", on(actions.build_index_dialog), "Ctrl+B")
    add_action(win, file, "Open &database…", on(actions.open_store_dialog))
    win.recent_menu = file.addMenu("&Recent projects")
    win.recent_menu.aboutToShow.connect(on(actions.fill_recent_menu))
    add_action(win, file, "Open the &demo project", on(actions.open_demo))
    file.addSeparator()
    add_action(win, file, "&Quit", win.close, QKeySequence.StandardKey.Quit)

    edit = mb.addMenu("&Edit")
    win.undo_action = add_action(win, edit, "&Undo decision", win.undo, "Ctrl+Z")
    win.redo_action = add_action(win, edit, "&Redo decision", win.redo, "Ctrl+Shift+Z")
    edit.addSeparator()
    add_action(win, edit, "&Settings…", on(actions.settings_dialog), "Ctrl+,")

    cur = mb.addMenu("&Curate")
    win.decision_actions = {}
    for status, (text, key) in DECISIONS.items():
        act = add_action(win, cur, text, lambda s=status: win.decide(s), key)
        if key == "Return":
            act.setShortcuts([QKeySequence("Return"), QKeySequence("Enter")])
        win.decision_actions[status] = act
    cur.addSeparator()
    add_action(win, cur, "&Previous photo", lambda: win.queue.step(-1), "Left")
    add_action(win, cur, "&Next photo", lambda: win.queue.step(1), "Right")
    add_action(win, cur, "Next photo &to decide", on(actions.next_pending), "Space")
    add_action(win, cur, "Sort by &verdict", win.queue.sort_by_verdict)
    add_action(win, cur, "Sort by &uncertainty", win.queue.sort_by_uncertainty)
    cur.addSeparator()
    add_action(win, cur, "&Review other curators' decisions…", on(actions.review_dialog),
               "Ctrl+R")
    pick = cur.addMenu("Pick candidate")
    for n in range(1, 10):
        add_action(win, pick, f"Candidate {n}", lambda n=n: win.select_candidate(n), str(n))

    view = mb.addMenu("&View")
    add_action(win, view, "&Query photo", lambda: win.inspect_panel.setCurrentIndex(0), "Q")
    add_action(win, view, "Side by si&de", lambda: win.inspect_panel.setCurrentIndex(1), "D")
    add_action(win, view, "&Fit photo", win.inspect_panel.fit, "F")
    win.online_action = add_action(win, view, "&Online map tiles (OpenStreetMap)",
                                   on(actions.toggle_online))
    win.online_action.setCheckable(True)
    win.online_action.setChecked(win.settings.basemap == "osm")
    add_action(win, view, "Find a &place on the map", win.map.search.setFocus, "Ctrl+L")

    tools = mb.addMenu("&Tools")
    win.finetune_action = add_action(win, tools, "&Fine-tune…", on(actions.open_finetune))
    add_action(win, tools, "Cancel background &job", win.jobs.cancel_current, "Esc")
    add_help_menu(win, add_action)


def update_undo_labels(win) -> None:
    """Edit → Undo / Redo name what they would undo or redo (disabled when nothing)."""
    undo = redo = None
    if win.store is not None:
        try:
            undo, redo = win.store.undo_description(), win.store.redo_description()
        except Exception:  # noqa: BLE001 - labels only
            pass
    win.undo_action.setText(f"&Undo: {undo}" if undo else "&Undo")
    win.undo_action.setEnabled(bool(undo))
    win.redo_action.setText(f"&Redo: {redo}" if redo else "&Redo")
    win.redo_action.setEnabled(bool(redo))
