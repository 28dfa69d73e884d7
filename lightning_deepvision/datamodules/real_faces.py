"""A small face-identity set for verification: a user's identity folder, or built-in faces."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from torch.utils.data import ConcatDataset, DataLoader, Dataset, Subset

from lightning_deepvision.datamodules.base import KeepKeys
from lightning_deepvision.datamodules.identity_folder_lfw import IdentityFolderLFWDataModule
from lightning_deepvision.datamodules.verification import TRAIN_KEYS
from lightning_deepvision.datasets.synthetic import SyntheticFacePairs, SyntheticFaces
from lightning_deepvision.transforms import face_transforms
from lightning_deepvision.transforms.faces import FaceAugment


class RealFacesDataModule(IdentityFolderLFWDataModule):
    """Train on a few dozen people, verify pairs of unseen people; built-in faces by default.

    With ``train_root`` and ``lfw_root`` this is :class:`IdentityFolderLFWDataModule` (e.g. 30
    AT&T people for training, LFW-layout pairs of 10 others; validation on pairs of held-out
    training people). Without them it reads the same kind of experiment from the procedural
    :class:`~lightning_deepvision.datasets.synthetic.SyntheticFaces`, so that the recipe runs on
    a fresh machine with nothing to download: ``synthetic_identities`` training people with
    ``synthetic_images_per_identity`` images each, and validation and test pairs of disjoint,
    unseen people (``synthetic_eval_identities`` each, 10 folds).

    Args:
        train_root: Identity folder of the training people; ``None`` (with ``lfw_root``
            ``None``) for the built-in faces.
        lfw_root: LFW-layout pairs of other people (see :class:`IdentityFolderLFWDataModule`).
        synthetic_identities: Training people of the built-in faces.
        synthetic_images_per_identity: Images per built-in training person.
        synthetic_eval_identities: People of the built-in validation and of the test pairs.
        synthetic_pairs_per_fold: Pairs per fold of the built-in pairs (half matched).
        scorer_fit_augment: Augmentation preset of the images a learning scorer (LDA, Joint
            Bayesian) is fitted on, ``None`` for the evaluation transforms. A network trained
            on few people has all but collapsed each of them, so their evaluation-time
            embeddings understate how much a new person's images differ; under ``"strong"``
            augmentation (crops around the alignment, mirror, brightness/contrast, blur) the
            within-person scatter is closer to that of unseen people (AT&T, one seed: PCA-50
            + LDA fitted on 5 augmented passes 0.956, on the plain images 0.919, cosine 0.941).
        scorer_fit_repeats: Augmented passes over the training images for the scorer fit.
        **kwargs: The options of :class:`IdentityFolderLFWDataModule` (``val_split``,
            ``center_crop_fraction``, ``input_size``, ``grayscale``, ``augment``, ...).

    Raises:
        ValueError: If only one of ``train_root`` and ``lfw_root`` is given.
    """

    def __init__(
        self,
        train_root: str | Path | None = None,
        lfw_root: str | Path | None = None,
        synthetic_identities: int = 30,
        synthetic_images_per_identity: int = 10,
        synthetic_eval_identities: int = 20,
        synthetic_pairs_per_fold: int = 60,
        scorer_fit_augment: FaceAugment | None = None,
        scorer_fit_repeats: int = 1,
        **kwargs: Any,
    ) -> None:
        if scorer_fit_repeats < 1:
            raise ValueError(f"scorer_fit_repeats must be >= 1, got {scorer_fit_repeats}")
        if (train_root is None) != (lfw_root is None):
            raise ValueError(
                "give both train_root and lfw_root (a training identity folder and LFW-layout "
                f"pairs of other people), or neither for the built-in faces; got train_root="
                f"{train_root!r}, lfw_root={lfw_root!r}"
            )
        super().__init__(train_root or "", lfw_root or "", **kwargs)
        self.synthetic = train_root is None
        self.synthetic_identities = synthetic_identities
        self.synthetic_images_per_identity = synthetic_images_per_identity
        self.synthetic_eval_identities = synthetic_eval_identities
        self.synthetic_pairs_per_fold = synthetic_pairs_per_fold
        self.scorer_fit_augment: FaceAugment | None = scorer_fit_augment
        self.scorer_fit_repeats = scorer_fit_repeats

    def build_train_dataset(self, transforms: Callable[[Any], Any]) -> Dataset[Any]:
        """The identity folder's training people, or the built-in training faces."""
        if not self.synthetic:
            return super().build_train_dataset(transforms)
        return SyntheticFaces(
            split="train",
            num_identities=self.synthetic_identities,
            images_per_identity=self.synthetic_images_per_identity,
            seed=self.seed,
            transforms=transforms,
        )

    def build_pairs_dataset(self, stage: str, transforms: Callable[[Any], Any]) -> Dataset[Any]:
        """Pairs of unseen people: LFW-layout ones, or built-in ones (validation ≠ test people)."""
        if not self.synthetic:
            return super().build_pairs_dataset(stage, transforms)
        return SyntheticFacePairs(
            split="val" if stage == "val" else "test",
            num_identities=self.synthetic_eval_identities,
            pairs_per_fold=self.synthetic_pairs_per_fold,
            seed=self.seed,
            transforms=transforms,
        )

    def embedding_fit_dataloader(self, max_images: int) -> DataLoader[Any]:
        """Training images for a learning scorer, augmented per ``scorer_fit_augment``.

        Args:
            max_images: At most this many images per pass, spread evenly over the training set.
        """
        if self.scorer_fit_augment is None:
            return super().embedding_fit_dataloader(max_images)
        augmented = face_transforms(
            self.input_size,
            train=True,
            center_crop_fraction=self.center_crop_fraction,
            grayscale=self.grayscale,
            augment=self.scorer_fit_augment,
        )
        dataset = self.build_train_dataset(KeepKeys(TRAIN_KEYS, augmented))
        size = len(dataset)  # type: ignore[arg-type]
        step = max(1, size // max(1, max_images))
        subset = Subset(dataset, range(0, size, step)[:max_images])
        passes: ConcatDataset[Any] = ConcatDataset([subset] * self.scorer_fit_repeats)
        return self.make_loader(passes, batch_size=self.eval_batch_size)
