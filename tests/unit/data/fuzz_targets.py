"""Fuzz targets and input strategies for the image loader, the EXIF/GPS parser and the manifest
reader, shared by tests/unit/data/test_fuzz.py (a bounded run in CI) and
benchmarks/fuzz_inputs.py (a longer run that reports figures).

Inputs are *mutated real files*: seeds come from ../shared/data (photos with and without GPS,
broken EXIF, truncated JPEG, a real manifest), plus the same real pixels re-encoded as PNG,
TIFF, GIF, BMP and WebP so every decoder Pillow ships gets hostile bytes. A mutation flips,
overwrites, inserts or deletes bytes — mostly in the first 4 KB, where headers and EXIF live —
or truncates the file.

Each ``check_*`` states the property: the call returns a well-formed result or raises the
module's own error type (ImageError / ManifestError) — any other exception is a bug.
"""

from __future__ import annotations

import io
import math
import struct
from dataclasses import dataclass
from pathlib import Path

from hypothesis import strategies as st
from PIL import Image, TiffImagePlugin

from geomatch_app.core.errors import ImageError, ManifestError
from geomatch_app.data.gallery import read_manifest
from geomatch_app.data.images import load_image, parse_gps_ifd, read_geotag

# small real files: decoding a mutant must take milliseconds, not seconds
IMAGE_SEEDS = [
    "odd/invalid_exif_01551.jpg", "odd/invalid_exif_02206.jpg",
    "odd/invalid_exif_01713_49x500.jpg", "odd/truncated_DSCN0010.jpg",
    "odd/gps_zero_length_string.jpg", "arezzo_exif_gps/images/DSCN0010.jpg",
    "nordland_seqslam/images/summer/images-00010.png", "odd/not_an_image.jpg",
]
REENCODE_FROM = "nordland_seqslam/images/winter/images-00010.png"
REENCODE_FORMATS = {"tiff": "TIFF", "gif": "GIF", "bmp": "BMP", "webp": "WEBP", "png": "PNG"}
MANIFEST_SEED = "fordham_places/manifest.csv"


@dataclass
class Corpus:
    images: list[tuple[str, bytes]]  # (name with suffix, bytes)
    manifest: str
    manifest_images: list[str]  # relative paths the manifest names (copied beside it)

    @property
    def n_files(self) -> int:
        return len(self.images) + 1

    @property
    def n_bytes(self) -> int:
        return sum(len(b) for _, b in self.images) + len(self.manifest.encode())


def load_corpus(shared: Path) -> Corpus:
    images = [(Path(rel).name, (shared / rel).read_bytes()) for rel in IMAGE_SEEDS
              if (shared / rel).is_file()]
    with Image.open(shared / REENCODE_FROM) as im:
        rgb = im.convert("RGB")
        with_exif = Image.Exif()
        with_exif[0x0112] = 6  # orientation, so exif_transpose runs on the mutants too
        for suffix, fmt in REENCODE_FORMATS.items():
            buf = io.BytesIO()
            kw = {"exif": with_exif} if fmt in ("TIFF", "WEBP", "PNG") else {}
            rgb.save(buf, format=fmt, **kw)
            images.append((f"reencoded.{suffix}", buf.getvalue()))
    text = (shared / MANIFEST_SEED).read_text(encoding="utf-8")
    rels = [line.split(",")[0] for line in text.splitlines()[1:] if line.strip()]
    return Corpus(images, text, rels)


# ---- mutations -------------------------------------------------------------------------------

@st.composite
def mutated(draw, data: bytes) -> bytes:
    out = bytearray(data)
    for _ in range(draw(st.integers(1, 8))):
        if not out:
            out += draw(st.binary(min_size=1, max_size=16))
            continue
        head = min(len(out), 4096)
        pos = draw(st.one_of(st.integers(0, head - 1), st.integers(0, len(out) - 1)))
        kind = draw(st.sampled_from(["flip", "set", "insert", "delete", "truncate"]))
        if kind == "flip":
            out[pos] ^= 1 << draw(st.integers(0, 7))
        elif kind == "set":
            out[pos] = draw(st.sampled_from([0x00, 0xFF, 0x7F, 0x80, draw(st.integers(0, 255))]))
        elif kind == "insert":
            out[pos:pos] = draw(st.binary(min_size=1, max_size=64))
        elif kind == "delete":
            del out[pos:pos + draw(st.integers(1, 64))]
        else:
            del out[pos:]
    return bytes(out)


def image_mutants(corpus: Corpus):
    return st.sampled_from(corpus.images).flatmap(
        lambda seed: st.tuples(st.just(seed[0]), mutated(seed[1])))


# ---- GPS IFDs of every shape -----------------------------------------------------------------

_rationals = st.builds(lambda n, d: TiffImagePlugin.IFDRational(n, d),
                       st.integers(-2**31, 2**32), st.integers(0, 2**32))
_scalars = st.one_of(
    st.none(), st.integers(-2**40, 2**40), st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=8), st.binary(max_size=8), _rationals,
)
_values = st.one_of(_scalars, st.tuples(_scalars, _scalars, _scalars),
                    st.lists(_scalars, max_size=5).map(tuple))
gps_ifds = st.dictionaries(st.sampled_from([0, 1, 2, 3, 4, 5, 6, 16, 17, 29, 31]), _values,
                           max_size=8)

# raw EXIF GPS entries with any TIFF type and count (as written by odd cameras)
_entry = st.tuples(st.sampled_from([1, 2, 3, 4, 17]), st.sampled_from([1, 2, 3, 4, 5, 7, 9, 10]),
                   st.integers(0, 6), st.binary(min_size=0, max_size=48))
gps_entries = st.lists(_entry, max_size=6)


def check_load_image(path: Path) -> None:
    try:
        im = load_image(path, max_side=64)
    except ImageError as exc:
        assert str(path) in str(exc) and exc.hint, exc
        return
    assert im.mode == "RGB" and min(im.size) >= 1 and max(im.size) <= 64


def check_read_geotag(path: Path) -> None:
    try:
        tag = read_geotag(path)
    except ImageError as exc:
        assert str(path) in str(exc), exc
        return
    _check_tag(tag)


def check_parse_gps(ifd: dict) -> None:
    _check_tag(parse_gps_ifd(ifd, "fuzz.jpg"))


def _check_tag(tag) -> None:
    if tag is None:
        return
    assert -90 <= tag.lat <= 90 and -180 <= tag.lon <= 180
    assert math.isfinite(tag.lat) and math.isfinite(tag.lon)
    assert tag.heading is None or 0 <= tag.heading < 360


def gps_jpeg(entries: list[tuple[int, int, int, bytes]]) -> bytes:
    """A 16×16 JPEG whose GPS IFD holds ``entries`` verbatim (offsets made consistent)."""
    gps_off = 8 + 2 + 12 + 4
    ifd0 = struct.pack("<H", 1) + struct.pack("<HHII", 0x8825, 4, 1, gps_off) + b"\0\0\0\0"
    data_off = gps_off + 2 + 12 * len(entries) + 4
    gps, blob = struct.pack("<H", len(entries)), b""
    for tag, typ, count, value in entries:
        if len(value) <= 4:
            gps += struct.pack("<HHI", tag, typ, count) + value.ljust(4, b"\0")
        else:
            gps += struct.pack("<HHII", tag, typ, count, data_off + len(blob))
            blob += value
    gps += b"\0\0\0\0"
    exif = b"Exif\x00\x00II*\x00" + struct.pack("<I", 8) + ifd0 + gps + blob
    buf = io.BytesIO()
    Image.new("RGB", (16, 16), (10, 20, 30)).save(buf, format="JPEG", exif=exif)
    return buf.getvalue()


# ---- manifests -------------------------------------------------------------------------------

_csv_noise = st.text(alphabet=st.sampled_from(list(',"\n\r;\t\x00 é../-9e+nan')), min_size=1,
                     max_size=12)


@st.composite
def manifest_mutants(draw, text: str) -> str:
    out = text
    for _ in range(draw(st.integers(1, 6))):
        pos = draw(st.integers(0, len(out)))
        kind = draw(st.sampled_from(["insert", "delete", "dup_line", "swap_field"]))
        if kind == "insert":
            out = out[:pos] + draw(_csv_noise) + out[pos:]
        elif kind == "delete":
            out = out[:pos] + out[pos + draw(st.integers(1, 20)):]
        elif kind == "dup_line":
            lines = out.splitlines(keepends=True)
            if lines:
                i = draw(st.integers(0, len(lines) - 1))
                lines.insert(draw(st.integers(0, len(lines))), lines[i])
                out = "".join(lines)
        else:
            out = out[:pos] + draw(st.sampled_from(
                ["/etc/passwd", "../../x.jpg", "999", "-1e400", "inf", "nan", '"a,b"']
            )) + out[pos:]
    return out


def check_read_manifest(path: Path, role: str) -> None:
    try:
        rep = read_manifest(path, role)
    except ManifestError as exc:
        assert str(path) in str(exc), exc
        return
    root = path.parent.resolve()
    paths = [p.path for p in rep.photos]
    assert len(paths) == len(set(paths)), "a photo listed twice"
    for p in rep.photos:
        assert Path(p.path).resolve().is_relative_to(root), p.path
        assert Path(p.path).is_file()
        assert (p.lat is None) == (p.lon is None)
        if p.lat is not None:
            assert -90 <= p.lat <= 90 and -180 <= p.lon <= 180
    assert set(rep.no_location) <= set(paths)
    for where, reason in rep.skipped:
        assert where and reason
