"""Write a tiny seeded classification tree ``<root>/<split>/<class>/<image>``.

Also holds :func:`class_image`, the picture every classification writer draws (this one and
the ImageNet layouts): a class colour with stripes at a class angle, varied per image, so that
a small network learns the classes in a few steps.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import torch

from lightning_deepvision.testing.identity_folder import IMAGE_FORMATS, refuse_existing, save_image

__all__ = ["class_image", "write_image_folder"]


def class_image(
    label: int, index: int, size: tuple[int, int], num_classes: int, seed: int = 0
) -> torch.Tensor:
    """A ``uint8`` 3xHxW picture of class ``label``: its colour, its stripe angle, some noise.

    Class ``c`` of ``C`` has the hue ``c / C`` and stripes at ``180° · c / C``; each image
    (``index``) has its own stripe phase and period, brightness and pixel noise, drawn from a
    generator seeded by ``(seed, label, index)``, so a picture never depends on what else is
    written.

    Args:
        label: Class index.
        index: Image number within the class (any integer).
        size: ``(height, width)``.
        num_classes: Number of classes (spreads the hues and angles).
        seed: Varies every picture.

    Returns:
        The image tensor.
    """
    rng = np.random.default_rng([seed, label, index])
    height, width = size
    hue = label / max(num_classes, 1)
    colour = 0.5 + 0.5 * np.cos(2 * math.pi * (hue - np.array([0.0, 1 / 3, 2 / 3])))
    angle = math.pi * label / max(num_classes, 1)
    period = rng.uniform(5.0, 9.0) * max(height, width) / 48
    y, x = np.mgrid[0:height, 0:width].astype(np.float64)
    phase = rng.uniform(0, 2 * math.pi)
    stripes = 0.5 + 0.5 * np.sin(
        2 * math.pi * (x * math.cos(angle) + y * math.sin(angle)) / period + phase
    )
    brightness = rng.uniform(0.7, 1.0)
    image = brightness * colour[:, None, None] * (0.35 + 0.65 * stripes[None])
    image = image + rng.normal(0.0, 0.04, size=image.shape)
    return torch.from_numpy((np.clip(image, 0.0, 1.0) * 255).round().astype(np.uint8))


def write_image_folder(
    root: str | os.PathLike[str],
    num_classes: int = 3,
    images_per_class: Mapping[str, int] | None = None,
    image_size: tuple[int, int] = (32, 32),
    ext: str | Sequence[str] = "jpg",
    class_names: Sequence[str] | None = None,
    seed: int = 0,
) -> Path:
    """Write ``<root>/<split>/<class>/<NNN>.<ext>``, readable by ``ImageFolderDataset``.

    Classes are ``class_00``, ``class_01``, ... (so sorted order is label order) unless
    ``class_names`` are given; pictures come from :func:`class_image`, numbered across splits so
    that no two files are alike. Deterministic for a given ``seed``.

    Args:
        root: Directory to write into (created if needed).
        num_classes: Number of class folders in every split.
        images_per_class: Split name → images per class; ``{"train": 4, "val": 2}`` by
            default (add ``"test"`` for a test split).
        image_size: ``(height, width)`` of each image.
        ext: Image format by extension (``"jpg"``, ``"png"``, ``"pgm"`` for grey, or any of
            :data:`~lightning_deepvision.testing.identity_folder.IMAGE_FORMATS`); a sequence is
            cycled through image by image, mixing formats in one tree.
        class_names: Folder names, one per class (default ``class_00`` ...).
        seed: Varies every picture.

    Returns:
        ``root`` as a :class:`~pathlib.Path`.

    Raises:
        FileExistsError: One of the files to write already exists (nothing is written).
        ValueError: A non-positive count or size, an unsupported extension or a wrong number
            of class names.
    """
    splits = dict(images_per_class or {"train": 4, "val": 2})
    exts = [ext] if isinstance(ext, str) else list(ext)
    exts = [e.lower().lstrip(".") for e in exts]
    unsupported = [e for e in exts if e not in IMAGE_FORMATS]
    if not exts or unsupported:
        raise ValueError(
            f"unsupported ext {unsupported or ext!r}; choose from {list(IMAGE_FORMATS)}"
        )
    if num_classes < 1 or min(image_size) < 1 or not splits or min(splits.values()) < 1:
        raise ValueError(
            "num_classes, image_size and every count of images_per_class must be positive, got "
            f"{num_classes}, {image_size}, {splits}"
        )
    names = list(class_names) if class_names is not None else None
    if names is None:
        names = [f"class_{c:02d}" for c in range(num_classes)]
    if len(names) != num_classes or len(set(names)) != num_classes:
        raise ValueError(f"class_names needs {num_classes} distinct names, got {names}")
    root = Path(root)
    plan: list[tuple[int, int, Path]] = []
    number = 0
    for split, count in splits.items():
        for label, name in enumerate(names):
            for j in range(count):
                file = f"{j:03d}.{exts[len(plan) % len(exts)]}"
                plan.append((label, number + j, root / split / name / file))
            number += count
    refuse_existing(path for _, _, path in plan)
    size = (int(image_size[0]), int(image_size[1]))
    for label, index, path in plan:
        path.parent.mkdir(parents=True, exist_ok=True)
        save_image(class_image(label, index, size, num_classes, seed), path)
    return root
