"""One answer to "which torch device?" for indexing, querying and training."""

from __future__ import annotations

from typing import TYPE_CHECKING

from geomatch_app.core.errors import GeomatchError

if TYPE_CHECKING:
    import torch

DEVICES = ("auto", "cpu", "cuda")


def resolve_device(device: str = "auto") -> torch.device:
    """``auto`` → CUDA when available, else CPU; ``cuda`` / ``cuda:N`` without a GPU and
    unknown names are refused with what to do instead."""
    import torch

    device = (device or "auto").strip().lower()
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device != "cpu" and not device.startswith("cuda"):
        raise GeomatchError(f"unknown device {device!r}", hint="use cpu, cuda or auto")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise GeomatchError("CUDA was requested but no CUDA GPU is available",
                            hint="use --device cpu (slow but correct) or auto")
    try:
        return torch.device(device)
    except RuntimeError:
        raise GeomatchError(f"unknown device {device!r}", hint="use cpu, cuda or auto") from None
