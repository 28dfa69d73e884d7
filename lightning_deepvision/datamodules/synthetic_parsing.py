"""The face-parsing recipe's default data: SyntheticFaces' HELEN-style part masks."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, cast

import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset

from lightning_deepvision.datamodules.base import BaseDataModule, KeepKeys
from lightning_deepvision.datamodules.parsing import PARSING_KEYS
from lightning_deepvision.datasets.face_parts import HELEN_LABELS
from lightning_deepvision.datasets.parsing_masks import MaskedImages
from lightning_deepvision.datasets.synthetic import SyntheticFaces
from lightning_deepvision.datasets.synthetic.faces import Split
from lightning_deepvision.transforms.faces import FACE_MEAN, FACE_STD
from lightning_deepvision.transforms.parsing import parsing_transforms

__all__ = ["SyntheticParsingDataModule"]


def _stack(samples: list[dict[str, Any]]) -> tuple[Tensor, Tensor]:
    images = torch.stack([torch.as_tensor(s["image"]) for s in samples])
    masks = torch.stack([torch.as_tensor(s["mask"]) for s in samples])
    return images, masks


class SyntheticParsingDataModule(BaseDataModule):
    """Parse :class:`~lightning_deepvision.datasets.SyntheticFaces` into HELEN's 11 labels.

    Train, validation and test faces are of disjoint people (the synthetic splits), rendered
    with pose, expression, occlusion and clutter, so the scores measure parsing of unseen
    faces. The pipeline is the one of the HELEN and LFW Part Labels data modules (random
    crops and mirrors with left/right classes swapped for training).

    Args:
        train_images: Training faces (``images_per_identity`` per person).
        eval_images: Faces of each of the validation and test sets.
        images_per_identity: Images rendered per person.
        image_size: ``(height, width)`` rendered, and the network input.
        augment: Random crops and mirrors for training.
        scale_jitter: Relative area range of the training crops.
        seed: Generator seed of the faces.
        prerender: Render every face once, when its split is first built (the training set in
            ``num_workers`` processes when there are several), and hold images and masks in
            memory (``4 · H · W`` bytes plus the int64 mask per face) instead of re-rendering
            them every epoch. Pre-rendered samples also carry their ``index``.
        mean: Normalisation mean per channel.
        std: Normalisation std per channel.
        **kwargs: Loader options of :class:`~lightning_deepvision.datamodules.BaseDataModule`.

    Attributes:
        class_names: :data:`~lightning_deepvision.datasets.face_parts.HELEN_LABELS`.
        num_classes: 11.
    """

    class_names: tuple[str, ...] = HELEN_LABELS

    def __init__(
        self,
        train_images: int = 2000,
        eval_images: int = 400,
        images_per_identity: int = 10,
        image_size: tuple[int, int] = (64, 56),
        augment: bool = True,
        scale_jitter: float = 0.1,
        seed: int = 0,
        prerender: bool = True,
        mean: Sequence[float] = FACE_MEAN,
        std: Sequence[float] = FACE_STD,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if min(train_images, eval_images, images_per_identity) < 1:
            raise ValueError(
                "train_images, eval_images and images_per_identity must be positive, got "
                f"{train_images}, {eval_images}, {images_per_identity}"
            )
        self.train_images = train_images
        self.eval_images = eval_images
        self.images_per_identity = images_per_identity
        self.image_size = (int(image_size[0]), int(image_size[1]))
        self.augment = augment
        self.scale_jitter = scale_jitter
        self.seed = seed
        self.prerender = prerender
        self.mean = tuple(mean)
        self.std = tuple(std)

    @property
    def num_classes(self) -> int:
        """Number of mask labels (11)."""
        return len(self.class_names)

    def transforms(self, stage: str) -> Callable[[Any], Any]:
        """Joint crop + mirror for training, a resize otherwise."""
        return parsing_transforms(
            self.image_size,
            train=stage == "train" and self.augment,
            class_names=self.class_names,
            scale_jitter=self.scale_jitter,
            mean=self.mean,
            std=self.std,
        )

    def faces(self, split: str, transforms: Callable[[Any], Any] | None) -> SyntheticFaces:
        """The split's faces (whole people, at least the requested number of images)."""
        count = self.train_images if split == "train" else self.eval_images
        people = -(-count // self.images_per_identity)
        return SyntheticFaces(
            split=cast(Split, split),
            num_identities=people,
            images_per_identity=self.images_per_identity,
            image_size=self.image_size,
            seed=self.seed,
            transforms=transforms,
        )

    def build_dataset(self, stage: str) -> Dataset[Any]:
        """The split of ``stage`` (``predict`` reads the test faces), pre-rendered per option."""
        split = "test" if stage == "predict" else stage
        transforms = self.transforms(stage)
        if not self.prerender:
            return self.faces(split, KeepKeys(("image", "mask"), transforms))
        # One worker would only move the rendering out of this (otherwise idle) process.
        workers = self.num_workers if self.num_workers > 1 and split == "train" else 0
        loader = DataLoader(
            self.faces(split, KeepKeys(("image", "mask"))),
            batch_size=256,
            num_workers=workers,
            collate_fn=_stack,
            # Its own generator: the global one's state must not depend on this pre-render.
            generator=torch.Generator(),
        )
        images, masks = (torch.cat(parts) for parts in zip(*loader, strict=True))
        return MaskedImages(images, masks, KeepKeys(PARSING_KEYS, transforms))
