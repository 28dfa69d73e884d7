"""Real data: an identity-folder training set and LFW pairs for evaluation."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

from torch.utils.data import Dataset

from lightning_deepvision.datamodules.verification import VerificationDataModule
from lightning_deepvision.datasets.identity_folder import IdentityFolder
from lightning_deepvision.datasets.lfw import LFWPairs

log = logging.getLogger(__name__)

LFWSplit = Literal["10fold", "train", "test"]


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
        val_split: Pairs used for validation during ``fit``: ``"test"`` (View 1
            ``pairsDevTest.txt``, LFW's development split), ``"10fold"`` (View 2) or ``None``
            for View 1 when its file is present and View 2 otherwise.
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
        val_split: LFWSplit | None = None,
        test_split: LFWSplit = "10fold",
        center_crop_fraction: float = 0.5,
        **kwargs: Any,
    ) -> None:
        super().__init__(center_crop_fraction=center_crop_fraction, **kwargs)
        self.train_root = Path(train_root)
        self.lfw_root = Path(lfw_root)
        self.lfw_image_set = lfw_image_set
        self.val_split = val_split
        self.test_split = test_split

    def build_train_dataset(self, transforms: Callable[[Any], Any]) -> Dataset[Any]:
        """All identities under ``train_root``."""
        return IdentityFolder(self.train_root, split="all", transforms=transforms)

    def _resolved_val_split(self) -> LFWSplit:
        if self.val_split is not None:
            return self.val_split
        for base in (self.lfw_root, self.lfw_root / "lfw-py"):
            if (base / "pairsDevTest.txt").is_file():
                return "test"
        log.info("no pairsDevTest.txt under %s: validating on View 2 (pairs.txt)", self.lfw_root)
        return "10fold"

    def build_pairs_dataset(self, stage: str, transforms: Callable[[Any], Any]) -> Dataset[Any]:
        """LFW pairs of the validation or test split."""
        split = self._resolved_val_split() if stage == "val" else self.test_split
        return LFWPairs(
            self.lfw_root, split=split, image_set=self.lfw_image_set, transforms=transforms
        )


class FaceVerificationDataModule(IdentityFolderLFWDataModule):
    """The earlier name of :class:`IdentityFolderLFWDataModule`.

    A subclass rather than an alias so that ``--data FaceVerificationDataModule`` and configs
    written with it keep working on the command line (LightningCLI resolves short names by
    class name).
    """
