"""Drops of photos and folders onto any view (the query photo view, like the queue): image
files and folders go to the queue; anything else is refused with a one-line reason."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QEvent, QObject, Signal
from PySide6.QtWidgets import QWidget

from geomatch_app.data.files import UNSUPPORTED_SUFFIXES, expand_paths
from geomatch_app.data.images import IMAGE_SUFFIXES


def split_drop(items: list[str]) -> tuple[list[str], str]:
    """(photos to queue, why the rest was refused — '' when nothing was). Folders are walked
    for image files; a file is taken when its suffix is an image's."""
    keep: list[str] = []
    refused: list[str] = []
    for item in items:
        p = Path(item)
        if p.is_dir():
            found = expand_paths([p])
            keep += found
            if not found:
                refused.append(f"{p.name}/ (no photos in it)")
        elif p.suffix.lower() in IMAGE_SUFFIXES:
            keep += expand_paths([p])
        elif p.suffix.lower() in UNSUPPORTED_SUFFIXES:
            refused.append(f"{p.name} (HEIF: convert it to JPEG first)")
        else:
            refused.append(p.name)
    why = ""
    if refused:
        shown = ", ".join(refused[:3]) + (f" and {len(refused) - 3} more" if len(refused) > 3
                                          else "")
        why = (f"Not a photo: {shown} — drop JPEG, PNG, TIFF, BMP or WebP files, or folders "
               "of them")
    return list(dict.fromkeys(keep)), why


class PhotoDrop(QObject):
    """Accepts URL drops on ``widget`` (and its viewport, for scroll views)."""

    dropped = Signal(list)  # photo paths
    refused = Signal(str)  # one line: what was not taken and why

    def __init__(self, widget: QWidget) -> None:
        super().__init__(widget)
        target = widget.viewport() if hasattr(widget, "viewport") else widget
        for w in {widget, target}:
            w.setAcceptDrops(True)
            w.installEventFilter(self)

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt API
        kind = event.type()
        if kind in (QEvent.Type.DragEnter, QEvent.Type.DragMove):
            if event.mimeData().hasUrls():
                event.acceptProposedAction()
                return True
        elif kind == QEvent.Type.Drop and event.mimeData().hasUrls():
            event.acceptProposedAction()
            items = [u.toLocalFile() for u in event.mimeData().urls() if u.isLocalFile()]
            photos, why = split_drop(items)
            if why or not items:
                self.refused.emit(why or "Only files on this computer can be dropped")
            if photos:
                self.dropped.emit(photos)
            return True
        return False
