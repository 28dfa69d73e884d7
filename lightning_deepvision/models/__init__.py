"""Plain ``nn.Module`` models (no Lightning) and the name → builder registry.

Names are imported on first access, so that importing this package stays cheap and never
imports timm (the registry imports it only for a name it does not know itself).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from lightning_deepvision._lazy import lazy_exports

if TYPE_CHECKING:
    from lightning_deepvision.models.alexnet import AlexNet
    from lightning_deepvision.models.anet import ANet, LNet, LNetANet
    from lightning_deepvision.models.deepid import DeepID
    from lightning_deepvision.models.fip import FIP
    from lightning_deepvision.models.joint_bayesian import JointBayesian
    from lightning_deepvision.models.layers import LocallyConnected2d, LocallySharedConv2d
    from lightning_deepvision.models.layers.deformation import DeformationLayer, DefPooling
    from lightning_deepvision.models.layers.response_norm import LocalResponseNorm
    from lightning_deepvision.models.linear_discriminant import LinearDiscriminant
    from lightning_deepvision.models.mlp import MLP, DeepAutoencoder
    from lightning_deepvision.models.mvp import MVP
    from lightning_deepvision.models.parsing import CrossModalityParsingNet, LabelMapAutoencoder
    from lightning_deepvision.models.patch_ensemble import DEEPID2_PATCHES, PatchEnsemble
    from lightning_deepvision.models.registry import (
        create_model,
        list_models,
        model_accepts,
        register_model,
    )
    from lightning_deepvision.models.timm_parsing import TimmParsingNet
    from lightning_deepvision.models.udn import UDN

__all__ = [
    "DEEPID2_PATCHES",
    "FIP",
    "MLP",
    "MVP",
    "UDN",
    "ANet",
    "AlexNet",
    "CrossModalityParsingNet",
    "DeepAutoencoder",
    "DeepID",
    "DefPooling",
    "DeformationLayer",
    "JointBayesian",
    "LNet",
    "LNetANet",
    "LabelMapAutoencoder",
    "LinearDiscriminant",
    "LocalResponseNorm",
    "LocallyConnected2d",
    "LocallySharedConv2d",
    "PatchEnsemble",
    "TimmParsingNet",
    "create_model",
    "list_models",
    "model_accepts",
    "register_model",
]

# name -> sub-module that defines it.
_LAZY = {
    "AlexNet": "alexnet",
    "ANet": "anet",
    "LNet": "anet",
    "LNetANet": "anet",
    "DeepID": "deepid",
    "DefPooling": "layers.deformation",
    "DeformationLayer": "layers.deformation",
    "UDN": "udn",
    "JointBayesian": "joint_bayesian",
    "LinearDiscriminant": "linear_discriminant",
    "MLP": "mlp",
    "DeepAutoencoder": "mlp",
    "CrossModalityParsingNet": "parsing",
    "LabelMapAutoencoder": "parsing",
    "TimmParsingNet": "timm_parsing",
    "LocalResponseNorm": "layers.response_norm",
    "LocallyConnected2d": "layers",
    "LocallySharedConv2d": "layers",
    "DEEPID2_PATCHES": "patch_ensemble",
    "PatchEnsemble": "patch_ensemble",
    "create_model": "registry",
    "list_models": "registry",
    "model_accepts": "registry",
    "register_model": "registry",
    "FIP": "fip",
    "MVP": "mvp",
}


__getattr__, __dir__ = lazy_exports(__name__, _LAZY, __all__)
