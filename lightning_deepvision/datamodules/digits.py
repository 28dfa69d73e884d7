"""Handwritten digits for the 2006 pre-training recipes: scikit-learn's set, or MNIST's files."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

import torch
from torch.utils.data import Dataset
from torchvision.transforms import v2

from lightning_deepvision.datamodules.base import BaseDataModule
from lightning_deepvision.datasets.digits import MNIST, Digits, DigitSplit

__all__ = ["DigitsDataModule"]


class DigitsDataModule(BaseDataModule):
    """Train, validate and test on 28×28 grey digits, pixels in [0, 1].

    With no ``root`` the data are scikit-learn's 1,797 real handwritten digits
    (:class:`~lightning_deepvision.datasets.digits.Digits`, bundled with scikit-learn, no
    download), upsampled to ``image_size`` and split by class with ``seed``. With ``root`` the
    data are MNIST read from its official idx files there
    (:class:`~lightning_deepvision.datasets.digits.MNIST`; the last ``val_size`` training
    images validate), the setting of Hinton et al. (2006). Nothing is augmented: a mirrored or
    shifted digit is another digit, and the papers train on the pixels as they are.

    Args:
        root: Directory of MNIST's idx files; ``None`` uses scikit-learn's digits.
        image_size: Side of the upsampled scikit-learn digits (MNIST is 28).
        val_fraction: Share of the scikit-learn digits that validate.
        test_fraction: Share of the scikit-learn digits that test.
        val_size: MNIST training images held out for validation.
        seed: Seed of the scikit-learn digits' split.
        mean: Subtracted from every pixel (with ``std``: standardised pixels for Gaussian
            visible units); ``None`` keeps [0, 1] (for Bernoulli visible units).
        std: Divides every pixel after ``mean``.
        **kwargs: Loader options of :class:`~lightning_deepvision.datamodules.BaseDataModule`
            (``num_workers`` defaults to 0 here: the digits are in memory, a worker would
            only add inter-process copies).

    Attributes:
        num_classes: 10, for the task's classifier.
    """

    num_classes = 10

    def __init__(
        self,
        root: str | Path | None = None,
        image_size: int = 28,
        val_fraction: float = 0.15,
        test_fraction: float = 0.25,
        val_size: int = 10000,
        seed: int = 0,
        mean: float | None = None,
        std: float | None = None,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("num_workers", 0)
        super().__init__(**kwargs)
        if (mean is None) != (std is None) or (std is not None and std <= 0):
            raise ValueError(f"give both mean and a positive std, or neither; got {mean}, {std}")
        self.root = None if root is None else Path(root)
        self.image_size = int(image_size)
        self.val_fraction, self.test_fraction = val_fraction, test_fraction
        self.val_size, self.seed = val_size, seed
        self.mean, self.std = mean, std
        # Checks the arguments (and MNIST's files) now rather than when a stage starts.
        self.build_dataset("val")

    @property
    def classes(self) -> list[str]:
        """The class names, ``"0"`` … ``"9"``."""
        return [str(d) for d in range(10)]

    def transforms(self, stage: str) -> Callable[[Any], Any] | None:
        """Standardisation of the pixels when ``mean``/``std`` are given, else none."""
        if self.mean is None or self.std is None:
            return None
        return v2.Normalize(mean=[self.mean], std=[self.std])

    def predict_files_transform(self) -> Callable[[Any], Any]:
        """A file's image as the digits are: grey, ``image_size`` square, pixels in [0, 1]."""
        size = (self.image_size, self.image_size)
        steps = [
            v2.Grayscale(1),
            v2.Resize(size, antialias=True),
            v2.ToDtype(torch.float32, scale=True),
        ]
        standardise = self.transforms("predict")
        return v2.Compose(steps if standardise is None else [*steps, standardise])

    def build_dataset(self, stage: str) -> Dataset[Any]:
        """The split of ``stage`` (``predict`` reads the test split)."""
        split = cast(DigitSplit, "test" if stage == "predict" else stage)
        transforms = self.transforms(stage)
        if self.root is not None:
            return MNIST(self.root, split, transforms=transforms, val_size=self.val_size)
        return Digits(
            split,
            transforms=transforms,
            image_size=self.image_size,
            val_fraction=self.val_fraction,
            test_fraction=self.test_fraction,
            seed=self.seed,
        )
