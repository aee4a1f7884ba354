"""JPEG decoding for the model input on the device that runs the model (nvJPEG on CUDA).

On a GPU the model embeds thousands of photos a second while Pillow decodes a few hundred per
CPU core, so indexing would wait on the CPU. This path keeps the CPU to reading file bytes
(DataLoader workers, pinned memory) and decodes a whole batch at once with
``torchvision.io.decode_jpeg(..., device="cuda")``; the resize to the model's input and the
normalisation run on the same device, and the tensors go to the engine without another copy
(bf16 autocast and channels_last are the torch engine's, index/engines.py).

The same function runs on the CPU (libjpeg-turbo through torchvision): that is how the tests
check, without a GPU, that this path gives the model the same input as the Pillow path
(index/extract.py ``load_tensor``): same orientation (EXIF), same RGB order, same resize
(bilinear with antialiasing, which is what Pillow's bilinear does when shrinking), same
normalisation. Files torchvision cannot decode (PNG, CMYK or progressive-arithmetic JPEGs,
corrupt files) fall back to the Pillow path one by one, which also words the error message.

Choice (:func:`decode_mode`): ``GEOMATCH_DECODE`` = auto|pillow|torchvision; auto decodes with
torchvision on CUDA and with Pillow (DCT-scaled ``draft`` decoding, faster on a CPU) elsewhere.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from geomatch_app.core.errors import ImageError

log = logging.getLogger(__name__)

DECODE_ENV = "GEOMATCH_DECODE"
MODES = ("auto", "pillow", "torchvision")
JPEG_SUFFIXES = {".jpg", ".jpeg", ".jpe", ".jfif"}
_JPEG_MAGIC = b"\xff\xd8\xff"


def torchvision_available() -> bool:
    try:
        from torchvision.io import decode_jpeg  # noqa: F401
    except ImportError:
        return False
    return True


def decode_mode(device: torch.device, mode: str | None = None) -> str:
    """``pillow`` or ``torchvision``: which decoder feeds the model on ``device``."""
    mode = (mode or os.environ.get(DECODE_ENV, "auto")).strip().lower() or "auto"
    if mode not in MODES:
        log.warning("%s=%r is not one of %s; using auto", DECODE_ENV, mode, ", ".join(MODES))
        mode = "auto"
    if mode == "auto":
        mode = "torchvision" if device.type == "cuda" else "pillow"
    if mode == "torchvision" and not torchvision_available():
        log.warning("torchvision is not installed; decoding with Pillow")
        mode = "pillow"
    return mode


def read_bytes(path: str) -> torch.Tensor | None:
    """The file's bytes as a uint8 tensor when it is a JPEG by name and signature, else None
    (the Pillow path then handles it, including the error message for a bad file)."""
    if Path(path).suffix.lower() not in JPEG_SUFFIXES:
        return None
    try:
        data = np.fromfile(path, dtype=np.uint8)
    except OSError:
        return None
    if data[:3].tobytes() != _JPEG_MAGIC:
        return None
    return torch.from_numpy(data)


def to_model_input(images: Sequence[torch.Tensor], preprocess,
                   device: torch.device) -> torch.Tensor:
    """Decoded (3, H, W) uint8 images → normalised (B, 3, S, S) float32 on ``device``: the
    arithmetic of index.extract.image_to_tensor (squash to S×S, /255, mean/std)."""
    import torch.nn.functional as F

    size = preprocess.size
    mean = torch.as_tensor(preprocess.mean, dtype=torch.float32, device=device)[:, None, None]
    std = torch.as_tensor(preprocess.std, dtype=torch.float32, device=device)[:, None, None]
    out = torch.empty((len(images), 3, size, size), dtype=torch.float32, device=device)
    for i, img in enumerate(images):
        x = img.to(device, non_blocking=True).to(torch.float32)[None]
        if x.shape[-2:] != (size, size):
            x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False,
                              antialias=True)
        # Pillow resizes in 8 bits: round and clamp likewise so both paths see the same input
        out[i] = x[0].round_().clamp_(0, 255).div_(255).sub_(mean).div_(std)
    return out


def decode_batch(paths: Sequence[str], data: Sequence[torch.Tensor | None], preprocess,
                 device: torch.device) -> tuple[torch.Tensor, list[str]]:
    """Model inputs (B, 3, S, S) on ``device`` for ``paths`` whose bytes are ``data`` (None:
    not a JPEG); unreadable files get a zero image and their error message (else "")."""
    from torchvision.io import ImageReadMode, decode_jpeg

    from geomatch_app.index.extract import load_tensor

    size = preprocess.size
    decoded: list[torch.Tensor | None] = [None] * len(paths)
    jpeg = [i for i, d in enumerate(data) if d is not None]
    if jpeg:
        try:  # one batched call: nvJPEG decodes the batch together
            imgs = decode_jpeg([data[i] for i in jpeg], mode=ImageReadMode.RGB, device=device,
                               apply_exif_orientation=True)
            for i, img in zip(jpeg, imgs, strict=True):
                decoded[i] = img
        except RuntimeError:  # one bad file fails the batch: retry them one by one
            for i in jpeg:
                try:
                    decoded[i] = decode_jpeg(data[i], mode=ImageReadMode.RGB, device=device,
                                             apply_exif_orientation=True)
                except RuntimeError as exc:
                    log.debug("%s: torchvision cannot decode it (%s); using Pillow",
                              paths[i], exc)
    out = torch.zeros((len(paths), 3, size, size), dtype=torch.float32, device=device)
    errors = [""] * len(paths)
    ok = [i for i, img in enumerate(decoded) if img is not None]
    if ok:
        out[ok] = to_model_input([decoded[i] for i in ok], preprocess, device)
    for i, img in enumerate(decoded):
        if img is None:  # not a JPEG, or one torchvision cannot read: Pillow decides
            try:
                out[i] = load_tensor(paths[i], preprocess).to(device)
            except ImageError as exc:
                errors[i] = str(exc)
    return out, errors
