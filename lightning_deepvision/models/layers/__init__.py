"""Reusable layers of the DeepID-era models (locally connected and locally shared convolutions)."""

from lightning_deepvision.models.layers._filter_bank import RegionFilterBank
from lightning_deepvision.models.layers.locally_connected import LocallyConnected2d
from lightning_deepvision.models.layers.locally_shared import LocallySharedConv2d

__all__ = ["LocallyConnected2d", "LocallySharedConv2d", "RegionFilterBank"]
