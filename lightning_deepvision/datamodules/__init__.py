"""LightningDataModules: splits, loaders and per-stage transforms."""

from lightning_deepvision.datamodules.base import (
    BaseDataModule,
    DatasetDataModule,
    KeepKeys,
    default_num_workers,
)
from lightning_deepvision.datamodules.identity_folder_lfw import (
    FaceVerificationDataModule,
    IdentityFolderLFWDataModule,
)
from lightning_deepvision.datamodules.synthetic_faces import SyntheticFacesDataModule
from lightning_deepvision.datamodules.verification import VerificationDataModule

__all__ = [
    "BaseDataModule",
    "DatasetDataModule",
    "FaceVerificationDataModule",
    "IdentityFolderLFWDataModule",
    "KeepKeys",
    "SyntheticFacesDataModule",
    "VerificationDataModule",
    "default_num_workers",
]
