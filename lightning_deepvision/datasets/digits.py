"""Handwritten digits: scikit-learn's bundled set (no download) and MNIST's own idx files.

* :class:`Digits`: the 1,797 8×8 digits of the UCI "Optical Recognition of Handwritten
  Digits" set (Alpaydin & Kaynak) that scikit-learn ships (``load_digits``), upsampled to
  28×28 so that the MNIST networks of Hinton et al. (2006) take them unchanged; a stratified,
  seeded split into train / val / test.
* :class:`MNIST`: LeCun, Bottou, Bengio, Haffner (1998), read from the four official idx files
  with torchvision's reader, never downloading. The last ``val_size`` training images are the
  validation split (``val_size=0`` trains on all 60,000, as Hinton's code does).

Samples are ``image`` (a float ``tv_tensors.Image`` ``(1, H, W)`` in [0, 1], the pixel
intensities the papers treat as probabilities) and ``label``.
"""

from __future__ import annotations

import functools
import math
from abc import ABC, abstractmethod
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import torch
from torch import Tensor
from torch.nn import functional as F
from torch.utils.data import Dataset
from torchvision import tv_tensors

from lightning_deepvision.datasets.errors import (
    CorruptImageError,
    DatasetNotFoundError,
    MalformedAnnotationError,
)

__all__ = ["MNIST", "MNIST_FILES", "DigitSplit", "Digits", "read_idx_header"]

DigitSplit = Literal["train", "val", "test"]
_SPLITS = ("train", "val", "test")
Transforms = Callable[[dict[str, Any]], dict[str, Any]]

#: The official file names, by split of the distribution (uncompressed, as ``gunzip`` leaves them).
MNIST_FILES: dict[str, tuple[str, str]] = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
_HOW_TO_OBTAIN = (
    "Download the four MNIST files from http://yann.lecun.com/exdb/mnist/ (or a mirror), "
    "gunzip them and put them in root (or root/MNIST/raw, torchvision's layout); nothing is "
    "downloaded automatically."
)


def _check_split(split: str) -> None:
    if split not in _SPLITS:
        raise ValueError(f"split must be one of {_SPLITS}, got {split!r}")


class _DigitImages(Dataset[dict[str, Any]], ABC):
    """Shared sample assembly: uint8 images ``(N, H, W)`` and labels, indexed by ``indices``."""

    transforms: Transforms | None

    @abstractmethod
    def _images_and_labels(self) -> tuple[Tensor, Tensor]:
        """All images ``(N, H, W)`` uint8 and labels ``(N,)``, loaded on first use."""

    @abstractmethod
    def _indices(self) -> range | Tensor:
        """The rows of the split."""

    def __len__(self) -> int:
        return len(self._indices())

    @property
    def targets(self) -> list[int]:
        """The label of every sample, in order."""
        _, labels = self._images_and_labels()
        return labels[torch.as_tensor(self._indices())].tolist()

    @property
    def num_classes(self) -> int:
        """Ten digits."""
        return 10

    def __getitem__(self, index: int) -> dict[str, Any]:
        indices = self._indices()
        if not -len(indices) <= index < len(indices):
            raise IndexError(f"index {index} out of range for {len(indices)} samples")
        row = int(indices[index])
        images, labels = self._images_and_labels()
        image = images[row].to(torch.float32).div_(255.0)[None]
        sample: dict[str, Any] = {
            "image": tv_tensors.Image(image),
            "label": labels[row].to(torch.int64),
        }
        return self.transforms(sample) if self.transforms is not None else sample


@functools.cache
def _load_digits(image_size: int) -> tuple[Tensor, Tensor]:
    """All 1,797 digits upsampled to ``image_size`` (``uint8``) and their labels, loaded once."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    small = torch.from_numpy(digits.images).to(torch.float32)[:, None] / 16.0
    size = (image_size, image_size)
    large = F.interpolate(small, size=size, mode="bilinear", antialias=True)
    images = (large[:, 0].clamp(0, 1) * 255.0).round().to(torch.uint8)
    return images, torch.from_numpy(digits.target).to(torch.int64)


class Digits(_DigitImages):
    """scikit-learn's 1,797 handwritten digits, upsampled to ``image_size``, split by class.

    The 16 grey levels are scaled to [0, 1] and upsampled bilinearly (with antialiasing) from
    8×8; the whole set is held in memory as ``uint8`` (1.4 MB at 28×28). The split is a
    stratified draw by ``seed``: the same seed gives the same split on every machine.

    Args:
        split: ``"train"``, ``"val"`` or ``"test"``.
        transforms: Applied to each sample dict.
        image_size: Side of the upsampled images (28: MNIST's).
        val_fraction: Share of the digits in the validation split.
        test_fraction: Share of the digits in the test split.
        seed: Seed of the split.
    """

    def __init__(
        self,
        split: DigitSplit = "train",
        transforms: Transforms | None = None,
        image_size: int = 28,
        val_fraction: float = 0.15,
        test_fraction: float = 0.25,
        seed: int = 0,
    ) -> None:
        _check_split(split)
        if not (val_fraction > 0 and test_fraction > 0 and val_fraction + test_fraction < 1):
            raise ValueError(
                f"val_fraction and test_fraction must be positive with a sum below 1, got "
                f"{val_fraction} and {test_fraction}"
            )
        if transforms is not None and not callable(transforms):
            raise ValueError(
                f"transforms must be callable or None, got {type(transforms).__name__}"
            )
        self.split, self.transforms, self.image_size = split, transforms, int(image_size)
        self.val_fraction, self.test_fraction, self.seed = val_fraction, test_fraction, seed
        self._split_indices: Tensor | None = None

    def _images_and_labels(self) -> tuple[Tensor, Tensor]:
        return _load_digits(self.image_size)

    def _indices(self) -> Tensor:
        if self._split_indices is None:
            from sklearn.model_selection import train_test_split

            _, labels = self._images_and_labels()
            everything = torch.arange(len(labels)).numpy()
            held_out = self.val_fraction + self.test_fraction
            train, rest = train_test_split(
                everything, test_size=held_out, stratify=labels.numpy(), random_state=self.seed
            )
            val, test = train_test_split(
                rest,
                test_size=self.test_fraction / held_out,
                stratify=labels.numpy()[rest],
                random_state=self.seed,
            )
            chosen = {"train": train, "val": val, "test": test}[self.split]
            self._split_indices = torch.as_tensor(sorted(chosen.tolist()))
        return self._split_indices


def read_idx_header(path: Path, dims: int) -> tuple[int, ...]:
    """The dimensions of a ``uint8`` idx file, checked against its size.

    Raises:
        CorruptImageError: If the file is not an idx file of ``dims`` dimensions of bytes, or
            is truncated.
    """
    with path.open("rb") as handle:
        header = handle.read(4 + 4 * dims)
    expected_magic = 0x0800 + dims  # type 0x08: unsigned bytes
    if len(header) < 4 + 4 * dims or int.from_bytes(header[:4], "big") != expected_magic:
        raise CorruptImageError(
            path,
            f"not an idx file of {dims}-d unsigned bytes (magic number {expected_magic:#010x})",
        )
    shape = tuple(int.from_bytes(header[4 + 4 * i : 8 + 4 * i], "big") for i in range(dims))
    size = path.stat().st_size
    if size != len(header) + math.prod(shape):
        raise CorruptImageError(
            path, f"header says {shape} ({math.prod(shape)} bytes of data), file has {size} bytes"
        )
    return shape


class MNIST(_DigitImages):
    """MNIST from its official idx files, read with torchvision's reader (never downloaded).

    The files are looked for in ``root`` and in ``root/MNIST/raw`` (where torchvision puts
    them). Only the headers are read at construction (and checked against the file sizes);
    the pixels are read on first access.

    Args:
        root: Directory of the four idx files.
        split: ``"train"`` (the first ``60000 - val_size`` training images), ``"val"`` (the
            last ``val_size``) or ``"test"`` (the 10,000 test images).
        transforms: Applied to each sample dict.
        val_size: Training images held out for validation.
    """

    def __init__(
        self,
        root: str | Path,
        split: DigitSplit = "train",
        transforms: Transforms | None = None,
        val_size: int = 10000,
    ) -> None:
        _check_split(split)
        self.root, self.split, self.transforms = Path(root), split, transforms
        part = "test" if split == "test" else "train"
        self.image_file, self.label_file = (self._find(name) for name in MNIST_FILES[part])
        count, *self.image_shape = read_idx_header(self.image_file, 3)
        (labels,) = read_idx_header(self.label_file, 1)
        if labels != count:
            raise MalformedAnnotationError(
                self.label_file, 1, f"{labels} labels", f"{count} labels, one per image"
            )
        if split != "test" and not 0 <= val_size < count:
            raise ValueError(f"val_size must be in [0, {count}), got {val_size}")
        first, stop = {"train": (0, count - val_size), "val": (count - val_size, count)}.get(
            split, (0, count)
        )
        self._range = range(first, stop)
        self._data: tuple[Tensor, Tensor] | None = None

    def _find(self, name: str) -> Path:
        for folder in (self.root, self.root / "MNIST" / "raw"):
            if (folder / name).is_file():
                return folder / name
        if not self.root.is_dir():
            raise DatasetNotFoundError("MNIST", self.root, self.root, _HOW_TO_OBTAIN)
        raise DatasetNotFoundError("MNIST", self.root, self.root / name, _HOW_TO_OBTAIN)

    def _images_and_labels(self) -> tuple[Tensor, Tensor]:
        if self._data is None:
            from torchvision.datasets.mnist import read_image_file, read_label_file

            images = read_image_file(str(self.image_file))
            labels = read_label_file(str(self.label_file)).to(torch.int64)
            if labels.numel() and int(labels.max()) > 9:
                raise MalformedAnnotationError(
                    self.label_file, 1, f"label {int(labels.max())}", "digit labels 0-9"
                )
            self._data = images, labels
        return self._data

    def _indices(self) -> range:
        return self._range
