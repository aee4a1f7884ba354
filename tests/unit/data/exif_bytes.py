"""Hand-built EXIF blocks, so tests can store a GPS tag with any TIFF type (Pillow's writer
would coerce a reference to ASCII, and cameras in the wild do not)."""

from __future__ import annotations

import struct
from pathlib import Path

from PIL import Image

ASCII, SHORT, LONG, RATIONAL = 2, 3, 4, 5
_SIZES = {ASCII: 1, SHORT: 2, LONG: 4, RATIONAL: 8}


def rational(*values: tuple[int, int] | int) -> bytes:
    out = b""
    for v in values:
        num, den = v if isinstance(v, tuple) else (v, 1)
        out += struct.pack("<II", num, den)
    return out


def gps_exif(entries: list[tuple[int, int, int, bytes]]) -> bytes:
    """``Exif\\0\\0`` + a little-endian TIFF whose IFD0 points to a GPS IFD holding ``entries``
    (tag, type, count, value bytes)."""
    gps_off = 8 + 2 + 12 + 4
    ifd0 = struct.pack("<H", 1) + struct.pack("<HHII", 0x8825, LONG, 1, gps_off)
    ifd0 += struct.pack("<I", 0)
    data_off = gps_off + 2 + 12 * len(entries) + 4
    gps, blob = struct.pack("<H", len(entries)), b""
    for tag, typ, count, value in entries:
        if len(value) <= 4:
            gps += struct.pack("<HHI", tag, typ, count) + value.ljust(4, b"\0")
        else:
            gps += struct.pack("<HHII", tag, typ, count, data_off + len(blob))
            blob += value
    gps += struct.pack("<I", 0)
    return b"Exif\x00\x00" + b"II*\x00" + struct.pack("<I", 8) + ifd0 + gps + blob


def jpeg_with_gps(path: Path, entries: list[tuple[int, int, int, bytes]]) -> Path:
    Image.new("RGB", (16, 16), (90, 120, 200)).save(path, exif=gps_exif(entries))
    return path


def good_gps(lat_ref: bytes = b"N\0", lon_ref: bytes = b"E\0") -> list:
    """43°28' N, 11°53' E (Arezzo) with ASCII references."""
    return [(1, ASCII, 2, lat_ref), (2, RATIONAL, 3, rational(43, 28, 0)),
            (3, ASCII, 2, lon_ref), (4, RATIONAL, 3, rational(11, 53, 0))]
