"""Find a model by name: ``get_model(name)``, ``list_models()``, ``model_info(name)``.

Built-in models come from the registry (``@register_model`` constructors); fine-tuned models
are folders found by :mod:`geomatch_app.models.checkpoint`. This module sits above both, so
neither imports the other's caller (the registry ↔ checkpoint cycle is gone).
"""

from __future__ import annotations

from typing import Any

from geomatch_app.models import checkpoint
from geomatch_app.models.registry import (
    _REGISTRY,
    ModelInfo,
    _build_registered,
    _ensure_loaded,
    unknown_model,
)

DEFAULT_MODEL = "effnetlite2-gem"  # the off-the-shelf default every trained model must beat


def list_models() -> list[str]:
    """Built-in models, then fine-tuned model directories (see models.checkpoint)."""
    _ensure_loaded()
    return sorted(_REGISTRY) + [n for n in _finetuned() if n not in _REGISTRY]


def _finetuned() -> dict:
    """``{name: dir}`` of fine-tuned models; never lets a broken folder break the listing."""
    try:
        return checkpoint.list_finetuned()
    except Exception:  # noqa: BLE001 - an unreadable models folder hides nothing built in
        return {}


def _finetuned_info(name: str) -> ModelInfo | None:
    model_dir = checkpoint.find_model_dir(name)
    if model_dir is None:
        return None
    meta = checkpoint.describe(model_dir)
    base = _REGISTRY.get(meta["base_model"])
    return ModelInfo(name, lambda pretrained=True, **kw: checkpoint.load_model(model_dir),
                     source=meta["source"], backbone=base.backbone if base else "",
                     head=base.head if base else "", pretrained=meta["pretrained"])


def model_info(name: str) -> ModelInfo:
    _ensure_loaded()
    try:
        return _REGISTRY[name]
    except KeyError:
        info = _finetuned_info(name)
        if info is not None:
            return info
        raise unknown_model(name) from None


def get_model(name: str, pretrained: bool = True, **kwargs: Any):
    """Build a registered model, or load a fine-tuned one by folder name or path (its saved
    weights; ``pretrained`` and ``kwargs`` do not apply). Returns a
    :class:`~geomatch_app.models.place.PlaceModel`."""
    _ensure_loaded()
    if name not in _REGISTRY:
        model_dir = checkpoint.find_model_dir(name)
        if model_dir is not None:
            return checkpoint.load_model(model_dir)
    return _build_registered(name, pretrained, **kwargs)
