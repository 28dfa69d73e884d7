"""Plain ``nn.Module`` models (no Lightning) and the name → builder registry."""

from lightning_deepvision.models.deepid import DeepID
from lightning_deepvision.models.layers import LocallyConnected2d, LocallySharedConv2d
from lightning_deepvision.models.registry import create_model, list_models, register_model

__all__ = [
    "DeepID",
    "LocallyConnected2d",
    "LocallySharedConv2d",
    "create_model",
    "list_models",
    "register_model",
]
