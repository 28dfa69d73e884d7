"""Shared structure of the face-verification data modules.

Training follows DeepID2 (Sun, Wang, Tang, NIPS 2014): identification needs identity labels and
the verification signal needs same-identity pairs inside each batch, so training batches are
drawn identity-balanced (P identities × K images) by :class:`IdentityBalancedSampler`.
Validation and test use labelled pairs with folds (the LFW protocol of specs §9a); every pair
carries its global ``index`` so that the metrics can drop the duplicates Lightning's padded
``DistributedSampler`` introduces.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Callable, Sequence
from typing import Any

from torch.utils.data import DataLoader, Dataset, Sampler, Subset

from lightning_deepvision.datamodules.base import BaseDataModule, KeepKeys
from lightning_deepvision.datasets.samplers import IdentityBalancedSampler
from lightning_deepvision.transforms import face_transforms
from lightning_deepvision.transforms.faces import FaceAugment

#: The entries of an identity sample that verification trains on.
TRAIN_KEYS: tuple[str, ...] = ("image", "label")


class VerificationDataModule(BaseDataModule):
    """Identity-labelled training images plus verification pairs for validation and test.

    Subclasses implement :meth:`build_train_dataset` and :meth:`build_pairs_dataset`; ``predict``
    reads the test pairs. Implements
    :class:`~lightning_deepvision.tasks.verification.ScorerFitData`
    (:meth:`embedding_fit_dataloader`), so Joint Bayesian scoring can be fitted.

    Args:
        input_size: ``(height, width)`` of the network input.
        center_crop_fraction: Centre crop applied before resizing (see ``face_transforms``).
        grayscale: Feed one-channel images.
        identities_per_batch: P, identities per training batch.
        images_per_identity: K, images of each identity per training batch
            (batch size = P × K per process).
        seed: Seed of the training sampler.
        augment: Training augmentation preset of
            :func:`~lightning_deepvision.transforms.face_transforms`: ``"jitter"`` (a small
            crop jitter and the mirror) or ``"strong"`` (crops around the alignment, mirror,
            brightness/contrast jitter, blur: for few training identities).
        **kwargs: Loader options of :class:`BaseDataModule` (``eval_batch_size``,
            ``num_workers``, ``pin_memory``, ``persistent_workers``).
    """

    def __init__(
        self,
        input_size: tuple[int, int] = (55, 47),
        center_crop_fraction: float = 1.0,
        grayscale: bool = False,
        identities_per_batch: int = 32,
        images_per_identity: int = 4,
        seed: int = 0,
        augment: FaceAugment = "jitter",
        **kwargs: Any,
    ) -> None:
        super().__init__(batch_size=identities_per_batch * images_per_identity, **kwargs)
        self.augment: FaceAugment = augment
        self.input_size = (int(input_size[0]), int(input_size[1]))
        self.center_crop_fraction = center_crop_fraction
        self.grayscale = grayscale
        self.identities_per_batch = identities_per_batch
        self.images_per_identity = images_per_identity
        self.seed = seed

    # -- to implement ------------------------------------------------------------------------
    @abstractmethod
    def build_train_dataset(self, transforms: Callable[[Any], Any]) -> Dataset[Any]:
        """Return the identity-labelled training dataset (samples with ``image``, ``label``).

        It must expose ``targets`` (the label of every sample, read without decoding) and
        ``num_classes``.
        """

    @abstractmethod
    def build_pairs_dataset(self, stage: str, transforms: Callable[[Any], Any]) -> Dataset[Any]:
        """Return the pairs dataset of ``stage`` (``"val"`` or ``"test"``)."""

    # -- shared ------------------------------------------------------------------------------
    def image_transforms(self, train: bool) -> Callable[[Any], Any]:
        """The face preprocessing of a sample dict, for training or for evaluation."""
        return face_transforms(
            self.input_size,
            train=train,
            center_crop_fraction=self.center_crop_fraction,
            grayscale=self.grayscale,
            augment=self.augment,
        )

    def sample_transforms(self, train: bool) -> Callable[[Any], Any]:
        """Preprocess identity samples, keeping only ``image`` and ``label``.

        A dataset may carry masks, views and attributes that verification neither needs to
        transform nor to collate.
        """
        return KeepKeys(TRAIN_KEYS, self.image_transforms(train))

    def streaming_transforms(self, stage: str) -> Callable[[Any], Any]:
        """The identity samples' transforms: a stream holds the training identities.

        A stream is read in litdata's shuffled order, not in identity-balanced batches.
        """
        return self.sample_transforms(train=stage == "train")

    def build_dataset(self, stage: str) -> Dataset[Any]:
        """Identities for ``train``, pairs for ``val`` and ``test``, test pairs for ``predict``."""
        if stage == "train":
            return self.build_train_dataset(self.sample_transforms(train=True))
        if stage == "predict":
            return self.dataset("test")
        return self.build_pairs_dataset(stage, self.image_transforms(train=False))

    def predict_files_transform(self) -> Callable[[Any], Any]:
        """The evaluation face preprocessing: images of ``predict_root`` become embeddings."""
        return self.image_transforms(train=False)

    @property
    def num_classes(self) -> int:
        """Number of training identities (the size of the identification softmax)."""
        return int(self.dataset("train").num_classes)  # type: ignore[attr-defined]

    def train_labels(self) -> Sequence[int]:
        """Identity label of every training sample, read without decoding images."""
        return self.dataset("train").targets  # type: ignore[attr-defined]

    def train_sampler(self, dataset: Dataset[Any]) -> Sampler[int]:
        """Identity-balanced batches; the sampler shards batches across processes itself."""
        return IdentityBalancedSampler(
            self.train_labels(),
            identities_per_batch=self.identities_per_batch,
            images_per_identity=self.images_per_identity,
            seed=self.seed,
        )

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
