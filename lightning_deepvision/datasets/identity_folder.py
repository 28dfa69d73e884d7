"""A face-identity dataset over any one-folder-per-identity tree.

``<root>/<identity>/<image>`` is how CelebFaces+, CASIA-WebFace, VGGFace2, the AT&T / ORL faces
(``s1/1.pgm``) and most face-recognition training sets are distributed, and how DeepID2/DeepID2+
training data is organised for the identification signal.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import Dataset

from lightning_deepvision.datasets.errors import DatasetNotFoundError
from lightning_deepvision.datasets.image_io import has_image_extension, read_image

__all__ = ["DEFAULT_EXTENSIONS", "IdentityFolder"]

DEFAULT_EXTENSIONS: tuple[str, ...] = (
    ".jpg",
    ".jpeg",
    ".png",
    ".pgm",
    ".ppm",
    ".bmp",
    ".tif",
    ".tiff",
    ".webp",
)

_LAYOUT = (
    "Expected one sub-directory per identity holding that identity's images, e.g. "
    "ROOT/<identity>/<image>.jpg (CelebFaces+/CASIA-WebFace style) or ROOT/s1/1.pgm (AT&T faces)."
)


class IdentityFolder(Dataset[dict[str, Any]]):
    """Face images labelled by the directory they sit in: ``<root>/<identity>/<image>``.

    Only file names are listed at construction (sorted, so the index is deterministic across
    machines and processes); images are decoded in ``__getitem__``. Identities are sorted by
    plain string order, as in ``torchvision.datasets.ImageFolder`` (so ``s10`` precedes ``s2``).
    Hidden files (``.*``) and nested sub-directories are ignored; file extensions match
    case-insensitively.

    Each sample is ``{"image", "label"}``: a ``uint8`` 3xHxW ``tv_tensors.Image`` (grey and
    palette images become 3-channel RGB) and the ``int64`` index of its identity in
    :attr:`classes`.

    Args:
        root: The directory holding one folder per identity.
        transforms: Applied to the sample dict (e.g. a ``torchvision.transforms.v2`` pipeline).
        extensions: Image file extensions to index (lower case, with the dot).
        identities: Restrict to, and order labels by, these identity folders, e.g. to make
            identity-disjoint train/validation splits. ``None`` takes every folder, sorted.
        min_images_per_identity: Skip identities with fewer images (identities with none are
            always skipped). Skipped identities are absent from :attr:`classes`.

    Attributes:
        classes: Identity names, in label order.
        samples: Image paths, grouped by identity and sorted within each.
        targets: The label of each sample (no decoding; for identity-balanced samplers).
        num_classes: ``len(classes)``.

    Raises:
        DatasetNotFoundError: ``root`` is missing or not a directory, a requested identity has
            no folder, or no identity with enough images remains.
        ValueError: ``identities`` repeats a name, or ``min_images_per_identity < 1``.
    """

    def __init__(
        self,
        root: str | os.PathLike[str],
        transforms: Callable[[dict[str, Any]], Any] | None = None,
        extensions: Sequence[str] = DEFAULT_EXTENSIONS,
        identities: Sequence[str] | None = None,
        min_images_per_identity: int = 1,
    ) -> None:
        if min_images_per_identity < 1:
            raise ValueError(f"min_images_per_identity must be >= 1, got {min_images_per_identity}")
        self.root = Path(root)
        self.transforms = transforms
        self.extensions = tuple(e.lower() for e in extensions)
        self.min_images_per_identity = min_images_per_identity
        if not self.root.is_dir():
            raise DatasetNotFoundError("IdentityFolder", self.root, self.root, _LAYOUT)

        if identities is None:
            names = sorted(
                e.name for e in os.scandir(self.root) if e.is_dir() and not e.name.startswith(".")
            )
        else:
            names = list(identities)
            if len(set(names)) != len(names):
                duplicated = sorted(n for n, c in Counter(names).items() if c > 1)
                raise ValueError(f"identities lists some names more than once: {duplicated}")
            for name in names:
                if not (self.root / name).is_dir():
                    raise DatasetNotFoundError(
                        "IdentityFolder", self.root, self.root / name, _LAYOUT
                    )

        self.classes: list[str] = []
        self.samples: list[Path] = []
        self.targets: list[int] = []
        for name in names:
            directory = self.root / name
            files = sorted(
                e.name
                for e in os.scandir(directory)
                if not e.name.startswith(".")
                and has_image_extension(e.name, self.extensions)
                and e.is_file()
            )
            if len(files) < min_images_per_identity:
                continue
            label = len(self.classes)
            self.classes.append(name)
            self.samples.extend(directory / f for f in files)
            self.targets.extend([label] * len(files))

        if not self.classes:
            at_least = (
                f" with at least {min_images_per_identity} images"
                if min_images_per_identity > 1
                else ""
            )
            pattern = "{" + ",".join(self.extensions) + "}"
            stray = sum(
                1
                for e in os.scandir(self.root)
                if e.is_file() and has_image_extension(e.name, self.extensions)
            )
            hint = (
                f" Found {stray} image file(s) directly under root: move them into one folder "
                "per identity."
                if stray
                else ""
            )
            raise DatasetNotFoundError(
                "IdentityFolder",
                self.root,
                self.root / "<identity>" / f"<image>{pattern}",
                f"No identity folder{at_least} found. {_LAYOUT}{hint}",
            )

    @property
    def num_classes(self) -> int:
        """Number of identities."""
        return len(self.classes)

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> dict[str, Any]:
        sample: dict[str, Any] = {
            "image": read_image(self.samples[index]),
            "label": torch.tensor(self.targets[index], dtype=torch.int64),
        }
        if self.transforms is not None:
            sample = self.transforms(sample)
        return sample
