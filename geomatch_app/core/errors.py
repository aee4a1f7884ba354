"""Errors raised at the edges. Each names the file and says what to do."""

from __future__ import annotations

from pathlib import Path


class GeomatchError(Exception):
    """A user-facing error: ``str(err)`` is a complete message for a dialog or the terminal."""

    def __init__(self, message: str, path: str | Path | None = None, hint: str = ""):
        self.path = str(path) if path is not None else None
        self.hint = hint
        text = f"{path}: {message}" if path is not None else message
        if hint:
            text += f" — {hint}"
        super().__init__(text)


class ImageError(GeomatchError):
    """An image that cannot be read (corrupt, truncated, unsupported, too large)."""


class ManifestError(GeomatchError):
    """A CSV manifest that does not have the expected columns or values."""


class IndexMismatchError(GeomatchError):
    """An index opened with a model other than the one that built it."""


class WeightsMissingError(GeomatchError):
    """Pretrained weights that are not installed."""
