"""Model library: backbones, pooling heads, attention, losses, heatmaps.

``get_model(name)`` and ``list_models()`` come from :mod:`geomatch_app.models.catalog`.
Importing this package is cheap; torch is imported when a model is built.
"""

from geomatch_app.models.catalog import DEFAULT_MODEL, get_model, list_models, model_info
from geomatch_app.models.registry import ModelInfo

__all__ = ["DEFAULT_MODEL", "ModelInfo", "get_model", "list_models", "model_info"]
