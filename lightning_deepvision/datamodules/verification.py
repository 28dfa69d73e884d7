"""Shared structure of the face-verification data modules.

Training follows DeepID2 (Sun, Wang, Tang, NIPS 2014): identification needs identity labels and
the verification signal needs same-identity pairs inside each batch, so training batches are
drawn identity-balanced (P identities × K images) by :class:`IdentityBalancedSampler`.
Validation and test use labelled pairs with folds (the LFW protocol of specs §9a); every pair
carries its global ``index`` so that the metrics can drop the duplicates Lightning's padded
``DistributedSampler`` introduces.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from typing import Any

from torch.utils.data import DataLoader, Dataset, Subset

from lightning_deepvision.datamodules.base import BaseDataModule
from lightning_deepvision.datasets.samplers import IdentityBalancedSampler
from lightning_deepvision.transforms import face_transforms


class ImageAndLabel:
    """Preprocess a sample's ``image`` and keep only ``image`` and ``label``.

    Args:
        transform: The image preprocessing.
    """

    def __init__(self, transform: Callable[[Any], Any]) -> None:
        self.transform = transform

    def __call__(self, sample: dict[str, Any]) -> dict[str, Any]:
        """Return ``{"image": transform(image), "label": label}``."""
        return {"image": self.transform(sample["image"]), "label": sample["label"]}


class VerificationDataModule(BaseDataModule, ABC):
    """Identity-labelled training images plus verification pairs for validation and test.

    Subclasses implement :meth:`build_train_dataset` and :meth:`build_pairs_dataset`.

    Args:
        input_size: ``(height, width)`` of the network input.
        center_crop_fraction: Centre crop applied before resizing (see ``face_transforms``).
        grayscale: Feed one-channel images.
        identities_per_batch: P, identities per training batch.
        images_per_identity: K, images of each identity per training batch
            (batch size = P × K per process).
        eval_batch_size: Pairs per evaluation batch.
        num_workers: Loader workers (``None``: half the CPUs).
        pin_memory: Pin host memory (``None``: only with CUDA).
        persistent_workers: Keep workers between epochs.
        seed: Seed of the training sampler.
    """

    def __init__(
        self,
        input_size: tuple[int, int] = (55, 47),
        center_crop_fraction: float = 1.0,
        grayscale: bool = False,
        identities_per_batch: int = 32,
        images_per_identity: int = 4,
        eval_batch_size: int = 256,
        num_workers: int | None = None,
        pin_memory: bool | None = None,
        persistent_workers: bool = True,
        seed: int = 0,
    ) -> None:
        super().__init__(
            batch_size=identities_per_batch * images_per_identity,
            eval_batch_size=eval_batch_size,
            num_workers=num_workers,
            pin_memory=pin_memory,
            persistent_workers=persistent_workers,
        )
        self.input_size = (int(input_size[0]), int(input_size[1]))
        self.center_crop_fraction = center_crop_fraction
        self.grayscale = grayscale
        self.identities_per_batch = identities_per_batch
        self.images_per_identity = images_per_identity
        self.seed = seed
        self.train_dataset: Dataset[Any] | None = None
        self.val_dataset: Dataset[Any] | None = None
        self.test_dataset: Dataset[Any] | None = None

    # -- to implement ------------------------------------------------------------------------
    @abstractmethod
    def build_train_dataset(self, transforms: Callable[[Any], Any]) -> Dataset[Any]:
        """Return the identity-labelled training dataset (samples with ``image``, ``label``)."""

    @abstractmethod
    def build_pairs_dataset(self, stage: str, transforms: Callable[[Any], Any]) -> Dataset[Any]:
        """Return the pairs dataset of ``stage`` (``"val"`` or ``"test"``)."""

    # -- shared ------------------------------------------------------------------------------
    def image_transforms(self, train: bool) -> Callable[[Any], Any]:
        """The face preprocessing of one image, for training or for evaluation."""
        return face_transforms(
            self.input_size,
            train=train,
            center_crop_fraction=self.center_crop_fraction,
            grayscale=self.grayscale,
        )

    def sample_transforms(self, train: bool) -> Callable[[Any], Any]:
        """Preprocess identity samples, keeping only ``image`` and ``label``.

        A dataset may carry masks, views and attributes that verification neither needs to
        transform nor to collate.
        """
        return ImageAndLabel(self.image_transforms(train))

    @property
    def num_classes(self) -> int:
        """Number of training identities (the size of the identification softmax)."""
        if self.train_dataset is None:
            self.train_dataset = self.build_train_dataset(self.sample_transforms(train=True))
        return int(self.train_dataset.num_classes)  # type: ignore[attr-defined]

    def train_labels(self) -> Sequence[int]:
        """Identity label of every training sample, read without decoding images."""
        if self.train_dataset is None:
            self.train_dataset = self.build_train_dataset(self.sample_transforms(train=True))
        return self.train_dataset.targets  # type: ignore[attr-defined]

    def setup(self, stage: str) -> None:
        """Build the datasets the stage needs (lazily: no image is decoded here)."""
        if stage == "fit" and self.train_dataset is None:
            self.train_dataset = self.build_train_dataset(self.sample_transforms(train=True))
        if stage in ("fit", "validate") and self.val_dataset is None:
            self.val_dataset = self.build_pairs_dataset("val", self.image_transforms(train=False))
        if stage in ("test", "predict") and self.test_dataset is None:
            self.test_dataset = self.build_pairs_dataset("test", self.image_transforms(train=False))

    def train_dataloader(self) -> DataLoader[Any]:
        """Identity-balanced batches; the sampler shards batches across processes itself."""
        labels = self.train_labels()
        sampler = IdentityBalancedSampler(
            labels,
            identities_per_batch=self.identities_per_batch,
            images_per_identity=self.images_per_identity,
            seed=self.seed,
        )
        assert self.train_dataset is not None
        return self.make_loader(
            self.train_dataset, batch_size=self.batch_size, sampler=sampler, drop_last=True
        )

    def val_dataloader(self) -> DataLoader[Any]:
        """Verification pairs of the validation set."""
        assert self.val_dataset is not None, "call setup('fit') or setup('validate') first"
        return self.make_loader(self.val_dataset, batch_size=self.eval_batch_size)

    def test_dataloader(self) -> DataLoader[Any]:
        """Verification pairs of the test set."""
        assert self.test_dataset is not None, "call setup('test') first"
        return self.make_loader(self.test_dataset, batch_size=self.eval_batch_size)

    def embedding_fit_dataloader(self, max_images: int) -> DataLoader[Any]:
        """Training images with evaluation transforms, to fit a verifier (Joint Bayesian).

        Args:
            max_images: At most this many images, spread evenly over the training set.
        """
        dataset = self.build_train_dataset(self.sample_transforms(train=False))
        size = len(dataset)  # type: ignore[arg-type]
        step = max(1, size // max(1, max_images))
        subset = Subset(dataset, range(0, size, step)[:max_images])
        return self.make_loader(subset, batch_size=self.eval_batch_size)

    def predict_dataloader(self) -> DataLoader[Any]:
        """The test pairs: ``predict`` returns both embeddings and the score of each pair."""
        return self.test_dataloader()
