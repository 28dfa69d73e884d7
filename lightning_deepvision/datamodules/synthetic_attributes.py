"""The attribute recipe's default data: :class:`SyntheticFaces` images and their attributes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset
from torchvision import tv_tensors
from torchvision.transforms import v2

from lightning_deepvision.datamodules.base import BaseDataModule, KeepKeys
from lightning_deepvision.datasets.synthetic import ATTRIBUTE_NAMES, SyntheticFaces
from lightning_deepvision.transforms import face_transforms
from lightning_deepvision.transforms.face_boxes import FaceBox

#: The sample entries the attribute task reads.
ATTRIBUTE_KEYS: tuple[str, ...] = ("image", "attributes")


class AttributeTensors(Dataset[dict[str, Any]]):
    """Images and attributes held in memory (``image`` uint8 ``(N, C, H, W)``, ``attributes``).

    Args:
        images: ``uint8`` ``(N, C, H, W)``.
        attributes: ``(N, A)`` 0/1.
        transforms: Applied to each sample dict.
    """

    def __init__(
        self, images: Tensor, attributes: Tensor, transforms: Callable[[Any], Any] | None = None
    ) -> None:
        if len(images) != len(attributes):
            raise ValueError(f"{len(images)} images but {len(attributes)} attribute rows")
        self.images = images
        self.attributes = attributes
        self.transforms = transforms

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> dict[str, Any]:
        sample = {
            "image": tv_tensors.Image(self.images[index]),
            "attributes": self.attributes[index],
        }
        return self.transforms(sample) if self.transforms is not None else sample


def render_attributes(faces: SyntheticFaces, num_workers: int = 0) -> tuple[Tensor, Tensor]:
    """Render every face of ``faces`` once: ``(images uint8 (N,3,H,W), attributes (N, A))``."""
    plain = SyntheticFaces(
        faces.split,  # type: ignore[arg-type]
        faces.num_identities,
        faces.images_per_identity,
        faces.image_size,
        faces.seed,
        transforms=KeepKeys(ATTRIBUTE_KEYS),
    )
    # Its own generator: the loader's base seed must not consume the global random state.
    loader = DataLoader(plain, batch_size=256, num_workers=num_workers, generator=torch.Generator())
    batches = list(loader)
    return torch.cat([b["image"] for b in batches]), torch.cat([b["attributes"] for b in batches])


class SyntheticAttributesDataModule(BaseDataModule):
    """Attribute-labelled :class:`SyntheticFaces`: train, val and test on disjoint people.

    The built-in stand-in for CelebA's attribute task (Liu, Luo, Wang, Tang, ICCV 2015): each
    face carries the binary :data:`~lightning_deepvision.datasets.synthetic.ATTRIBUTE_NAMES`
    its renderer drew (``Male``, ``Bangs``, ``Smiling``, ``Eyeglasses``, ...), some fixed per
    person and some per image. As in the paper's split, the evaluation people never appear in
    training.

    Args:
        num_train_identities: People in training.
        images_per_train_identity: Images per training person.
        num_eval_identities: People in each of validation and test.
        images_per_eval_identity: Images per evaluation person.
        image_size: ``(height, width)`` of the rendered faces.
        input_size: ``(height, width)`` of the network input.
        seed: Generator seed.
        prerender: Render every image once, when its split is first built, and hold it in
            memory (``3·H·W`` bytes an image), rather than re-render it each epoch.
        batch_size: Training batch size.
        **kwargs: Loader options of :class:`BaseDataModule` (``eval_batch_size``,
            ``num_workers``, ``pin_memory``, ``persistent_workers``).
    """

    def __init__(
        self,
        num_train_identities: int = 500,
        images_per_train_identity: int = 10,
        num_eval_identities: int = 100,
        images_per_eval_identity: int = 10,
        image_size: tuple[int, int] = (64, 56),
        input_size: tuple[int, int] = (64, 56),
        seed: int = 0,
        prerender: bool = True,
        batch_size: int = 64,
        **kwargs: Any,
    ) -> None:
        super().__init__(batch_size=batch_size, **kwargs)
        self.num_train_identities = num_train_identities
        self.images_per_train_identity = images_per_train_identity
        self.num_eval_identities = num_eval_identities
        self.images_per_eval_identity = images_per_eval_identity
        self.image_size = (int(image_size[0]), int(image_size[1]))
        self.input_size = (int(input_size[0]), int(input_size[1]))
        self.seed = seed
        self.prerender = prerender

    @property
    def num_attributes(self) -> int:
        """Number of attributes."""
        return len(ATTRIBUTE_NAMES)

    @property
    def attribute_names(self) -> list[str]:
        """The attribute names, in column order."""
        return list(ATTRIBUTE_NAMES)

    def faces(self, split: str) -> SyntheticFaces:
        """The people of ``split`` (no transforms)."""
        train = split == "train"
        return SyntheticFaces(
            split=split,  # type: ignore[arg-type]
            num_identities=self.num_train_identities if train else self.num_eval_identities,
            images_per_identity=(
                self.images_per_train_identity if train else self.images_per_eval_identity
            ),
            image_size=self.image_size,
            seed=self.seed,
        )

    def build_dataset(self, stage: str) -> Dataset[Any]:
        """Training, validation or test faces (``predict`` reads the test faces)."""
        split = "test" if stage == "predict" else stage
        transforms = KeepKeys(
            ATTRIBUTE_KEYS, face_transforms(self.input_size, train=stage == "train")
        )
        faces = self.faces(split)
        if not self.prerender:
            faces.transforms = transforms
            return faces
        workers = self.num_workers if self.num_workers > 1 else 0
        images, attributes = render_attributes(faces, num_workers=workers)
        return AttributeTensors(images, attributes, transforms)

    def face_window_dataset(self, split: str = "val") -> Dataset[Any]:
        """``split``'s faces preprocessed for evaluation, each with its face ``boxes``.

        The box spans the face parts of the rendered parsing mask
        (:class:`~lightning_deepvision.transforms.face_boxes.FaceBox`): the reference LNet's
        face-window threshold is chosen against
        (:class:`~lightning_deepvision.callbacks.FaceWindowThreshold`).
        """
        faces = self.faces(split)
        faces.transforms = KeepKeys(
            ("image", "mask"),
            v2.Compose([face_transforms(self.input_size, train=False), FaceBox()]),
        )
        return faces

    def predict_files_transform(self) -> Callable[[Any], Any]:
        """The evaluation face preprocessing, for the images of ``predict_root``."""
        return face_transforms(self.input_size, train=False)

    def attribute_positive_rates(self) -> Tensor:
        """Fraction of training images with each attribute (for ``balance_positives``)."""
        dataset = self.dataset("train")
        if isinstance(dataset, AttributeTensors):
            return dataset.attributes.float().mean(dim=0)
        _, attributes = render_attributes(self.faces("train"))
        return attributes.float().mean(dim=0)
