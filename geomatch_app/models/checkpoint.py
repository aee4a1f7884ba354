"""Fine-tuned model directories: safetensors weights + JSON config + training log + model card.

Why a directory and not a pickle: loading a model someone else trained must never run their
code. The config names a *registered* base model and its JSON keyword arguments; loading builds
that architecture (without downloading or reading ImageNet weights) and fills it from
``model.safetensors`` with ``strict=True``, then checks the weight hash the config recorded.

Layout of ``<dir>/``::

    config.json          format, name, base_model, base_kwargs, preprocess, dim, weight_hash
    model.safetensors    the state dict
    training_log.jsonl   one JSON object per training event (optional)
    README.md            the model card (optional)

Where fine-tuned models are found (listed next to the built-ins by the registry):
``user_data_dir()/models/*`` and every folder of the ``GEOMATCH_MODELS_PATH`` (os.pathsep
separated), each holding model directories.

torch is imported inside functions: listing models must stay cheap for GUI start-up.
"""

from __future__ import annotations

import json
import logging
import math
import os
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from geomatch_app.core import files
from geomatch_app.core.errors import GeomatchError
from geomatch_app.core.paths import user_data_dir

log = logging.getLogger(__name__)

FORMAT = "geomatch-model"
FORMAT_VERSION = 1
CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
LOG_FILE = "training_log.jsonl"
CARD_FILE = "README.md"


class ModelDirError(GeomatchError):
    """A fine-tuned model directory that cannot be loaded."""


def search_dirs() -> list[Path]:
    """Folders that hold fine-tuned model directories, in priority order."""
    dirs = [user_data_dir() / "models"]
    env = os.environ.get("GEOMATCH_MODELS_PATH", "")
    dirs += [Path(p) for p in env.split(os.pathsep) if p]
    return dirs


def is_model_dir(path: str | Path) -> bool:
    p = Path(path)
    return (p / CONFIG_FILE).is_file() and (p / WEIGHTS_FILE).is_file()


def list_finetuned() -> dict[str, Path]:
    """``{name: directory}`` of every fine-tuned model in :func:`search_dirs` (first one wins)."""
    found: dict[str, Path] = {}
    for base in search_dirs():
        if not base.is_dir():
            continue
        for d in sorted(base.iterdir()):
            if d.name not in found and is_model_dir(d):
                found[d.name] = d
    return found


def find_model_dir(name_or_dir: str | Path) -> Path | None:
    """The directory of a fine-tuned model given its name (folder name in a search dir) or path."""
    p = Path(name_or_dir)
    if is_model_dir(p):
        return p.resolve()
    return list_finetuned().get(str(name_or_dir))


def read_config(model_dir: str | Path) -> dict[str, Any]:
    path = Path(model_dir) / CONFIG_FILE
    try:
        cfg = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelDirError(f"model config is unreadable ({exc})", path,
                            "re-save the model or delete the folder") from None
    if not isinstance(cfg, dict):
        raise ModelDirError(f"model config is a JSON {type(cfg).__name__}, not an object",
                            path, "use a model folder written by `geomatch train`")
    version = cfg.get("version", 0)
    if (cfg.get("format") != FORMAT or not isinstance(version, int) or isinstance(version, bool)
            or not 0 < version <= FORMAT_VERSION):
        raise ModelDirError(f"not a geomatch model config this version can read (format "
                            f"{cfg.get('format')!r}, version {version!r})", path,
                            "use a model folder written by `geomatch train`, or update geomatch")
    if not cfg.get("base_model") or not isinstance(cfg["base_model"], str):
        raise ModelDirError("model config names no base_model", path,
                            "re-save the model with `geomatch train`")
    problem = _config_problem(cfg)
    if problem:
        raise ModelDirError(f"model config is damaged: {problem}", path,
                            "copy the model folder again or retrain")
    return cfg


def _config_problem(cfg: dict[str, Any]) -> str:
    """What is wrong with the typed fields of a config ('' when nothing). A hand-edited or
    damaged config must be refused here, not crash later in preprocessing (a std of 0 divides
    every pixel by zero; a size of 0 resizes every photo to nothing)."""
    if not isinstance(cfg.get("base_kwargs") or {}, dict):
        return "base_kwargs is not an object"
    dim = cfg.get("dim", 1)
    if not isinstance(dim, int) or isinstance(dim, bool) or dim <= 0:
        return f"dim {dim!r} is not a positive whole number"
    pre = cfg.get("preprocess")
    if pre is None:
        return ""
    if not isinstance(pre, dict):
        return "preprocess is not an object"
    size = pre.get("size")
    if not isinstance(size, int) or isinstance(size, bool) or not 8 <= size <= 4096:
        return f"preprocess size {size!r} is not a whole number of pixels in 8..4096"
    for key in ("mean", "std"):
        values = pre.get(key)
        if (not isinstance(values, list) or len(values) != 3
                or not all(_finite_number(v) for v in values)):
            return f"preprocess {key} {values!r} is not three numbers"
    if not all(v > 0 for v in pre["std"]):
        return f"preprocess std {pre['std']!r} must be positive"
    return ""


def _finite_number(v: object) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


def model_name_for(model_dir: Path) -> str:
    """The name a loaded model carries: its folder name when the registry finds it by that name,
    else its absolute path (so an index built with it can always reopen it)."""
    model_dir = Path(model_dir).resolve()
    found = list_finetuned().get(model_dir.name)
    return model_dir.name if found is not None and found.resolve() == model_dir else str(model_dir)


def save_model(model, out_dir: str | Path, *, base_model: str | None = None,
               base_kwargs: dict | None = None, card: str = "",
               events: Iterable[dict] | None = None, extra: dict | None = None) -> Path:
    """Write ``model`` (a PlaceModel) as a model directory; returns the directory.

    ``base_model`` defaults to the model's own base: a model loaded from a directory keeps the
    registered architecture it was built from, so fine-tuning a fine-tuned model works.
    """
    from safetensors.torch import save_file

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    base = base_model or getattr(model, "base_model", "") or model.name
    if base_kwargs is None:
        base_kwargs = getattr(model, "base_kwargs", None)
    if base_kwargs is None:
        base_kwargs = {k: v for k, v in (model.build_kwargs or {}).items()
                       if k not in ("pretrained", "pretrained_effective")}
    state = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    with files.replacing(out / WEIGHTS_FILE, durable=True) as tmp:  # no debris on failure
        save_file(state, str(tmp), metadata={"format": FORMAT, "base_model": base})
    cfg = {
        "format": FORMAT,
        "version": FORMAT_VERSION,
        "name": out.name,
        "base_model": base,
        "base_kwargs": base_kwargs,
        "preprocess": model.preprocess.to_json(),
        "dim": int(model.dim),
        "weight_hash": model.weight_hash(),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        **(extra or {}),
    }
    _write_text(out / CONFIG_FILE, json.dumps(cfg, indent=2, default=str))
    if events is not None:
        _write_text(out / LOG_FILE, "".join(json.dumps(e, default=str) + "\n" for e in events))
    if card:
        _write_text(out / CARD_FILE, card)
    log.info("saved model %s (base %s, hash %s) to %s", out.name, base, cfg["weight_hash"], out)
    return out


def load_model(model_dir: str | Path, device: str | None = None):
    """Build the base architecture and load the saved weights (never unpickles anything)."""
    import torch
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    from geomatch_app.models.place import Preprocess
    from geomatch_app.models.registry import _build_registered

    model_dir = Path(model_dir)
    cfg = read_config(model_dir)
    try:
        model = _build_registered(cfg["base_model"], pretrained=False,
                                  **(cfg.get("base_kwargs") or {}))
    except KeyError:
        raise ModelDirError(f"its base model {cfg['base_model']!r} is not available",
                            model_dir / CONFIG_FILE,
                            "install the geomatch version that has that model") from None
    except (TypeError, ValueError) as exc:  # base_kwargs the architecture does not take
        raise ModelDirError(f"its base_kwargs do not fit {cfg['base_model']!r} ({exc})",
                            model_dir / CONFIG_FILE,
                            "copy the model folder again or retrain") from None
    weights = model_dir / WEIGHTS_FILE
    try:
        state = load_file(str(weights))
    except (OSError, SafetensorError) as exc:
        raise ModelDirError(f"weights are unreadable ({exc})", weights,
                            "copy the model folder again or retrain") from None
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise ModelDirError(f"weights do not fit base model {cfg['base_model']!r}: "
                            f"{str(exc).splitlines()[0]}", weights,
                            "the folder mixes files of different models; retrain") from None
    pre = cfg.get("preprocess")
    if pre:
        model.preprocess = Preprocess(size=int(pre["size"]), mean=tuple(pre["mean"]),
                                      std=tuple(pre["std"]))
    expected = cfg.get("weight_hash")
    if not isinstance(expected, str) or not expected:
        # without it, changed weights would load silently (and rank with other descriptors)
        raise ModelDirError("config.json has no weight_hash", model_dir / CONFIG_FILE,
                            "copy the model folder again or retrain")
    if model.weight_hash() != expected:
        raise ModelDirError("weights do not match the hash in config.json", weights,
                            "the file was changed or damaged; copy it again or retrain")
    model.name = model_name_for(model_dir)
    model.build_kwargs = {}
    model.base_model = cfg["base_model"]
    model.base_kwargs = dict(cfg.get("base_kwargs") or {})
    model.model_dir = str(model_dir.resolve())
    if device is not None:
        model.to(torch.device(device))
    return model.eval()


def describe(model_dir: str | Path) -> dict[str, str]:
    """Registry metadata of a fine-tuned model (for ``geomatch models`` and the GUI)."""
    cfg = read_config(model_dir)
    trained = cfg.get("training", {}) or {}
    data = trained.get("data", "")
    return {
        "source": f"fine-tuned from {cfg['base_model']}" + (f" on {data}" if data else ""),
        "pretrained": f"fine-tuned weights in {Path(model_dir)}",
        "base_model": cfg["base_model"],
    }


def _write_text(path: Path, text: str) -> None:
    files.write_text(path, text, durable=True)
