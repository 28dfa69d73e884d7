"""Real data: an identity-folder training set and LFW pairs for evaluation."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

from torch.utils.data import Dataset

from lightning_deepvision.datamodules.verification import VerificationDataModule
from lightning_deepvision.datasets.identity_folder import IdentityFolder
from lightning_deepvision.datasets.identity_pairs import IdentityPairs
from lightning_deepvision.datasets.lfw import LFWPairs

log = logging.getLogger(__name__)

LFWSplit = Literal["10fold", "train", "test"]
#: Validation pairs: an LFW split, or ``"identities"`` (pairs of held-out training identities).
ValSplit = Literal["10fold", "train", "test", "identities"]


class IdentityFolderLFWDataModule(VerificationDataModule):
    """Train on an identity folder ``<train_root>/<identity>/<image>``, verify on LFW pairs.

    A task data module combining two datasets (:class:`IdentityFolder` for training,
    :class:`LFWPairs` for validation and test). This is the DeepID2/DeepID2+ setting (Sun, Wang,
    Tang, NIPS 2014 / CVPR 2015): the nets learn from an outside identity set (CelebFaces+,
    CASIA-WebFace, ...) disjoint from LFW, and are evaluated on LFW's View 2 ``pairs.txt`` with
    the 10-fold protocol ("unrestricted, labeled outside data").

    Args:
        train_root: Root of the identity-folder training set.
        lfw_root: Root holding ``pairs.txt`` (and optionally View 1's ``pairsDevTest.txt``)
            next to ``lfw/``, ``lfw_funneled/`` or ``lfw-deepfunneled/``.
        lfw_image_set: ``"original"``, ``"funneled"`` or ``"deepfunneled"``; ``None`` takes the
            first present.
        val_split: Pairs used for validation (model selection) during ``fit``: ``"test"``
            (View 1 ``pairsDevTest.txt``, LFW's development split), ``"identities"`` (pairs of
            training identities held out from training, ``val_identity_fraction`` of them),
            ``"10fold"`` (View 2, the test pairs: only to reproduce a run that selected on
            them) or ``None``: View 1 when its file is present, else held-out identities (said
            in the log), so that the test pairs never choose the model.
        val_identity_fraction: Fraction of the training identities held out for
            ``val_split="identities"`` (chosen by
            :func:`~lightning_deepvision.datasets.split_identities` with ``seed``).
        val_folds: Folds of the held-out identities' pairs.
        test_split: Pairs used by ``test`` and ``predict`` (View 2 by default).
        center_crop_fraction: Centre crop before resizing; the default suits 250×250 LFW
            images, whose face box was enlarged 2.2 times. Use it for the training set too when
            its images are framed like LFW's, else crop the training set beforehand.
        **kwargs: The options of :class:`VerificationDataModule` (``input_size``,
            ``grayscale``, ``identities_per_batch``, ``images_per_identity``, ``seed``) and the
            loader options (``eval_batch_size``, ``num_workers``, ``pin_memory``,
            ``persistent_workers``).
    """

    def __init__(
        self,
        train_root: str | Path,
        lfw_root: str | Path,
        lfw_image_set: Literal["original", "funneled", "deepfunneled"] | None = None,
        val_split: ValSplit | None = None,
        test_split: LFWSplit = "10fold",
        center_crop_fraction: float = 0.5,
        val_identity_fraction: float = 0.1,
        val_folds: int = 10,
        **kwargs: Any,
    ) -> None:
        super().__init__(center_crop_fraction=center_crop_fraction, **kwargs)
        self.train_root = Path(train_root)
        self.lfw_root = Path(lfw_root)
        self.lfw_image_set = lfw_image_set
        self.val_split = val_split
        self.test_split = test_split
        self.val_identity_fraction = val_identity_fraction
        self.val_folds = val_folds
        self._val_resolved: ValSplit | None = None

    def _identities(self, split: Literal["train", "val"], transforms: Any) -> IdentityFolder:
        return IdentityFolder(
            self.train_root,
            split=split,
            transforms=transforms,
            val_fraction=self.val_identity_fraction,
            split_seed=self.seed,
        )

    def build_train_dataset(self, transforms: Callable[[Any], Any]) -> Dataset[Any]:
        """The identities under ``train_root``, less those held out for validation, if any."""
        if self.resolved_val_split() == "identities":
            return self._identities("train", transforms)
        return IdentityFolder(self.train_root, split="all", transforms=transforms)

    def resolved_val_split(self) -> ValSplit:
        """The validation pairs in use: ``val_split``, or the choice made for ``None``."""
        if self.val_split is not None:
            return self.val_split
        if self._val_resolved is None:
            self._val_resolved = "identities"
            for base in (self.lfw_root, self.lfw_root / "lfw-py"):
                if (base / "pairsDevTest.txt").is_file():
                    self._val_resolved = "test"
            if self._val_resolved == "identities":
                log.info(
                    "no pairsDevTest.txt under %s: validating on pairs of %.0f%% of the training "
                    "identities under %s, held out from training (never on the test pairs)",
                    self.lfw_root,
                    100 * self.val_identity_fraction,
                    self.train_root,
                )
        return self._val_resolved

    def build_pairs_dataset(self, stage: str, transforms: Callable[[Any], Any]) -> Dataset[Any]:
        """Validation pairs per :meth:`resolved_val_split`; LFW pairs of ``test_split``."""
        split = self.resolved_val_split() if stage == "val" else self.test_split
        if split == "identities":
            held_out = self._identities("val", None)
            return IdentityPairs(held_out, transforms, num_folds=self.val_folds, seed=self.seed)
        return LFWPairs(
            self.lfw_root, split=split, image_set=self.lfw_image_set, transforms=transforms
        )


class FaceVerificationDataModule(IdentityFolderLFWDataModule):
    """The earlier name of :class:`IdentityFolderLFWDataModule`.

    A subclass rather than an alias so that ``--data FaceVerificationDataModule`` and configs
    written with it keep working on the command line (LightningCLI resolves short names by
    class name).
    """
