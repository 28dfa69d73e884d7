"""ImageNet ILSVRC-2012 classification with AlexNet's training and test pipeline."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

from torch.utils.data import Dataset

from lightning_deepvision.datamodules.image_folder import ImageFolderDataModule
from lightning_deepvision.datasets.imagenet import ImageNet
from lightning_deepvision.transforms.classification import IMAGENET_MEAN, IMAGENET_STD

__all__ = ["ImageNetDataModule"]


class ImageNetDataModule(ImageFolderDataModule):
    """Train on ILSVRC-2012 ``train``, validate (and test) on its 50,000 validation images.

    The images are read by :class:`~lightning_deepvision.datasets.ImageNet` in any of its
    layouts (sorted ``val/<wnid>/``, flat ``val/`` with the devkit, or Kaggle's); the test
    labels were never published, so ``test`` and ``predict`` read the validation set, the set
    on which the paper's ILSVRC-2012 figures are reported (Krizhevsky, Sutskever, Hinton, NIPS
    2012, Table 2). The defaults are the paper's (§2, §4.1): images rescaled to 256×256
    (shorter side, then the centre), random 227×227 crops and their mirrors with PCA colour
    noise (σ = 0.1) for training, the centre crop for validation and, with ``ten_crop_test``,
    the softmax averaged over the four corner and the centre crops and their mirrors.

    Args:
        root: The ImageNet directory (see :class:`~lightning_deepvision.datasets.ImageNet`).
        image_size: Side of the network input (227 for AlexNet; 224 for most timm models).
        resize_size: Side of the square the crops are cut from.
        augment: Random crops, flips and colour noise for training.
        lighting_std: Standard deviation of the PCA colour noise.
        mean: Normalisation mean per channel.
        std: Normalisation standard deviation per channel.
        ten_crop_test: Test on the ten crops, predictions averaged.
        batch_normalize: Colour noise and normalisation per batch on its device, after the
            loader (see :class:`~lightning_deepvision.datamodules.ImageFolderDataModule`). On by
            default here: ImageNet is where the input pipeline limits training (a quarter of
            the bytes through the workers and to the GPU); a loader read outside a ``Trainer``
            then gives ``uint8`` crops, which ``normalize_batch(batch)`` converts.
        **kwargs: Loader options of :class:`~lightning_deepvision.datamodules.BaseDataModule`.
    """

    dataset_class: ClassVar[Callable[..., Dataset[Any]]] = ImageNet

    def __init__(
        self,
        root: str | Path,
        image_size: int = 227,
        resize_size: int | None = 256,
        augment: bool = True,
        lighting_std: float = 0.1,
        mean: tuple[float, float, float] = IMAGENET_MEAN,
        std: tuple[float, float, float] = IMAGENET_STD,
        ten_crop_test: bool = False,
        batch_normalize: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            root=root,
            image_size=image_size,
            resize_size=resize_size,
            augment=augment,
            lighting_std=lighting_std,
            mean=mean,
            std=std,
            ten_crop_test=ten_crop_test,
            batch_normalize=batch_normalize,
            **kwargs,
        )

    def split_of(self, stage: str) -> str:
        """``train`` for training, ``val`` for every evaluation stage (no public test labels)."""
        return "train" if stage == "train" else "val"
