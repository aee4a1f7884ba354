"""Model library: backbones, pooling heads, attention, losses, heatmaps.

``get_model(name)`` and ``list_models()`` come from :mod:`geomatch_app.models.registry`.
Importing this package is cheap; torch is imported when a model is built.
"""

from geomatch_app.models.registry import ModelInfo, get_model, list_models, model_info

__all__ = ["ModelInfo", "get_model", "list_models", "model_info"]
