"""What happens when the curator decides: the decision goes to the store (``app.curation``),
the queue row and counts are redrawn, and — when Settings say so — the next photo still to
decide comes up. Functions of the window, so ``main_window`` stays layout and wiring.

Reject (X) rejects the *picked candidate* only: a hard negative, the photo stays to be decided
(pick another, or N for "none of these"). Unreadable photos cannot be decided."""

from __future__ import annotations

from geomatch_app.app import curation, queue_view
from geomatch_app.app.session import CandidatePick

UNREADABLE = ("unreadable", "error")


def decide(win, status: str) -> None:
    s = win.session
    if s.path is None or win.store is None:
        return
    if win.queue.status(s.path) in UNREADABLE:
        win._error(f"{s.path}: cannot be decided, the file cannot be read (see above)")
        return
    pick = s.pick if status in ("confirmed", "rejected") else None
    if status == "rejected" and not isinstance(pick, CandidatePick):
        win._error("Pick the candidate to reject first (1–9, or click it); "
                   "N says that none of these is the place")
        return
    try:
        curation.decide(win.store, s.path, status, pick, result=s.result,
                        curator=curator(win), note=win.curation.note.text().strip())
    except Exception as exc:  # noqa: BLE001 - shown, never lost silently
        win._error(exc)
        return
    win.curation.note.clear()
    path = s.path
    win._after_change(path)
    if status == "rejected":
        win.session.clear_pick()
        win.statusBar().showMessage(f"candidate {pick.rank or ''} rejected (a hard negative); "
                                    "this photo is still to decide", 5000)
    elif win.settings.auto_advance:
        advance(win)


def advance(win) -> str | None:
    """Show the next photo of the view that has no decision yet."""
    nxt = queue_view.next_pending(win.queue.rows(), win.current, win.queue_panel.view())
    if nxt is None:
        win.statusBar().showMessage("every photo in this view is decided", 5000)
    else:
        win.queue.select_path(nxt)
    return nxt


def batch(win, status: str, paths: list[str]) -> None:
    """Skip or mark unsure every selected photo (unreadable ones are left alone)."""
    if win.store is None:
        return
    who = curator(win)
    done = 0
    for p in paths:
        if win.queue.status(p) in UNREADABLE:
            continue
        try:
            curation.decide(win.store, p, status, curator=who)
            done += 1
        except Exception as exc:  # noqa: BLE001
            win._error(exc)
    refresh(win, paths)
    win._after_change(win.current or "")
    win.statusBar().showMessage(f"{done} photos marked {status}", 5000)


def assign(win, paths: list[str], to: str | None = None) -> bool:
    """Give the selected photos to a curator (asked with a completer of the known names when
    ``to`` is None): one undoable action; the queue's "Assigned" column and filter follow."""
    if win.store is None or not paths:
        return False
    if to is None:
        to = ask_assignee(win, len(paths))
        if to is None:
            return False
    try:
        changed = curation.assign(win.store, paths, to, curator=curator(win))
    except Exception as exc:  # noqa: BLE001 - shown, never lost silently
        win._error(exc)
        return False
    refresh(win, paths)
    win._after_change(win.current or "")
    who = to.strip()
    what = f"{changed} photo{'' if changed == 1 else 's'}"
    win.statusBar().showMessage(f"{what} {'assigned to ' + who if who else 'unassigned'}"
                                " (Ctrl+Z undoes)", 5000)
    return True


def ask_assignee(win, n: int) -> str | None:
    """The curator's name for "Assign to…" (None: cancelled); '' takes the photos back."""
    from PySide6.QtWidgets import QInputDialog

    names = sorted({*win.store.curators(), *([win.settings.curator]
                                             if win.settings.curator else [])}, key=str.casefold)
    name, ok = QInputDialog.getItem(win, "Assign to a curator",
                                    f"Give {n} photos to (empty: nobody):", names, 0, True)
    return name.strip() if ok else None


def refresh(win, paths: list[str]) -> None:
    """Redraw the queue rows of ``paths`` from the store, and the counts."""
    if win.store is None:
        return
    errors = {p: win.queue.toolTipOf(p) for p in paths if win.queue.status(p) in UNREADABLE}
    for row in queue_view.rows_for(win.store, paths, errors=errors):
        win.queue.set_row(row)
    win.queue_panel.update_counts()


def mark_unreadable(win, path: str, error) -> None:
    """A photo that cannot be decoded: kept in the queue, marked (in the store too), never
    decidable; the views say why instead of "ranking…" or the previous photo's map."""
    text = str(error)
    if text.startswith(f"{path}: "):  # the path is shown beside it already
        text = text[len(path) + 2:]
    win.queue.set_status(path, "unreadable", text)
    if win.store is not None:
        try:
            curation.mark_unreadable(win.store, path, text)
        except Exception:  # noqa: BLE001 - the queue still says it
            pass
    refresh(win, [path])
    if path == win.current:
        show_unreadable(win, path)
        win._refresh_history()


def show_unreadable(win, path: str) -> None:
    why = win.queue.row(path).unreadable or "it cannot be decoded"
    win.inspect_panel.query_view.set_image(None, f"This file cannot be read: {why}")
    win.results.show_waiting("not decidable: the file cannot be read")
    win.map_panel.clear(f"No map: this file cannot be read ({why})")


def curator(win) -> str:
    """The curator's name (asked once, kept in the settings)."""
    from geomatch_app.gui.window_actions import ask_curator

    return ask_curator(win)
