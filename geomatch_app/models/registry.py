"""torchvision-style registry: ``@register_model(name, ...)`` on a small constructor.

The registry holds metadata only; torch is imported by the constructors, so
``list_models()`` is cheap. Fine-tuned models saved by training are listed next to the built-in
ones (see :func:`geomatch_app.models.checkpoint.list_finetuned`).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from geomatch_app.core.errors import GeomatchError

# Modules that register built-in models when imported.
_BUILTIN_MODULES = ("geomatch_app.models.zoo",)


@dataclass
class ModelInfo:
    name: str
    factory: Callable[..., Any]
    source: str = ""  # paper / origin, e.g. "paper A (age-agnostic VPR)"
    backbone: str = ""
    head: str = ""
    pretrained: str = ""  # where pretrained weights come from, "" when none offline
    default_kwargs: dict = field(default_factory=dict)


class UnknownModelError(GeomatchError, KeyError):
    """A model name that is neither registered nor a fine-tuned model folder. Also a KeyError,
    for callers that look names up with ``except KeyError``."""

    def __str__(self) -> str:  # KeyError would print the message in quotes
        return str(self.args[0]) if self.args else ""


_REGISTRY: dict[str, ModelInfo] = {}
_loaded = False


def register_model(name: str, *, source: str = "", backbone: str = "", head: str = "",
                   pretrained: str = "", **default_kwargs: Any):
    def deco(fn: Callable[..., Any]) -> Callable[..., Any]:
        if name in _REGISTRY:
            raise ValueError(f"model {name!r} registered twice")
        _REGISTRY[name] = ModelInfo(name, fn, source, backbone, head, pretrained, default_kwargs)
        return fn

    return deco


def _ensure_loaded() -> None:
    global _loaded
    if not _loaded:
        _loaded = True
        for mod in _BUILTIN_MODULES:
            importlib.import_module(mod)


def list_models() -> list[str]:
    """Built-in models, then fine-tuned model directories (see models.checkpoint)."""
    _ensure_loaded()
    return sorted(_REGISTRY) + [n for n in _finetuned() if n not in _REGISTRY]


def _finetuned() -> dict:
    """``{name: dir}`` of fine-tuned models; never lets a broken folder break the listing."""
    try:
        from geomatch_app.models.checkpoint import list_finetuned

        return list_finetuned()
    except Exception:  # noqa: BLE001 - an unreadable models folder hides nothing built in
        return {}


def _finetuned_info(name: str) -> ModelInfo | None:
    from geomatch_app.models import checkpoint

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
        raise UnknownModelError(
            f"unknown model {name!r}", hint="`geomatch models` lists the available ones"
        ) from None


def get_model(name: str, pretrained: bool = True, **kwargs: Any):
    """Build a registered model, or load a fine-tuned one by folder name or path (its saved
    weights; ``pretrained`` and ``kwargs`` do not apply). Returns a
    :class:`~geomatch_app.models.place.PlaceModel`."""
    _ensure_loaded()
    if name not in _REGISTRY:
        from geomatch_app.models import checkpoint

        model_dir = checkpoint.find_model_dir(name)
        if model_dir is not None:
            return checkpoint.load_model(model_dir)
    return _build_registered(name, pretrained, **kwargs)


def _build_registered(name: str, pretrained: bool = True, **kwargs: Any):
    info = model_info(name)
    model = info.factory(pretrained=pretrained, **kwargs)
    model.name = name
    model.build_kwargs = {"pretrained": pretrained, **kwargs}
    effective = getattr(model, "pretrained_effective", None)
    if effective is not None and bool(effective) != bool(pretrained):
        # asked for pretrained weights that are not available offline: say so in the fingerprint
        model.build_kwargs["pretrained_effective"] = bool(effective)
    return model
