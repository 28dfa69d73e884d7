"""The classification recipes' default data: procedurally drawn objects, no download needed."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset

from lightning_deepvision.datamodules.base import BaseDataModule
from lightning_deepvision.datamodules.image_folder import ten_crop_transforms
from lightning_deepvision.datasets.synthetic import RenderedFaces
from lightning_deepvision.datasets.synthetic.objects import SHAPES_A, Split, SyntheticObjects
from lightning_deepvision.transforms.classification import classification_transforms

__all__ = ["SyntheticObjectsDataModule"]


def _stack_images(samples: list[dict[str, Any]]) -> Tensor:
    return torch.stack([torch.as_tensor(sample["image"]) for sample in samples])


class SyntheticObjectsDataModule(BaseDataModule):
    """Train, validate and test on :class:`~lightning_deepvision.datasets.SyntheticObjects`.

    The three splits hold different images of the same classes. The preprocessing is the one
    :class:`~lightning_deepvision.datamodules.image_folder.ImageFolderDataModule` applies to
    real images (AlexNet's: random crops of ``image_size`` from the ``resize_size`` square,
    mirrors and PCA colour noise for training, the centre crop or the ten crops for
    evaluation), so a recipe switches between the two data modules without touching the task.

    Args:
        classes: Class names from
            :data:`~lightning_deepvision.datasets.synthetic.objects.OBJECT_CLASSES`, in label
            order (default: the ten of ``SHAPES_A``; ``SHAPES_B`` are the six the transfer
            recipe classifies).
        train_images_per_class: Training images of each class.
        eval_images_per_class: Images of each class in each of the validation and test sets.
        render_size: Side of the rendered (square) images.
        image_size: Side of the network input (the crops).
        resize_size: Side the images are rescaled to before cropping; ``None`` keeps
            ``render_size``.
        augment: Random crops, flips and colour noise for training.
        lighting_std: Standard deviation of the PCA colour noise.
        ten_crop_test: Test on the ten crops (predictions averaged) instead of the centre one.
        seed: Generator seed of the images.
        prerender: Render every image once, when its split is first built (the training set in
            ``num_workers`` processes when there are several), and hold it in memory
            (``3 · render_size²`` bytes an image: 61 MB for 5,000 images at 64) instead of
            re-rendering each image every epoch; loader workers then only run the transforms.
        **kwargs: Loader options of :class:`~lightning_deepvision.datamodules.BaseDataModule`.

    Attributes:
        classes: The class names in label order.
        num_classes: ``len(classes)``, for the task's classifier.
    """

    def __init__(
        self,
        classes: list[str] | None = None,
        train_images_per_class: int = 500,
        eval_images_per_class: int = 100,
        render_size: int = 64,
        image_size: int = 56,
        resize_size: int | None = None,
        augment: bool = True,
        lighting_std: float = 0.1,
        ten_crop_test: bool = False,
        seed: int = 0,
        prerender: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.classes: list[str] = list(SHAPES_A if classes is None else classes)
        self.train_images_per_class = train_images_per_class
        self.eval_images_per_class = eval_images_per_class
        self.render_size = int(render_size)
        self.image_size = int(image_size)
        self.resize_size = self.render_size if resize_size is None else int(resize_size)
        if self.image_size > self.resize_size:
            raise ValueError(
                f"image_size ({self.image_size}) must not exceed resize_size ({self.resize_size})"
            )
        self.augment = augment
        self.lighting_std = lighting_std
        self.ten_crop_test = ten_crop_test
        self.seed = seed
        self.prerender = prerender
        # Checks the class names now rather than when a stage starts.
        self._objects("train", None)

    @property
    def num_classes(self) -> int:
        """Number of classes, for the task's classifier."""
        return len(self.classes)

    def transforms(self, stage: str) -> Callable[[Any], Any]:
        """AlexNet's training augmentation, centre crop, or the ten crops for the test."""
        if stage == "test" and self.ten_crop_test:
            return ten_crop_transforms(self.image_size, self.resize_size)
        return classification_transforms(
            crop_size=self.image_size,
            resize_size=self.resize_size,
            train=stage == "train" and self.augment,
            lighting_std=self.lighting_std,
        )

    def _objects(self, split: str, transforms: Callable[[Any], Any] | None) -> SyntheticObjects:
        count = self.train_images_per_class if split == "train" else self.eval_images_per_class
        return SyntheticObjects(
            split=cast(Split, split),
            images_per_class=count,
            classes=self.classes,
            image_size=(self.render_size, self.render_size),
            seed=self.seed,
            transforms=transforms,
        )

    def build_dataset(self, stage: str) -> Dataset[Any]:
        """The split of ``stage`` (``predict`` reads the test split), pre-rendered per option."""
        split = "test" if stage == "predict" else stage
        transforms = self.transforms(stage)
        if not self.prerender:
            return self._objects(split, transforms)
        plain = self._objects(split, None)
        # One worker would only move the rendering out of this (otherwise idle) process.
        workers = self.num_workers if self.num_workers > 1 and split == "train" else 0
        loader = DataLoader(
            plain,
            batch_size=256,
            num_workers=workers,
            collate_fn=_stack_images,
            # Its own generator: drawing the loader's seed from the global generator would
            # shift every later random draw of the run (rendering draws no global numbers).
            generator=torch.Generator(),
        )
        images = torch.cat(list(loader))
        return RenderedFaces(images, plain.targets, plain.num_classes, transforms)
