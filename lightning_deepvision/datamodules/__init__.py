"""LightningDataModules: splits, loaders and per-stage transforms."""

from lightning_deepvision.datamodules.base import BaseDataModule, default_num_workers
from lightning_deepvision.datamodules.face_verification import FaceVerificationDataModule
from lightning_deepvision.datamodules.synthetic_faces import SyntheticFacesDataModule
from lightning_deepvision.datamodules.verification import VerificationDataModule

__all__ = [
    "BaseDataModule",
    "FaceVerificationDataModule",
    "SyntheticFacesDataModule",
    "VerificationDataModule",
    "default_num_workers",
]
