"""torchvision-style registry: ``@register_model(name, ...)`` on a small constructor.

The registry holds metadata only; torch is imported by the constructors. Looking models up by
name — built-in or fine-tuned — is :mod:`geomatch_app.models.catalog` (``get_model``,
``list_models``, ``model_info``), so this module never imports ``checkpoint`` (which imports it).
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


def unknown_model(name: str) -> UnknownModelError:
    return UnknownModelError(f"unknown model {name!r}",
                             hint="`geomatch models` lists the available ones")


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


def _build_registered(name: str, pretrained: bool = True, **kwargs: Any):
    _ensure_loaded()
    try:
        info = _REGISTRY[name]
    except KeyError:
        raise unknown_model(name) from None
    model = info.factory(pretrained=pretrained, **kwargs)
    model.name = name
    model.build_kwargs = {"pretrained": pretrained, **kwargs}
    effective = getattr(model, "pretrained_effective", None)
    if effective is not None and bool(effective) != bool(pretrained):
        # asked for pretrained weights that are not available offline: say so in the fingerprint
        model.build_kwargs["pretrained_effective"] = bool(effective)
    return model
