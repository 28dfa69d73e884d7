"""LightningDataModules: splits, loaders and per-stage transforms."""

from lightning_deepvision.datamodules.base import (
    BaseDataModule,
    DatasetDataModule,
    KeepKeys,
    default_num_workers,
)
from lightning_deepvision.datamodules.caltech import CaltechDataModule, collate_frames
from lightning_deepvision.datamodules.celeba import CelebADataModule
from lightning_deepvision.datamodules.digits import DigitsDataModule
from lightning_deepvision.datamodules.helen import HelenDataModule
from lightning_deepvision.datamodules.identity_folder_lfw import (
    FaceVerificationDataModule,
    IdentityFolderLFWDataModule,
)
from lightning_deepvision.datamodules.image_folder import ImageFolderDataModule
from lightning_deepvision.datamodules.imagenet import ImageNetDataModule
from lightning_deepvision.datamodules.lfw_attributes import LFWAttributesDataModule
from lightning_deepvision.datamodules.lfw_parts import LFWPartsDataModule
from lightning_deepvision.datamodules.multipie import MultiPIEDataModule
from lightning_deepvision.datamodules.parsing import ParsingDataModule
from lightning_deepvision.datamodules.real_faces import RealFacesDataModule
from lightning_deepvision.datamodules.synthetic_attributes import SyntheticAttributesDataModule
from lightning_deepvision.datamodules.synthetic_faces import SyntheticFacesDataModule
from lightning_deepvision.datamodules.synthetic_multiview import SyntheticMultiViewDataModule
from lightning_deepvision.datamodules.synthetic_objects import SyntheticObjectsDataModule
from lightning_deepvision.datamodules.synthetic_parsing import SyntheticParsingDataModule
from lightning_deepvision.datamodules.synthetic_pedestrians import SyntheticPedestriansDataModule
from lightning_deepvision.datamodules.verification import VerificationDataModule

__all__ = [
    "BaseDataModule",
    "CaltechDataModule",
    "CelebADataModule",
    "DatasetDataModule",
    "DigitsDataModule",
    "FaceVerificationDataModule",
    "HelenDataModule",
    "IdentityFolderLFWDataModule",
    "ImageFolderDataModule",
    "ImageNetDataModule",
    "KeepKeys",
    "LFWAttributesDataModule",
    "LFWPartsDataModule",
    "MultiPIEDataModule",
    "ParsingDataModule",
    "RealFacesDataModule",
    "SyntheticAttributesDataModule",
    "SyntheticFacesDataModule",
    "SyntheticMultiViewDataModule",
    "SyntheticObjectsDataModule",
    "SyntheticParsingDataModule",
    "SyntheticPedestriansDataModule",
    "VerificationDataModule",
    "collate_frames",
    "default_num_workers",
]
