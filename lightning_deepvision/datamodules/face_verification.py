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


class FaceVerificationDataModule(VerificationDataModule):
    """Train on ``<train_root>/<identity>/<image>``, validate and test on LFW pairs.

    This is the DeepID2/DeepID2+ setting (Sun, Wang, Tang, NIPS 2014 / CVPR 2015): the nets
    learn from an outside identity set (CelebFaces+, CASIA-WebFace, ...) disjoint from LFW, and
    are evaluated on LFW's View 2 ``pairs.txt`` with the 10-fold protocol ("unrestricted,
    labeled outside data").

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
        input_size: ``(height, width)`` of the network input.
        center_crop_fraction: Centre crop before resizing; the default suits 250×250 LFW
            images, whose face box was enlarged 2.2 times. Use it for the training set too when
            its images are framed like LFW's, else crop the training set beforehand.
        grayscale: Feed one-channel images.
        identities_per_batch: P, identities per training batch.
        images_per_identity: K, images of each identity per training batch.
        eval_batch_size: Pairs per evaluation batch.
        num_workers: Loader workers (``None``: half the CPUs).
        pin_memory: Pin host memory (``None``: only with CUDA).
        persistent_workers: Keep workers between epochs.
        seed: Seed of the training sampler.
    """

    def __init__(
        self,
        train_root: str | Path,
        lfw_root: str | Path,
        lfw_image_set: Literal["original", "funneled", "deepfunneled"] | None = None,
        val_split: LFWSplit | None = None,
        test_split: LFWSplit = "10fold",
        input_size: tuple[int, int] = (55, 47),
        center_crop_fraction: float = 0.5,
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
            input_size=input_size,
            center_crop_fraction=center_crop_fraction,
            grayscale=grayscale,
            identities_per_batch=identities_per_batch,
            images_per_identity=images_per_identity,
            eval_batch_size=eval_batch_size,
            num_workers=num_workers,
            pin_memory=pin_memory,
            persistent_workers=persistent_workers,
            seed=seed,
        )
        self.train_root = Path(train_root)
        self.lfw_root = Path(lfw_root)
        self.lfw_image_set = lfw_image_set
        self.val_split = val_split
        self.test_split = test_split

    def build_train_dataset(self, transforms: Callable[[Any], Any]) -> Dataset[Any]:
        """All identities under ``train_root``."""
        return IdentityFolder(self.train_root, transforms=transforms)

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
