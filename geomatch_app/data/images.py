"""Image loading that survives real archives: EXIF orientation, every pixel mode to RGB, huge
scans, truncated or corrupt files (clear errors naming the file), and GPS from EXIF."""

from __future__ import annotations

import logging
import math
import os
import stat
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from geomatch_app.core.errors import ImageError
from geomatch_app.core.types import GeoTag

log = logging.getLogger(__name__)

# Pillow's own bomb guard is 89 MP; archive scans can be larger, so the limit is ours and
# configurable. Above it the file is refused with a message instead of exhausting memory.
# Pillow raises only above *twice* its MAX_IMAGE_PIXELS (it merely warns in between), so
# :func:`load_image` checks the declared size against MAX_PIXELS itself; Pillow's guard stays
# as the backstop for decoders that allocate while opening.
MAX_PIXELS = int(os.environ.get("GEOMATCH_MAX_PIXELS", 400_000_000))
Image.MAX_IMAGE_PIXELS = MAX_PIXELS

# _unidentified_reason looks at this many leading bytes for a format signature.
_SNIFF_BYTES = 32

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".tif", ".tiff", ".bmp", ".webp", ".gif"}

GPS_IFD = 0x8825


def load_image(path: str | Path, max_side: int | None = None,
               draft_side: int | None = None) -> Image.Image:
    """Open ``path`` as an upright RGB image, optionally shrunk so its longer side ≤ max_side.

    ``draft_side``: a JPEG may be decoded at 1/2, 1/4 or 1/8 size (DCT scaling) as long as both
    sides stay ≥ draft_side — what a model with that input size needs, at a fraction of the
    decoding cost.
    Raises :class:`ImageError` naming the file for anything that cannot be decoded.
    """
    path = Path(path)
    _check_regular_file(path)
    try:
        with Image.open(path) as im:
            _check_pixels(im, path)
            side = draft_side or max_side
            if side and im.format in ("JPEG", "MPO"):
                # Decode huge JPEG scans at reduced size (DCT scaling) instead of full size.
                im.draft("RGB", (side, side))
            im.load()
            im = _upright(im, path)
            rgb = to_rgb(im)
    except FileNotFoundError:
        raise ImageError("file not found", path,
                         "check the path or re-import the gallery") from None
    except Image.DecompressionBombError as exc:
        raise ImageError(
            f"image too large to open safely ({exc})", path,
            "downscale the scan, or raise the limit with GEOMATCH_MAX_PIXELS",
        ) from None
    except UnidentifiedImageError:
        raise ImageError(_unidentified_reason(path), path, _unidentified_hint(path)) from None
    except OSError as exc:
        if "truncated" in str(exc).lower():
            raise ImageError("image file is truncated (incomplete download or copy)", path,
                             "copy the file again from its source") from None
        raise ImageError(f"cannot decode image ({exc})", path,
                         "the file may be corrupt; re-export it as JPEG or PNG") from None
    except (ValueError, SyntaxError) as exc:
        raise ImageError(f"cannot decode image ({exc})", path,
                         "the file may be corrupt; re-export it as JPEG or PNG") from None
    if max_side and max(rgb.size) > max_side:
        rgb.thumbnail((max_side, max_side), Image.Resampling.BILINEAR)
    return rgb


def _check_regular_file(path: Path) -> None:
    """Refuse pipes, devices and folders before opening: reading a FIFO would block forever
    and a device can stream without end."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise ImageError("file not found", path,
                         "check the path or re-import the gallery") from None
    except OSError as exc:
        raise ImageError(f"cannot be read ({exc.strerror or exc})", path,
                         "check the file's permissions") from None
    if not stat.S_ISREG(mode):
        kind = ("a folder" if stat.S_ISDIR(mode) else "a pipe (FIFO)" if stat.S_ISFIFO(mode)
                else "a device or socket")
        raise ImageError(f"is {kind}, not an image file", path, "give the path of a photo")


def _check_pixels(im: Image.Image, path: Path) -> None:
    width, height = im.size
    if MAX_PIXELS and width * height > MAX_PIXELS:
        raise ImageError(
            f"image too large to open safely ({width}×{height} = {width * height:,} pixels, "
            f"limit {MAX_PIXELS:,})", path,
            "downscale the scan, or raise the limit with GEOMATCH_MAX_PIXELS",
        )


def _unidentified_reason(path: Path) -> str:
    try:
        size = path.stat().st_size
    except OSError:
        size = -1
    if size == 0:
        return "file is empty (0 bytes)"
    if path.suffix.lower() in {".heic", ".heif", ".avif"}:
        return f"unsupported format ({path.suffix.lower()[1:].upper()})"
    head = b""
    if size > 0:
        try:
            with path.open("rb") as fh:  # the signature only: never the whole (maybe huge) file
                head = fh.read(_SNIFF_BYTES)
        except OSError:
            head = b""
    if b"ftypheic" in head or b"ftypmif1" in head or b"ftypheix" in head:
        return "unsupported format (HEIF/HEIC)"
    return "not a recognised image file"


def _unidentified_hint(path: Path) -> str:
    return "convert it to JPEG or PNG (HEIF needs the pillow-heif plugin)"


def _upright(im: Image.Image, path: Path) -> Image.Image:
    """Apply the EXIF orientation; a broken EXIF block must not stop the image from loading.
    In place: without it Pillow returns a copy of every upright photo (~0.3 ms of a query)."""
    try:
        ImageOps.exif_transpose(im, in_place=True)
        return im
    except Exception as exc:  # noqa: BLE001 - invalid EXIF comes in many shapes
        log.warning("%s: ignoring unreadable EXIF orientation (%s)", path, exc)
        return im


def to_rgb(im: Image.Image) -> Image.Image:
    """Convert any Pillow mode to 8-bit RGB. Transparency is composited over white; 16-bit and
    float images are scaled to their own range rather than clipped."""
    mode = im.mode
    if mode == "RGB":
        return im
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        arr = np.asarray(im, dtype=np.float64)
        lo, hi = float(np.nanmin(arr)), float(np.nanmax(arr))
        if mode.startswith("I;16") and lo >= 0 and hi <= 65535:
            lo, hi = 0.0, 65535.0 if hi > 255 else 255.0
        scale = 255.0 / (hi - lo) if hi > lo else 0.0
        arr8 = np.clip((arr - lo) * scale, 0, 255).astype(np.uint8)
        return Image.fromarray(arr8, mode="L").convert("RGB")
    if mode == "P" and "transparency" in im.info:
        im = im.convert("RGBA")
        mode = "RGBA"
    if mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = im.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return im.convert("RGB")  # L, 1, P, CMYK, YCbCr, LAB, HSV


def read_geotag(path: str | Path) -> GeoTag | None:
    """GPS position (and GPSImgDirection) from EXIF, or None when absent or invalid.

    Never raises for bad EXIF; raises ImageError only when the file cannot be opened at all.
    """
    path = Path(path)
    _check_regular_file(path)
    try:
        with Image.open(path) as im:
            exif = im.getexif()
            gps = exif.get_ifd(GPS_IFD) if exif else {}
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
        raise ImageError(f"cannot read metadata ({exc})", path,
                         "the file may be corrupt or not an image") from None
    except Exception as exc:  # noqa: BLE001 - broken EXIF IFDs raise odd errors
        log.warning("%s: unreadable EXIF (%s)", path, exc)
        return None
    return parse_gps_ifd(gps, path)


def parse_gps_ifd(gps: dict, path: str | Path = "") -> GeoTag | None:
    """The position in an EXIF GPS IFD (tags 1–4: refs and degree/minute/second triples, 17:
    image direction). Anything malformed gives None with a warning, never an exception: one bad
    photo must not abort a whole folder."""
    try:
        lat = _dms_to_deg(gps.get(2), gps.get(1), "NS")
        lon = _dms_to_deg(gps.get(4), gps.get(3), "EW")
    except (TypeError, ValueError, ZeroDivisionError, IndexError, AttributeError,
            OverflowError) as exc:
        log.warning("%s: invalid GPS EXIF (%s)", path, exc)
        return None
    if lat is None or lon is None:
        return None
    if not (-90 <= lat <= 90 and -180 <= lon <= 180) or (lat == 0 and lon == 0):
        log.warning("%s: GPS position out of range or null island (%s, %s)", path, lat, lon)
        return None
    heading = None
    if gps.get(17) is not None:
        try:
            h = float(gps[17])
            if math.isfinite(h):
                heading = h % 360.0
        except (TypeError, ValueError, ZeroDivisionError, OverflowError):
            heading = None
    return GeoTag(lat, lon, heading)


def _dms_to_deg(value, ref, refs: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, (tuple, list)):
        parts = [float(v) for v in value] + [0.0, 0.0]
        deg = parts[0] + parts[1] / 60.0 + parts[2] / 3600.0
    else:
        deg = float(value)
    if not math.isfinite(deg):
        return None
    if isinstance(ref, bytes):
        ref = ref.decode("ascii", "ignore")
    if ref is not None and not isinstance(ref, str):
        # Some writers store the reference as a number (IFDRational / int). Its hemisphere is
        # unknown, and guessing north/east would place the photo on the wrong side of the globe.
        raise ValueError(f"GPS reference is a {type(ref).__name__} ({ref!r}), not N/S/E/W")
    ref = (ref or "").replace("\x00", "").strip().upper()[:1]
    if ref and ref not in refs:
        raise ValueError(f"GPS reference {ref!r} is not one of {refs[0]}/{refs[1]}")
    if ref == refs[1]:
        deg = -abs(deg)
    return deg
