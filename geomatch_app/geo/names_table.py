"""The gazetteer's on-disk table: numeric columns and UTF-8 string columns in one file, opened
by memory-mapping it.

Reading the earlier text cache meant parsing 1.2M lines into Python objects (1.3 s and
~150 MB on a 2-core machine, in small steps so the window's GIL waits stayed short); opening
this file maps it and reads a header, and a row's name is decoded only when asked for
(docs/performance.md, start-up).

Layout: ``MAGIC``, an 8-byte little-endian header length, a JSON header
``{"version": V, "arrays": {name: [dtype, shape, offset]}}``, then each array's raw bytes at
its offset (64-byte aligned). A string column ``c`` is two arrays: ``c.blob`` (uint8, every
value's UTF-8 bytes back to back) and ``c.offsets`` (int32, or int64 past 2 GiB; one more
than the values).
"""

from __future__ import annotations

import json
import mmap
import os
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

import numpy as np

from geomatch_app.core import files

MAGIC = b"geomatch-names-table\n"
_ALIGN = 64


def _aligned(n: int) -> int:
    """``n`` rounded up to the next multiple of ``_ALIGN``."""
    return -(-n // _ALIGN) * _ALIGN


class TableError(ValueError):
    """The file is not a table of this version (truncated, foreign, older): rebuild it."""


class StrColumn(Sequence[str]):
    """A read-only column of strings stored as one UTF-8 blob and offsets into it."""

    def __init__(self, blob, offsets: np.ndarray) -> None:
        self._blob, self._off = blob, offsets

    def __len__(self) -> int:
        return len(self._off) - 1

    def __getitem__(self, i):  # type: ignore[override] - ints only (bisect, row lookups)
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        n = len(self)
        if i < 0:
            i += n
        if not 0 <= i < n:
            raise IndexError(i)
        return bytes(self._blob[int(self._off[i]):int(self._off[i + 1])]).decode("utf-8")

    def __iter__(self) -> Iterator[str]:
        blob, off = self._blob, self._off.tolist()
        for a, b in zip(off[:-1], off[1:], strict=True):
            yield bytes(blob[a:b]).decode("utf-8")

    def equals(self, value: str) -> np.ndarray:
        """Boolean mask of the rows whose value is ``value`` (vectorised, no decoding)."""
        want = np.frombuffer(value.encode("utf-8"), dtype=np.uint8)
        lengths = np.diff(self._off)
        rows = np.flatnonzero(lengths == len(want))
        mask = np.zeros(len(self), dtype=bool)
        if len(rows):
            blob = np.frombuffer(self._blob, dtype=np.uint8)
            idx = self._off[rows][:, None] + np.arange(len(want))[None, :]
            mask[rows] = (blob[idx] == want).all(axis=1) if len(want) else True
        return mask


def _encode(values: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    data = [v.encode("utf-8") for v in values]
    total = sum(len(d) for d in data)
    offsets = np.zeros(len(data) + 1, dtype=np.int32 if total < 2**31 else np.int64)
    np.cumsum([len(d) for d in data], out=offsets[1:])
    return np.frombuffer(b"".join(data), dtype=np.uint8), offsets


def write_table(path: Path, version: int, arrays: Mapping[str, np.ndarray],
                strings: Mapping[str, Sequence[str]]) -> None:
    """Write the table atomically (a temporary file renamed over ``path``)."""
    parts: dict[str, np.ndarray] = {k: np.ascontiguousarray(v) for k, v in arrays.items()}
    for name, values in strings.items():
        parts[f"{name}.blob"], parts[f"{name}.offsets"] = _encode(values)
    head, offset = {}, 0
    for name, a in parts.items():
        head[name] = [a.dtype.str, list(a.shape), offset]
        offset += _aligned(a.nbytes)
    header = json.dumps({"version": version, "arrays": head}).encode()
    start = _aligned(len(MAGIC) + 8 + len(header))
    path.parent.mkdir(parents=True, exist_ok=True)
    with files.replacing(path, durable=True) as tmp, tmp.open("wb") as f:
        f.write(MAGIC + len(header).to_bytes(8, "little") + header)
        for name, a in parts.items():
            f.seek(start + head[name][2])
            f.write(a.tobytes())
        f.truncate(start + offset)


def open_table(path: Path, version: int) -> tuple[dict[str, np.ndarray], dict[str, StrColumn]]:
    """Memory-map ``path``: its numeric arrays and its string columns (read-only views).
    Raises :class:`TableError` when the file is not a complete table of ``version``."""
    with path.open("rb") as f:
        size = os.fstat(f.fileno()).st_size
        if size < len(MAGIC) + 8:
            raise TableError(f"{path} is truncated")
        mm = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
    if mm[:len(MAGIC)] != MAGIC:
        raise TableError(f"{path} is not a names table")
    n = int.from_bytes(mm[len(MAGIC):len(MAGIC) + 8], "little")
    try:
        header = json.loads(mm[len(MAGIC) + 8:len(MAGIC) + 8 + n])
    except (ValueError, UnicodeDecodeError) as exc:
        raise TableError(f"{path} has a damaged header ({exc})") from None
    if header.get("version") != version:
        raise TableError(f"{path} is version {header.get('version')}, not {version}")
    start = _aligned(len(MAGIC) + 8 + n)
    arrays: dict[str, np.ndarray] = {}
    for name, (dtype, shape, offset) in header["arrays"].items():
        dt = np.dtype(dtype)
        count = int(np.prod(shape, dtype=np.int64))
        if start + offset + count * dt.itemsize > size:
            raise TableError(f"{path} is truncated")
        arrays[name] = np.frombuffer(mm, dtype=dt, count=count,
                                     offset=start + offset).reshape(shape)
    strings = {}
    for name in [k[:-5] for k in arrays if k.endswith(".blob")]:
        strings[name] = StrColumn(arrays.pop(f"{name}.blob"), arrays.pop(f"{name}.offsets"))
    return arrays, strings
