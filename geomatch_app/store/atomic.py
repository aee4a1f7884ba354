"""Write a set of files into a folder so that a failure at any step leaves the folder as it was.

Why: an export is run again with ``--force`` over the previous one, often onto a nearly full USB
disk. Writing in place truncates the old ``confirmed.geojson`` first and leaves half a file when
the disk fills up. Here every file is first written completely (and fsync'ed) into a hidden
staging folder *inside* the target folder — the same file system, so moving it into place is a
rename — and only when all of them are written are they renamed over their targets, the index
file (CSV / GeoJSON) last so that it never names an image that is not there yet. A file that is
replaced is first moved into the staging folder, so an error while renaming puts every earlier
file back. Only a hard kill during the rename loop (milliseconds) can leave a mixture; a
leftover staging folder of a dead process is removed by the next export.

Every file-system write goes through the five functions ``make_staging``, ``make_dirs``,
``copy_file``, ``write_file`` and ``replace``, so that the fault-injection tests can fail each
step in turn.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from geomatch_app.core.progress import Progress
from geomatch_app.store.errors import ExportError

log = logging.getLogger(__name__)

STAGING_PREFIX = ".geomatch-export-"
_CHUNK = 1 << 20


# ---- the write steps (patched by tests/unit/store/test_export_faults.py) ----------------------

def make_staging(root: Path) -> Path:
    return Path(tempfile.mkdtemp(prefix=f"{STAGING_PREFIX}{os.getpid()}-", dir=root))


def copy_file(src: Path, dest: Path) -> None:
    """Copy ``src`` to a new file ``dest`` and flush it to the disk."""
    with open(src, "rb") as fin, open(dest, "xb") as fout:
        while block := fin.read(_CHUNK):
            fout.write(block)
        fout.flush()
        os.fsync(fout.fileno())


def write_file(dest: Path, data: bytes) -> None:
    with open(dest, "xb") as fout:
        fout.write(data)
        fout.flush()
        os.fsync(fout.fileno())


def replace(src: Path, dest: Path) -> None:
    os.replace(src, dest)


def make_dirs(path: Path) -> None:
    path.mkdir(parents=True, exist_ok=True)


# ---- the transaction -------------------------------------------------------------------------

@dataclass
class _Item:
    rel: PurePosixPath
    src: Path | None = None  # copy this file ...
    data: bytes | None = None  # ... or write these bytes


class FolderWrite:
    """Files to put into ``root``; :meth:`commit` writes all of them or none.

    >>> fw = FolderWrite(out)
    >>> fw.copy("query/00001_a.jpg", "/archive/a.jpg")
    >>> fw.text("pairs.csv", csv_text)
    >>> fw.commit()
    """

    def __init__(self, root: Path):
        self.root = Path(root)
        self.items: list[_Item] = []

    def copy(self, rel: str, src: str | Path) -> Path:
        self.items.append(_Item(PurePosixPath(rel), src=Path(src)))
        return self.root / rel

    def text(self, rel: str, text: str) -> Path:
        self.items.append(_Item(PurePosixPath(rel), data=text.encode("utf-8")))
        return self.root / rel

    def commit(self, progress: Progress | None = None) -> list[Path]:
        """Stage every file, then rename them into place; on any error restore the folder and
        raise :class:`ExportError` naming the file and what to do. ``progress`` is stepped
        once per file while staging; cancelling there leaves the folder as it was."""
        remove_stale_staging(self.root)
        try:
            staging = make_staging(self.root)
        except OSError as exc:
            raise _error(exc, self.root) from None
        try:
            for i, item in enumerate(self.items):
                if progress is not None:
                    progress.step(i, len(self.items), f"writing {item.rel.name}")
                self._stage(staging, item)
            return self._swap_in(staging)
        finally:
            shutil.rmtree(staging, ignore_errors=True)

    def _stage(self, staging: Path, item: _Item) -> None:
        dest = staging / "new" / item.rel
        try:
            make_dirs(dest.parent)
            if item.src is not None:
                copy_file(item.src, dest)
            else:
                write_file(dest, item.data or b"")
        except OSError as exc:
            failed = item.src if _is_read_error(exc, item.src) else self.root / item.rel
            raise _error(exc, failed) from None

    def _swap_in(self, staging: Path) -> list[Path]:
        done: list[tuple[Path, Path | None]] = []  # (target, its previous version or None)
        try:
            for n, item in enumerate(self.items):
                target = self.root / item.rel
                make_dirs(target.parent)
                backup = None
                if target.exists() or target.is_symlink():
                    backup = staging / "old" / f"{n}"
                    make_dirs(backup.parent)
                    replace(target, backup)
                done.append((target, backup))
                replace(staging / "new" / item.rel, target)
        except OSError as exc:
            self._roll_back(done)
            raise _error(exc, self.root / item.rel) from None
        _fsync_dir(self.root)
        return [self.root / item.rel for item in self.items]

    @staticmethod
    def _roll_back(done: list[tuple[Path, Path | None]]) -> None:
        for target, backup in reversed(done):
            try:
                if backup is not None and (backup.exists() or backup.is_symlink()):
                    os.replace(backup, target)
                elif backup is None and target.exists():
                    target.unlink()
            except OSError as exc:  # nothing more can be done; say where the old file is
                log.error("could not restore %s from %s: %s", target, backup, exc)


def remove_stale_staging(root: Path) -> None:
    """Staging folders left by an export that was killed (its process is gone)."""
    if not root.is_dir():
        return
    for entry in root.iterdir():
        if not (entry.name.startswith(STAGING_PREFIX) and entry.is_dir()
                and not entry.is_symlink()):
            continue
        pid = entry.name[len(STAGING_PREFIX):].split("-", 1)[0]
        if pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(entry, ignore_errors=True)


def is_staging(path: Path) -> bool:
    return path.name.startswith(STAGING_PREFIX)


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True
    return True


def _fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):  # not every platform / file system allows it
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _is_read_error(exc: OSError, src: Path | None) -> bool:
    return src is not None and exc.filename is not None and Path(exc.filename) == src


def _error(exc: OSError, path: Path | None) -> ExportError:
    kept = "the earlier export in the folder was kept"
    if exc.errno == errno.ENOSPC:
        return ExportError("cannot be written: the disk is full", path,
                           f"free some space or export to another disk; {kept}")
    if exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
        return ExportError(f"cannot be written ({exc.strerror})", path,
                           f"choose a folder you can write to; {kept}")
    if exc.errno == errno.ENOENT:
        return ExportError("file not found", path, "check that the photo is still there")
    return ExportError(f"cannot be written ({exc.strerror or exc})", path,
                       f"check the disk and try again; {kept}")
