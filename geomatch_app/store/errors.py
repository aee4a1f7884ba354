"""Errors the store raises at its edge: each names the database file and says what to do."""

from __future__ import annotations

from geomatch_app.core.errors import GeomatchError


class StoreError(GeomatchError):
    """A database that cannot be opened, read or written as asked."""


class SchemaTooNewError(StoreError):
    """A database written by a newer geomatch: refused rather than half-understood."""


class NotFoundError(StoreError):
    """A query, image, suggestion or model id that is not in the database."""


class ExportError(StoreError):
    """An export that would overwrite files or write outside its folder."""
