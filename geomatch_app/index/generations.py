"""Atomic index generations: a new index never overwrites the old one file by file.

Layout of an index folder::

    CURRENT            one line: the name of the generation in use, e.g. ``gen-000007``
    gen-000007/        the generation in use: its files and a manifest.json naming them with
                       their sizes and sha256 checksums (plus the index's own metadata)
    gen-000006/        the previous generation, kept as a fallback
    .lock              held (flock) by the one process that writes

Why: replacing ``index.faiss``, the metadata and the fingerprint one by one leaves a mixed index
after a kill between two replaces; with an unchanged photo count it silently returns the wrong
photos. Here a writer fills ``gen-N.tmp/``, fsyncs every file, writes the manifest, renames the
folder to ``gen-N`` and only then switches ``CURRENT`` with one ``os.replace`` — the single
atomic step. A reader follows ``CURRENT``, checks the files against the manifest and falls back
to the previous generation when they do not match. A writer that fails removes what it wrote; one
that was killed leaves ``*.tmp`` behind, which the next writer (or an opener that can take the
lock, so no writer is running) removes.

Checking a file: ``full`` hashes every byte; ``quick`` compares the size and a sha256 of 16
blocks spread over the file (head and tail included). ``auto`` is full below 64 MiB of files
and quick above, so a million-photo index opens in milliseconds; updating an index reads all of
it and checks it in full.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from geomatch_app.core.errors import GeomatchError

log = logging.getLogger(__name__)

CURRENT = "CURRENT"
MANIFEST = "manifest.json"
LOCK = ".lock"
FULL_CHECK_BYTES = 64 << 20
_SAMPLE_BLOCKS = 16
_SAMPLE_SIZE = 64 << 10
_GEN_RE = re.compile(r"^gen-(\d{6,})$")

REBUILD_HINT = "rebuild it with `geomatch index SRC --index DIR --rebuild`"


class DamagedGenerationError(GeomatchError):
    """A generation whose files do not match its manifest (or have no manifest)."""


@dataclass(frozen=True)
class Generation:
    folder: Path  # the generation's own folder (gen-NNNNNN)
    number: int
    manifest: dict

    def file(self, name: str) -> Path:
        return self.folder / name


def gen_name(number: int) -> str:
    return f"gen-{number:06d}"


def generations(folder: Path) -> list[int]:
    """Numbers of the complete (renamed) generation folders, newest first."""
    out = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return []
    for e in entries:
        m = _GEN_RE.match(e.name)
        if m and e.is_dir():
            out.append(int(m.group(1)))
    return sorted(out, reverse=True)


def current_number(folder: Path) -> int | None:
    try:
        text = (folder / CURRENT).read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError):
        return None
    m = _GEN_RE.match(text)
    return int(m.group(1)) if m else None


def is_index_folder(folder: str | Path) -> bool:
    folder = Path(folder)
    return (folder / CURRENT).is_file() or bool(generations(folder))


# -- checksums --------------------------------------------------------------------------------
def file_digest(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def sample_digest(path: Path, size: int | None = None) -> str:
    """sha256 of the size and 16 evenly spaced 64 KiB blocks: reads ≤ 1 MiB of any file."""
    size = path.stat().st_size if size is None else size
    h = hashlib.sha256(str(size).encode())
    with path.open("rb") as fh:
        if size <= _SAMPLE_BLOCKS * _SAMPLE_SIZE:
            h.update(fh.read())
        else:
            step = (size - _SAMPLE_SIZE) / (_SAMPLE_BLOCKS - 1)
            for b in range(_SAMPLE_BLOCKS):
                fh.seek(int(b * step))
                h.update(fh.read(_SAMPLE_SIZE))
    return h.hexdigest()


def describe_file(path: Path) -> dict:
    size = path.stat().st_size
    return {"size": size, "sha256": file_digest(path), "sample": sample_digest(path, size)}


def verify(gen: Generation, mode: str = "auto") -> None:
    """Raise DamagedGenerationError unless every file matches the manifest."""
    files = gen.manifest.get("files")
    if not isinstance(files, dict) or not files:
        raise DamagedGenerationError("the manifest lists no files", gen.folder, REBUILD_HINT)
    sizes = {}
    for name, info in files.items():
        path = gen.folder / name
        if not isinstance(info, dict) or Path(name).name != name:
            raise DamagedGenerationError(f"the manifest entry for {name!r} is damaged",
                                         gen.folder, REBUILD_HINT)
        try:
            sizes[name] = path.stat().st_size
        except OSError:
            raise DamagedGenerationError(f"{name} is missing", gen.folder, REBUILD_HINT) from None
        if sizes[name] != info.get("size"):
            raise DamagedGenerationError(
                f"{name} has {sizes[name]} bytes, the manifest says {info.get('size')}",
                gen.folder, REBUILD_HINT)
    full = mode == "full" or (mode == "auto" and sum(sizes.values()) <= FULL_CHECK_BYTES)
    for name, info in files.items():
        path = gen.folder / name
        try:
            got = file_digest(path) if full else sample_digest(path, sizes[name])
        except OSError as exc:
            raise DamagedGenerationError(f"{name} is unreadable ({exc})", gen.folder,
                                         REBUILD_HINT) from None
        if got != info.get("sha256" if full else "sample"):
            raise DamagedGenerationError(f"{name} does not match its checksum", gen.folder,
                                         REBUILD_HINT)


def read_generation(folder: Path, number: int) -> Generation:
    gdir = folder / gen_name(number)
    try:
        manifest = json.loads((gdir / MANIFEST).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DamagedGenerationError("manifest.json is missing", gdir, REBUILD_HINT) from None
    except (OSError, ValueError) as exc:
        raise DamagedGenerationError(f"manifest.json is unreadable ({exc})", gdir,
                                     REBUILD_HINT) from None
    if not isinstance(manifest, dict):
        raise DamagedGenerationError("manifest.json is not a JSON object", gdir, REBUILD_HINT)
    return Generation(gdir, number, manifest)


def open_current(folder: Path, verify_mode: str = "auto") -> Generation:
    """The generation ``CURRENT`` names, verified; else the newest older one that verifies.

    Generations newer than ``CURRENT`` were never switched to (a writer died) and are ignored.
    """
    cur = current_number(folder)
    numbers = generations(folder)
    if cur is not None:
        numbers = [cur] + [n for n in numbers if n < cur]
    if not numbers:
        raise GeomatchError("is not a geomatch index (no CURRENT generation)", folder,
                            "build one with `geomatch index SRC --index DIR`")
    first_error: GeomatchError | None = None
    for n in numbers:
        try:
            gen = read_generation(folder, n)
            verify(gen, verify_mode)
        except GeomatchError as exc:
            log.warning("%s", exc)
            first_error = first_error or exc
            continue
        if n != cur:
            log.warning("%s: generation %s is damaged or missing; using %s instead", folder,
                        gen_name(cur) if cur is not None else "CURRENT", gen_name(n))
        return gen
    assert first_error is not None
    raise GeomatchError(f"no intact generation ({first_error})", folder, REBUILD_HINT)


# -- writing ----------------------------------------------------------------------------------
def fsync_path(path: Path, directory: bool = False) -> None:
    """fsync a file, or a folder so that renames inside it are durable (no-op where folders
    cannot be opened, e.g. Windows)."""
    flags = os.O_RDONLY | (getattr(os, "O_DIRECTORY", 0) if directory else 0)
    try:
        fd = os.open(path, flags)
    except OSError:
        if directory:
            return
        raise
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def writer_lock(folder: Path, blocking: bool = True) -> Iterator[bool]:
    """flock on ``.lock``: one writer per index folder. Yields whether the lock is held."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows: no cross-process lock
        yield True
        return
    try:
        fh = (folder / LOCK).open("a")
    except OSError:
        yield False  # read-only medium: nobody can write here either
        return
    try:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
        except BlockingIOError:
            if blocking:
                raise
            yield False
            return
        except OSError as exc:
            raise GeomatchError(f"cannot lock the index ({exc})", folder,
                                "check that the folder is writable") from None
        yield True
    finally:
        fh.close()


def remove_leftovers(folder: Path) -> None:
    """Remove ``*.tmp`` and generations that are neither current nor its predecessor.

    Call only while holding the writer lock."""
    cur = current_number(folder)
    keep = set()
    if cur is not None:
        keep.add(cur)
        older = [n for n in generations(folder) if n < cur]
        if older:
            keep.add(older[0])
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return
    for e in entries:
        m = _GEN_RE.match(e.name)
        stale = e.name.endswith(".tmp") or (m is not None and cur is not None
                                            and int(m.group(1)) not in keep)
        if not stale:
            continue
        try:
            if e.is_dir(follow_symlinks=False):
                shutil.rmtree(e.path)
            else:
                os.unlink(e.path)
        except OSError as exc:
            log.warning("could not remove leftover %s (%s)", e.path, exc)


class GenerationWriter:
    """Write the files of a new generation into ``tmp``, then ``commit()`` switches to it.

    Use as a context manager while holding ``writer_lock``; on any exception before the switch
    everything written is removed and the old generation stays current."""

    def __init__(self, folder: Path):
        self.folder = Path(folder)
        numbers = generations(self.folder)
        cur = current_number(self.folder)
        self.number = max(numbers + ([cur] if cur is not None else []) + [0]) + 1
        self.name = gen_name(self.number)
        self.tmp = self.folder / (self.name + ".tmp")
        self.committed = False

    def __enter__(self) -> GenerationWriter:
        if self.tmp.exists():
            shutil.rmtree(self.tmp)
        self.tmp.mkdir(parents=True)
        return self

    def path(self, name: str) -> Path:
        return self.tmp / name

    def write_json(self, name: str, data) -> Path:
        path = self.tmp / name
        with path.open("w", encoding="utf-8") as fh:
            json.dump(data, fh, indent=1)
            fh.flush()
            os.fsync(fh.fileno())
        return path

    def commit(self, manifest: dict) -> Generation:
        """Checksum every file, write the manifest, rename the folder, switch ``CURRENT``."""
        files = {}
        for p in sorted(self.tmp.iterdir()):
            if p.name == MANIFEST:
                continue
            fsync_path(p)
            files[p.name] = describe_file(p)
        manifest = {**manifest, "generation": self.number, "files": files}
        self.write_json(MANIFEST, manifest)
        fsync_path(self.tmp, directory=True)
        final = self.folder / self.name
        os.replace(self.tmp, final)
        fsync_path(self.folder, directory=True)
        cur_tmp = self.folder / (CURRENT + ".tmp")
        with cur_tmp.open("w", encoding="utf-8") as fh:
            fh.write(self.name + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(cur_tmp, self.folder / CURRENT)  # the switch
        self.committed = True
        try:
            fsync_path(self.folder, directory=True)
            remove_leftovers(self.folder)
        except OSError as exc:  # the new generation is current; the rest is housekeeping
            log.warning("%s: switched to %s, but cleaning up failed (%s)", self.folder,
                        self.name, exc)
        return Generation(final, self.number, manifest)

    def __exit__(self, exc_type, exc, tb) -> None:
        if self.committed:
            return
        for leftover in (self.tmp, self.folder / self.name, self.folder / (CURRENT + ".tmp")):
            try:
                if leftover.is_dir():
                    shutil.rmtree(leftover)
                elif leftover.exists():
                    leftover.unlink()
            except OSError as err:
                log.warning("could not remove %s after a failed write (%s)", leftover, err)
