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


class InvalidValueError(StoreError, ValueError):
    """A value the store refuses (a latitude of 200, a heading of NaN). Also a ValueError, so
    callers that validate with ``except ValueError`` keep working."""


# SQLite's primary result codes -> (what happened, what to do). A read-only or full medium is
# not damage: telling the curator to "restore it from a backup" would invite a needless restore.
_SQLITE_REASONS = {
    "SQLITE_READONLY": ("is read-only", "copy it to a writable folder or fix its permissions; "
                        "nothing was changed"),
    "SQLITE_FULL": ("cannot be written: the disk is full", "free some space and try again; "
                    "the last completed action is safe"),
    "SQLITE_CANTOPEN": ("cannot be opened", "check that the folder exists and is writable"),
    "SQLITE_PERM": ("cannot be opened: permission denied", "check the file's permissions"),
    "SQLITE_IOERR": ("cannot be read or written (disk I/O error)", "check the disk or network "
                     "share, then try again"),
    "SQLITE_BUSY": ("is locked by another program", "close the other program and try again"),
    "SQLITE_LOCKED": ("is locked by another program", "close the other program and try again"),
    "SQLITE_NOTADB": ("is not a geomatch database", "choose another file, or restore it from a "
                      "backup"),
    "SQLITE_CORRUPT": ("is damaged", "run `geomatch db check` on it, or restore it from a backup"),
}


def sqlite_error(exc: Exception, path: object) -> StoreError:
    """The StoreError that says what an ``sqlite3.Error`` means for the file at ``path``."""
    name = str(getattr(exc, "sqlite_errorname", "") or "")
    primary = "_".join(name.split("_")[:2])  # SQLITE_READONLY_DBMOVED -> SQLITE_READONLY
    what, hint = _SQLITE_REASONS.get(primary, ("", ""))
    if not what:
        text = str(exc).lower()
        for key, needle in (("SQLITE_READONLY", "readonly"), ("SQLITE_FULL", "is full"),
                            ("SQLITE_NOTADB", "not a database"), ("SQLITE_CORRUPT", "malformed"),
                            ("SQLITE_CANTOPEN", "unable to open")):
            if needle in text:
                what, hint = _SQLITE_REASONS[key]
                break
    if not what:
        what, hint = "database error", "try again; if it persists run `geomatch db check`"
    return StoreError(f"{what} ({exc})", path, hint)
