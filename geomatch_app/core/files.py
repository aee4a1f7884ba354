"""Single-file atomic writes: a file is either its old contents or its new ones, never half.

Every writer of a cache, a settings file, a calibration or a checkpoint goes through
:func:`replacing`: it writes a temporary file beside the target (same folder, so the rename
stays on one file system), renames it over the target when the writer finishes, and removes
it when the writer fails (a full disk, a killed export), so no ``.tmp`` debris is left either.
Multi-file exports have their own stager (``store/atomic.py``); index generations theirs
(``index/generations.py``).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def temporary_name(path: Path, suffix: str = "") -> Path:
    """A temporary path beside ``path``, unique to this process and thread (two writers of the
    same file never share one). ``suffix`` for writers that append their own extension
    (``np.save`` adds ``.npy`` to a name without it)."""
    return path.with_name(f"{path.name}.{os.getpid()}-{threading.get_native_id()}.tmp{suffix}")


@contextmanager
def replacing(path: str | Path, *, durable: bool = False, suffix: str = "") -> Iterator[Path]:
    """Yield a temporary path to write ``path``'s new contents to; rename it over ``path``
    when the block ends, remove it when the block raises (the error propagates, ``path`` is
    unchanged). ``durable``: fsync the new file before the rename, so a power cut cannot leave
    an empty file in its place (checkpoints, tables that are expensive to rebuild)."""
    path = Path(path)
    tmp = temporary_name(path, suffix)
    try:
        yield tmp
        if durable:
            fd = os.open(tmp, os.O_RDWR)  # Windows cannot fsync a read-only descriptor
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_text(path: str | Path, text: str, *, durable: bool = False) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically (:func:`replacing`)."""
    with replacing(path, durable=durable) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)
