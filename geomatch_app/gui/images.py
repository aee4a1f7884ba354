"""Pictures for the widgets: PIL → QImage, thumbnails made in a worker, heatmap colouring.

QImage (unlike QPixmap) may be created off the GUI thread, so thumbnails and overlays are built
in the worker and only turned into pixmaps on the GUI thread.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image
from PySide6.QtGui import QImage

from geomatch_app.core.progress import Progress
from geomatch_app.data.images import load_image
from geomatch_app.gui.worker import Worker

THUMB_SIDE = 160

# A perceptual dark-blue → yellow ramp (viridis-like control points), so no matplotlib needed.
_RAMP = np.array([
    [68, 1, 84], [59, 82, 139], [33, 145, 140], [94, 201, 98], [253, 231, 37],
], dtype=np.float32)


def pil_to_qimage(im: Image.Image) -> QImage:
    """A deep copy, so the QImage owns its pixels after ``im`` is gone."""
    if im.mode == "RGBA":
        data = im.tobytes("raw", "RGBA")
        fmt = QImage.Format.Format_RGBA8888
        bpl = 4 * im.width
    else:
        im = im.convert("RGB")
        data = im.tobytes("raw", "RGB")
        fmt = QImage.Format.Format_RGB888
        bpl = 3 * im.width
    return QImage(data, im.width, im.height, bpl, fmt).copy()


def load_qimage(path: str | Path, max_side: int | None = None) -> QImage:
    """Upright RGB image as QImage; raises ImageError (naming the file) when undecodable."""
    return pil_to_qimage(load_image(path, max_side=max_side))


def make_thumbnails(paths: list[str], side: int = THUMB_SIDE,
                    progress: Progress | None = None) -> dict[str, QImage | str]:
    """Thumbnail per path, or the error text for files that cannot be read (run in a Worker)."""
    out: dict[str, QImage | str] = {}
    for i, p in enumerate(paths):
        if progress is not None:
            progress.step(i, len(paths), Path(p).name)
        try:
            out[p] = load_qimage(p, max_side=side)
        except Exception as exc:  # noqa: BLE001 - reported per file, the rest go on
            out[p] = str(exc)
    if progress is not None:
        progress.step(len(paths), len(paths), "thumbnails")
    return out


def colorize(heat: np.ndarray, size: tuple[int, int] | None = None) -> QImage:
    """Heatmap (H×W, any range) → RGBA QImage, alpha rising with the value so low areas stay
    transparent. ``size`` = (width, height) of the photo it overlays."""
    h = np.asarray(heat, dtype=np.float32)
    h = np.nan_to_num(h, nan=0.0, posinf=0.0, neginf=0.0)
    lo, hi = float(h.min()), float(h.max())
    h = (h - lo) / (hi - lo) if hi > lo else np.zeros_like(h)
    if size is not None and (h.shape[1], h.shape[0]) != size:
        im = Image.fromarray((h * 255).astype(np.uint8), mode="L")
        h = np.asarray(im.resize(size, Image.Resampling.BILINEAR), dtype=np.float32) / 255.0
    pos = h * (len(_RAMP) - 1)
    i0 = np.clip(np.floor(pos).astype(int), 0, len(_RAMP) - 2)
    frac = (pos - i0)[..., None]
    rgb = _RAMP[i0] * (1 - frac) + _RAMP[i0 + 1] * frac
    alpha = (64 + 191 * h)[..., None]
    rgba = np.concatenate([rgb, alpha], axis=-1).clip(0, 255).astype(np.uint8)
    rgba = np.ascontiguousarray(rgba)
    qimg = QImage(rgba.data, rgba.shape[1], rgba.shape[0], 4 * rgba.shape[1],
                  QImage.Format.Format_RGBA8888)
    return qimg.copy()


def thumbnails_job(paths: list[str], on_result) -> Worker:
    """A job making the thumbnails of ``paths`` (QImage, or the error text per file)."""
    w = Worker(make_thumbnails, paths, label="Thumbnails")
    w.signals.result.connect(on_result)
    return w


class ImageCache:
    """Decoded photos by (path, size): each photo is decoded once per view size, however often
    the curator returns to it (a small LRU; QImages are shared, not copied)."""

    def __init__(self, capacity: int = 24) -> None:
        self.capacity = capacity
        self._items: dict[tuple[str, int], QImage] = {}

    def get(self, path: str, side: int) -> QImage | None:
        img = self._items.pop((path, side), None)
        if img is not None:
            self._items[(path, side)] = img  # most recent last
        return img

    def put(self, path: str, side: int, image: QImage) -> None:
        self._items[(path, side)] = image
        while len(self._items) > self.capacity:
            self._items.pop(next(iter(self._items)))
