"""Reusable layers of the DeepID-era models (locally connected and locally shared convolutions)."""

from lightning_deepvision.models.layers._filter_bank import RegionFilterBank
from lightning_deepvision.models.layers.autoencoder import AutoencoderLayer
from lightning_deepvision.models.layers.deformation import DeformationLayer, DefPooling
from lightning_deepvision.models.layers.locally_connected import LocallyConnected2d
from lightning_deepvision.models.layers.locally_shared import LocallySharedConv2d
from lightning_deepvision.models.layers.rbm import RBM, BernoulliRBM, GaussianBernoulliRBM

__all__ = [
    "RBM",
    "AutoencoderLayer",
    "BernoulliRBM",
    "DefPooling",
    "DeformationLayer",
    "GaussianBernoulliRBM",
    "LocallyConnected2d",
    "LocallySharedConv2d",
    "RegionFilterBank",
]
