"""Classification data from any ``root/<split>/<class>/<image>`` tree, with AlexNet's pipeline."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, ClassVar, cast

import torch
from torch.utils.data import Dataset
from torchvision.transforms import v2

from lightning_deepvision.datamodules.base import STAGES, DatasetDataModule
from lightning_deepvision.datasets.image_folder import ImageFolderDataset
from lightning_deepvision.transforms.classification import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    classification_transforms,
)
from lightning_deepvision.transforms.classification_batch import (
    NormalizeBatch,
    collate_channels_last,
)

__all__ = ["ImageFolderDataModule", "StackCrops", "ten_crop_transforms"]


class StackCrops:
    """Turn the tuple of crops that ``v2.TenCrop`` leaves in ``sample["image"]`` into a tensor.

    The image becomes ``(N, C, H, W)`` and a batch ``(B, N, C, H, W)``, which
    :class:`~lightning_deepvision.tasks.ClassificationTask` evaluates by averaging the softmax
    over the crops.
    """

    def __call__(self, sample: dict[str, Any]) -> dict[str, Any]:
        """Return ``sample`` with its crops stacked."""
        return {**sample, "image": torch.stack(list(sample["image"]))}

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


def ten_crop_transforms(
    crop_size: int,
    resize_size: int,
    mean: Sequence[float] = IMAGENET_MEAN,
    std: Sequence[float] = IMAGENET_STD,
    batch_normalize: bool = False,
) -> v2.Compose:
    """AlexNet's test-time crops (Krizhevsky et al., NIPS 2012, §4.1).

    "At test time, the network makes a prediction by extracting five 224×224 patches (the four
    corner patches and the center patch) as well as their horizontal reflections (hence ten
    patches in all), and averaging the predictions made by the network's softmax layer on the
    ten patches." The image is rescaled and centre-cropped to ``resize_size`` and normalised as
    in :func:`~lightning_deepvision.transforms.classification_transforms`, then cut into the ten
    ``crop_size`` patches, stacked along a new first axis; with ``batch_normalize`` they stay
    ``uint8`` for :class:`~lightning_deepvision.transforms.classification_batch.NormalizeBatch`.
    """
    square = classification_transforms(
        crop_size=resize_size,
        resize_size=resize_size,
        train=False,
        mean=mean,
        std=std,
        batch_normalize=batch_normalize,
    )
    return v2.Compose([square, v2.TenCrop(crop_size), StackCrops()])


class ImageFolderDataModule(DatasetDataModule):
    """Classify any ``root/train/<class>/*``, ``root/val/<class>/*`` tree (``root/test`` optional).

    Images (jpg, png, pgm, ...; grey ones become 3-channel) are read by
    :class:`~lightning_deepvision.datasets.image_folder.ImageFolderDataset`; the test (and
    predict) stage reads ``root/test`` when it exists and ``root/val`` otherwise. The
    preprocessing is AlexNet's (Krizhevsky et al., NIPS 2012; see
    :func:`~lightning_deepvision.transforms.classification_transforms`): the shorter side
    rescaled to ``resize_size`` and the central square kept; training takes random
    ``image_size`` crops, mirrors and PCA colour noise, evaluation the centre crop, and the
    optional ten-crop test averages the softmax over :func:`ten_crop_transforms`.

    Args:
        root: The directory holding ``train/``, ``val/`` and optionally ``test/``.
        image_size: Side of the network input (the crops).
        resize_size: Side of the square the crops are cut from; ``None`` takes
            ``image_size · 8 / 7`` (224 → 256, the paper's ratio).
        augment: Random crops, flips and colour noise for training (else the evaluation
            transform; turn it off for data a mirror changes, such as digits).
        lighting_std: Standard deviation of the PCA colour noise (0.1 in the paper; 0: none).
        mean: Normalisation mean per channel.
        std: Normalisation standard deviation per channel.
        ten_crop_test: Test on the ten crops (predictions averaged) instead of the centre one.
        batch_normalize: The loaders give ``uint8`` crops (with each training image's colour
            shift in ``batch["lighting"]``), and :meth:`on_after_batch_transfer` turns them
            into the normalised ``float32`` input on the batch's device (see
            :mod:`~lightning_deepvision.transforms.classification_batch`): the same input to
            float rounding, a quarter of the bytes between loader workers and to the GPU, and
            no float arithmetic in the workers. A loader read outside a ``Trainer`` then gives
            ``uint8`` images; :attr:`normalize_batch` converts them.
        **kwargs: Loader options of :class:`~lightning_deepvision.datamodules.BaseDataModule`.

    Attributes:
        classes: Class names in label order (read from the first split indexed).
        num_classes: ``len(classes)``, for the task's classifier.
        normalize_batch: The batch step of ``batch_normalize`` (``None`` without it).
    """

    dataset_class: ClassVar[Callable[..., Dataset[Any]]] = ImageFolderDataset

    def __init__(
        self,
        root: str | Path,
        image_size: int = 224,
        resize_size: int | None = None,
        augment: bool = True,
        lighting_std: float = 0.1,
        mean: tuple[float, float, float] = IMAGENET_MEAN,
        std: tuple[float, float, float] = IMAGENET_STD,
        ten_crop_test: bool = False,
        batch_normalize: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(root=root, **kwargs)
        self.image_size = int(image_size)
        self.resize_size = (
            round(self.image_size * 8 / 7) if resize_size is None else int(resize_size)
        )
        if self.image_size > self.resize_size:
            raise ValueError(
                f"image_size ({self.image_size}) must not exceed resize_size ({self.resize_size})"
            )
        self.augment = augment
        self.lighting_std = lighting_std
        self.mean = tuple(mean)
        self.std = tuple(std)
        self.ten_crop_test = ten_crop_test
        self.batch_normalize = batch_normalize
        self.normalize_batch = NormalizeBatch(self.mean, self.std) if batch_normalize else None

    def split_of(self, stage: str) -> str:
        """The split folder a stage reads: ``test`` (and predict) fall back to ``val``."""
        if stage in ("test", "predict"):
            return "test" if (self.root / "test").is_dir() else "val"
        return stage

    def build_dataset(self, stage: str) -> Dataset[Any]:
        """``dataset_class(root, split=split_of(stage), transforms=transforms(stage))``."""
        if stage not in STAGES:
            raise ValueError(f"stage must be one of {STAGES}, got {stage!r}")
        return self.dataset_class(
            self.root,
            split=self.split_of(stage),
            transforms=self.transforms(stage),
            **self.dataset_options(),
        )

    def transforms(self, stage: str) -> Callable[[Any], Any]:
        """AlexNet's training augmentation, centre crop, or the ten crops for the test."""
        if stage == "test" and self.ten_crop_test:
            return ten_crop_transforms(
                self.image_size, self.resize_size, self.mean, self.std, self.batch_normalize
            )
        return classification_transforms(
            crop_size=self.image_size,
            resize_size=self.resize_size,
            train=stage == "train" and self.augment,
            mean=self.mean,
            std=self.std,
            lighting_std=self.lighting_std,
            batch_normalize=self.batch_normalize,
        )

    def collate_fn(self, stage: str) -> Callable[[list[Any]], Any] | None:
        """With ``batch_normalize``, ``uint8`` crops stacked as they lie (channels-last)."""
        return collate_channels_last if self.batch_normalize else None

    def on_after_batch_transfer(self, batch: Any, dataloader_idx: int) -> Any:
        """With ``batch_normalize``, the ``uint8`` batch to the network input, on its device."""
        return batch if self.normalize_batch is None else self.normalize_batch(batch)

    @property
    def classes(self) -> list[str]:
        """Class names in label order, from a split already indexed (else ``val``)."""
        built = next((self.datasets[s] for s in STAGES if s in self.datasets), None)
        dataset = built if built is not None else self.dataset("val")
        return list(cast(Any, dataset).classes)

    @property
    def num_classes(self) -> int:
        """Number of classes, for the task's classifier."""
        return len(self.classes)
