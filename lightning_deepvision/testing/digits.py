"""Write a tiny MNIST in its official idx layout, from scikit-learn's real digits.

The four files (``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``,
``t10k-images-idx3-ubyte``, ``t10k-labels-idx1-ubyte``) hold real handwritten digits
(:class:`~lightning_deepvision.datasets.digits.Digits`, upsampled to 28×28), so that a network
trained on the tiny copy learns something, in the byte layout LeCun's files have: a big-endian
magic number (``0x00000803`` images, ``0x00000801`` labels), the dimensions, then the bytes.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch

from lightning_deepvision.datasets.digits import MNIST_FILES, Digits
from lightning_deepvision.testing.identity_folder import refuse_existing

__all__ = ["write_idx", "write_mnist"]


def write_idx(path: str | os.PathLike[str], array: torch.Tensor) -> Path:
    """Write a ``uint8`` tensor as an idx file (created exclusively: never overwrites)."""
    if array.dtype != torch.uint8:
        raise ValueError(f"idx files of this writer hold uint8, got {array.dtype}")
    header = (0x0800 + array.ndim).to_bytes(4, "big")
    header += b"".join(int(n).to_bytes(4, "big") for n in array.shape)
    path = Path(path)
    with path.open("xb") as handle:
        handle.write(header + array.contiguous().numpy().tobytes())
    return path


def write_mnist(
    root: str | os.PathLike[str], train_images: int = 200, test_images: int = 60, seed: int = 0
) -> Path:
    """Write ``train_images`` + ``test_images`` real 28×28 digits as MNIST's four idx files.

    Args:
        root: Directory to create (or an empty one).
        train_images: Images of the training files (at most 1,347).
        test_images: Images of the test files (at most 450).
        seed: Seed of the draw of the digits.

    Returns:
        ``root``.

    Raises:
        FileExistsError: If one of the four files exists (nothing is written).
    """
    root = Path(root)
    paths = [root / name for pair in MNIST_FILES.values() for name in pair]
    refuse_existing(paths)
    sources = {
        "train": (Digits("train", seed=seed), train_images),
        "test": (Digits("test", seed=seed), test_images),
    }
    for part, (digits, count) in sources.items():
        if not 0 < count <= len(digits):
            raise ValueError(f"{part} images must be in [1, {len(digits)}], got {count}")
    generator = torch.Generator().manual_seed(seed)
    root.mkdir(parents=True, exist_ok=True)
    for part, (digits, count) in sources.items():
        order = torch.randperm(len(digits), generator=generator)[:count].tolist()
        samples = [digits[i] for i in order]
        images = torch.stack([(s["image"][0] * 255).round().to(torch.uint8) for s in samples])
        labels = torch.stack([s["label"] for s in samples]).to(torch.uint8)
        image_name, label_name = MNIST_FILES[part]
        write_idx(root / image_name, images)
        write_idx(root / label_name, labels)
    return root
