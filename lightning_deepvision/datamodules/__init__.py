"""LightningDataModules: splits, loaders and per-stage transforms."""

from lightning_deepvision.datamodules.base import (
    BaseDataModule,
    DatasetDataModule,
    KeepKeys,
    default_num_workers,
)
from lightning_deepvision.datamodules.caltech import CaltechDataModule, collate_frames
from lightning_deepvision.datamodules.identity_folder_lfw import (
    FaceVerificationDataModule,
    IdentityFolderLFWDataModule,
)
from lightning_deepvision.datamodules.synthetic_faces import SyntheticFacesDataModule
from lightning_deepvision.datamodules.verification import VerificationDataModule

__all__ = [
    "BaseDataModule",
    "CaltechDataModule",
    "DatasetDataModule",
    "FaceVerificationDataModule",
    "IdentityFolderLFWDataModule",
    "KeepKeys",
    "SyntheticFacesDataModule",
    "VerificationDataModule",
    "collate_frames",
    "default_num_workers",
]
