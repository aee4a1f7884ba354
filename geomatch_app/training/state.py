"""Resume state: weights, optimizer and scheduler after the last finished epoch.

Stored like the models themselves — tensors in safetensors, everything else in JSON — so
resuming never unpickles anything. Random generators are not saved: the trainer re-seeds them at
the start of every epoch from (seed, epoch), so a resumed run continues exactly as an
uninterrupted one would.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from geomatch_app.core import files

RESUME_DIR = "resume"


def resume_dir(out_dir: str | Path) -> Path:
    return Path(out_dir) / RESUME_DIR


def _split_tensors(obj: Any, prefix: str, tensors: dict[str, torch.Tensor]) -> Any:
    """Replace tensors inside nested dicts/lists by {"__tensor__": key}."""
    if isinstance(obj, torch.Tensor):
        key = prefix or "t"
        tensors[key] = obj.detach().contiguous().cpu()
        return {"__tensor__": key}
    if isinstance(obj, dict):
        return {str(k): _split_tensors(v, f"{prefix}.{k}" if prefix else str(k), tensors)
                for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_split_tensors(v, f"{prefix}.{i}", tensors) for i, v in enumerate(obj)]
    return obj


def _join_tensors(obj: Any, tensors: dict[str, torch.Tensor]) -> Any:
    if isinstance(obj, dict):
        if set(obj) == {"__tensor__"}:
            return tensors[obj["__tensor__"]]
        return {k: _join_tensors(v, tensors) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_join_tensors(v, tensors) for v in obj]
    return obj


def save_state(out_dir: str | Path, model, optimizer, scheduler, info: dict) -> Path:
    from safetensors.torch import save_file

    d = resume_dir(out_dir)
    d.mkdir(parents=True, exist_ok=True)
    tensors: dict[str, torch.Tensor] = {}
    opt = _split_tensors(optimizer.state_dict(), "opt", tensors)
    for k, v in model.state_dict().items():
        tensors[f"model.{k}"] = v.detach().contiguous().cpu()
    with files.replacing(d / "state.safetensors", durable=True) as tmp:
        save_file(tensors, str(tmp))
    doc = {"optimizer": opt, "scheduler": scheduler.state_dict() if scheduler else None, **info}
    files.write_text(d / "state.json", json.dumps(doc, default=str), durable=True)
    return d


def has_state(out_dir: str | Path) -> bool:
    d = resume_dir(out_dir)
    return (d / "state.json").is_file() and (d / "state.safetensors").is_file()


def load_state(out_dir: str | Path, model, optimizer, scheduler) -> dict:
    """Restore model/optimizer/scheduler in place; returns the saved info (epoch, events…)."""
    from safetensors.torch import load_file

    d = resume_dir(out_dir)
    doc = json.loads((d / "state.json").read_text(encoding="utf-8"))
    tensors = load_file(str(d / "state.safetensors"))
    prefix = "model."
    model.load_state_dict({k[len(prefix):]: v for k, v in tensors.items()
                           if k.startswith(prefix)}, strict=True)
    opt = _join_tensors(doc.pop("optimizer"), tensors)
    opt["state"] = {int(k): v for k, v in opt["state"].items()}
    optimizer.load_state_dict(opt)
    sched = doc.pop("scheduler", None)
    if scheduler is not None and sched is not None:
        scheduler.load_state_dict(sched)
    return doc
