"""LFW attributes for evaluation (LFWA-style), and for training attribute classifiers on LFW."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

from torch import Tensor

from lightning_deepvision.datamodules.base import DatasetDataModule, KeepKeys
from lightning_deepvision.datasets.lfw_attributes import LFWAttributes
from lightning_deepvision.transforms import face_transforms

#: The sample entries the attribute task reads.
ATTRIBUTE_KEYS: tuple[str, ...] = ("image", "attributes", "index")


class LFWAttributesDataModule(DatasetDataModule):
    r"""LFW images with Kumar et al.'s attributes that CelebA shares (LFWA-style).

    Liu, Luo, Wang, Tang, ICCV 2015, evaluate their CelebA-trained nets on LFW (LFWA): 6,263
    images train the attribute classifiers, the rest test. ``train`` reads that first part,
    ``val``, ``test`` and ``predict`` the rest. A CelebA-trained
    :class:`~lightning_deepvision.tasks.AttributesTask` tests on it in one command; the task
    scores the shared attributes, matched by name::

        python recipes/celeba_attributes.py test --ckpt_path CKPT \
            --data LFWAttributesDataModule --data.root LFW_ROOT

    Args:
        root: Folder holding ``lfw_attributes.txt`` and the LFW image folder.
        attribute_names: CelebA names to read (``None``: every shared attribute).
        image_set: LFW image set (``None``: the first found).
        train_images: Rows of the training part (6,263 in the paper).
        input_size: ``(height, width)`` of the network input.
        center_crop_fraction: Centre crop of the 250x250 frames before resizing (their face box
            was enlarged 2.2 times).
        batch_size: Training batch size.
        **kwargs: Loader options of :class:`~lightning_deepvision.datamodules.BaseDataModule`.
    """

    dataset_class = LFWAttributes
    splits = {"train": "train", "val": "test", "test": "test", "predict": "test"}

    def __init__(
        self,
        root: str | Path,
        attribute_names: list[str] | None = None,
        image_set: Literal["original", "funneled", "deepfunneled"] | None = None,
        train_images: int = 6263,
        input_size: tuple[int, int] = (64, 56),
        center_crop_fraction: float = 0.5,
        batch_size: int = 128,
        **kwargs: Any,
    ) -> None:
        super().__init__(root, batch_size=batch_size, **kwargs)
        self.requested_names = attribute_names
        self.image_set = image_set
        self.train_images = train_images
        self.input_size = (int(input_size[0]), int(input_size[1]))
        self.center_crop_fraction = center_crop_fraction

    def dataset_options(self) -> dict[str, Any]:
        """The attribute selection, image set and training part."""
        return {
            "attribute_names": self.requested_names,
            "image_set": self.image_set,
            "train_images": self.train_images,
        }

    def transforms(self, stage: str) -> Callable[[Any], Any]:
        """LFW face crop, resize (and the training augmentations); only the task's keys."""
        preset = face_transforms(
            self.input_size,
            train=stage == "train",
            center_crop_fraction=self.center_crop_fraction,
        )
        return KeepKeys(ATTRIBUTE_KEYS, preset)

    @property
    def attribute_names(self) -> list[str]:
        """The attributes read, in CelebA's order."""
        return list(self._any_dataset().attribute_names)

    @property
    def num_attributes(self) -> int:
        """Number of attributes read."""
        return len(self.attribute_names)

    def attribute_positive_rates(self) -> Tensor:
        """Fraction of training images with each attribute."""
        return self.dataset("train").attributes.float().mean(dim=0)  # type: ignore[attr-defined]

    def _any_dataset(self) -> LFWAttributes:
        built = next(iter(self.datasets.values()), None)
        if isinstance(built, LFWAttributes):
            return built
        return self.dataset("test")  # type: ignore[return-value]
