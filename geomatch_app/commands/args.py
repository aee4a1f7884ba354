"""argparse ``type=`` validators shared by the subcommands.

A bad value is a usage error: argparse prints ``geomatch CMD: error: argument --batch-size:
must be a whole number ≥ 1, not -1`` and exits with 2 before any work starts (before torch is
imported, before a gallery is read), instead of a traceback minutes later. Each validator raises
``argparse.ArgumentTypeError`` with a message that says what a good value looks like.
"""

from __future__ import annotations

import argparse
import math
import re

_DEVICE = re.compile(r"^(auto|cpu|cuda(:\d+)?)$")


def _number(text: str, kind: type) -> float | int:
    try:
        value = kind(text)
    except ValueError:
        what = "a whole number" if kind is int else "a number"
        raise argparse.ArgumentTypeError(f"must be {what}, not {text!r}") from None
    if kind is float and not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be a finite number, not {text!r}")
    return value


def positive_int(text: str) -> int:
    value = int(_number(text, int))
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number ≥ 1, not {text}")
    return value


def non_negative_int(text: str) -> int:
    value = int(_number(text, int))
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be a whole number ≥ 0, not {text}")
    return value


def any_int(text: str) -> int:
    return int(_number(text, int))


def finite_float(text: str) -> float:
    return float(_number(text, float))


def positive_float(text: str) -> float:
    value = finite_float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a number > 0, not {text}")
    return value


def non_negative_float(text: str) -> float:
    value = finite_float(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be a number ≥ 0, not {text}")
    return value


def unit_interval(text: str) -> float:
    """0 ≤ x ≤ 1 (a weight)."""
    value = finite_float(text)
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, not {text}")
    return value


def open_fraction(text: str) -> float:
    """0 < x < 1 (a share that must leave something on both sides)."""
    value = finite_float(text)
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1 (exclusive), not {text}")
    return value


def latitude(text: str) -> float:
    value = finite_float(text)
    if not -90 <= value <= 90:
        raise argparse.ArgumentTypeError(f"must be a latitude in -90..90 degrees, not {text}")
    return value


def longitude(text: str) -> float:
    value = finite_float(text)
    if not -180 <= value <= 180:
        raise argparse.ArgumentTypeError(f"must be a longitude in -180..180 degrees, not {text}")
    return value


def heading(text: str) -> float:
    """Degrees clockwise from north; any finite value (stored modulo 360)."""
    return finite_float(text)


def non_empty(text: str) -> str:
    if not text.strip():
        raise argparse.ArgumentTypeError("must not be empty")
    return text


def device(text: str) -> str:
    """auto, cpu, cuda or cuda:N; cuda only where a CUDA GPU is present."""
    value = text.strip().lower()
    if not _DEVICE.match(value):
        raise argparse.ArgumentTypeError(f"must be auto, cpu, cuda or cuda:N, not {text!r}")
    if value.startswith("cuda"):
        import torch  # only when a GPU is asked for: `--help` and cpu runs stay quick

        if not torch.cuda.is_available():
            raise argparse.ArgumentTypeError(
                "no CUDA GPU is available on this machine; use --device cpu or auto")
        if ":" in value and int(value.split(":")[1]) >= torch.cuda.device_count():
            raise argparse.ArgumentTypeError(
                f"there is no GPU {value} (this machine has {torch.cuda.device_count()})")
    return value


def model_name(text: str) -> str:
    """A registered model, a fine-tuned model's name, or a model folder."""
    from geomatch_app.models import list_models
    from geomatch_app.models.checkpoint import find_model_dir

    if text in list_models() or find_model_dir(text) is not None:
        return text
    raise argparse.ArgumentTypeError(
        f"unknown model {text!r}; `geomatch models` lists the available ones")
