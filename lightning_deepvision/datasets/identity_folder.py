"""A face-identity dataset over any one-folder-per-identity tree.

``<root>/<identity>/<image>`` is how CelebFaces+, CASIA-WebFace, VGGFace2, the AT&T / ORL faces
(``s1/1.pgm``) and most face-recognition training sets are distributed, and how DeepID2/DeepID2+
training data is organised for the identification signal.
"""

from __future__ import annotations

import hashlib
import os
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Literal, NoReturn

from lightning_deepvision.datasets.bad_samples import OnBadSample
from lightning_deepvision.datasets.errors import DatasetNotFoundError
from lightning_deepvision.datasets.image_io import IMAGE_EXTENSIONS, has_image_extension
from lightning_deepvision.datasets.image_list import LabelledImageList

__all__ = ["SPLITS", "IdentityFolder", "split_identities"]

Split = Literal["all", "train", "val"]
#: The values ``IdentityFolder`` accepts for ``split``.
SPLITS: tuple[str, ...] = ("all", "train", "val")

_LAYOUT = (
    "Expected one sub-directory per identity holding that identity's images, e.g. "
    "ROOT/<identity>/<image>.jpg (CelebFaces+/CASIA-WebFace style) or ROOT/s1/1.pgm (AT&T faces)."
)


def _at_least(min_images: int) -> str:
    """`` with at least N images`` when that filter is on, for error messages."""
    return f" with at least {min_images} images" if min_images > 1 else ""


def _check_val_fraction(val_fraction: float) -> None:
    if not 0.0 <= val_fraction < 1.0:
        raise ValueError(f"val_fraction must be in [0, 1), got {val_fraction}")


def split_identities(
    names: Sequence[str], val_fraction: float = 0.1, seed: int = 0
) -> tuple[list[str], list[str]]:
    """Split identity names into disjoint ``(train, val)`` lists, both sorted.

    The names are sorted and permuted by a seeded hash (each name's SHA-256 digest keyed by
    ``seed``); ``val`` is the first ``max(1, round(val_fraction * N))`` of that permutation when
    ``val_fraction > 0``, and empty when it is 0. A hash rather than a random generator makes the
    split a pure function of the names, the seed and the fraction: identical on every machine,
    in every process and under every version of torch or numpy, and it draws no random numbers.

    Args:
        names: Distinct identity names (any order).
        val_fraction: Fraction of identities held out for validation, in ``[0, 1)``.
        seed: Selects the permutation.

    Returns:
        ``(train, val)``, each sorted; together they hold every name once.

    Raises:
        ValueError: ``val_fraction`` outside ``[0, 1)``.
    """
    _check_val_fraction(val_fraction)
    ordered = sorted(names)
    permuted = sorted(ordered, key=lambda n: hashlib.sha256(f"{seed}\0{n}".encode()).digest())
    num_val = max(1, round(val_fraction * len(ordered))) if val_fraction > 0 else 0
    return sorted(permuted[num_val:]), sorted(permuted[:num_val])


class IdentityFolder(LabelledImageList):
    """Face images labelled by the directory they sit in: ``<root>/<identity>/<image>``.

    Only file names are listed at construction (sorted, so the index is deterministic across
    machines and processes); images are decoded in ``__getitem__``. Identities are sorted by
    plain string order, as in ``torchvision.datasets.ImageFolder`` (so ``s10`` precedes ``s2``).
    Hidden files (``.*``) and nested sub-directories are ignored; file extensions match
    case-insensitively.

    ``split="train"`` / ``"val"`` hold out whole identities (the DeepID2 protocol validates on
    people never seen in training): the identities that remain after the ``identities`` and
    ``min_images_per_identity`` filters are divided by :func:`split_identities`, the same way
    on every machine and process, and labels are re-numbered ``0..n-1`` within the split, in
    sorted name order. ``split="all"`` keeps every remaining identity.

    Each sample is ``{"image", "label"}``: a ``uint8`` 3xHxW ``tv_tensors.Image`` (grey and
    palette images become 3-channel RGB) and the ``int64`` index of its identity in
    :attr:`classes`.

    Args:
        root: The directory holding one folder per identity.
        split: ``"all"``, ``"train"`` or ``"val"``.
        transforms: Applied to the sample dict (e.g. a ``torchvision.transforms.v2`` pipeline).
        extensions: Image file extensions to index (with the dot; matched case-insensitively).
            The default is every format :func:`~lightning_deepvision.datasets.image_io.read_image`
            decodes.
        identities: Restrict to these identity folders; with ``split="all"`` labels follow
            this order. ``None`` takes every folder, sorted.
        min_images_per_identity: Skip identities with fewer images (identities with none are
            always skipped). Skipped identities are absent from :attr:`classes` and from both
            splits.
        val_fraction: Fraction of the identities in ``split="val"``, in ``[0, 1)``.
        split_seed: Selects which identities go to ``"val"``.
        on_bad_sample: ``"raise"`` (default) or ``"skip"``: what an unreadable image file does
            (see :mod:`~lightning_deepvision.datasets.bad_samples`).

    Attributes:
        classes: Identity names, in label order.
        samples: Image paths, grouped by identity and sorted within each.
        targets: The label of each sample (no decoding; for identity-balanced samplers).
        num_classes: ``len(classes)``.

    Raises:
        DatasetNotFoundError: ``root`` is missing or not a directory, a requested identity has
            no folder, or no identity with enough images remains.
        ValueError: An unknown ``split``, ``val_fraction`` outside ``[0, 1)``, a split that
            would leave ``train`` or ``val`` without identities, ``identities`` repeating a
            name, or ``min_images_per_identity < 1``.
    """

    def __init__(
        self,
        root: str | os.PathLike[str],
        split: Split = "all",
        transforms: Callable[[dict[str, Any]], Any] | None = None,
        extensions: Sequence[str] = IMAGE_EXTENSIONS,
        identities: Sequence[str] | None = None,
        min_images_per_identity: int = 1,
        val_fraction: float = 0.1,
        split_seed: int = 0,
        on_bad_sample: OnBadSample = "raise",
    ) -> None:
        if split not in SPLITS:
            raise ValueError(f"split must be one of {list(SPLITS)}, got {split!r}")
        _check_val_fraction(val_fraction)  # before listing the folders: fail fast
        if min_images_per_identity < 1:
            raise ValueError(f"min_images_per_identity must be >= 1, got {min_images_per_identity}")
        self.root = Path(root)
        self.split = split
        self.transforms = transforms
        self.extensions = tuple(e.lower() for e in extensions)
        self.min_images_per_identity = min_images_per_identity
        self.val_fraction = val_fraction
        self.split_seed = split_seed
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

        files_of: dict[str, list[str]] = {}
        for name in names:
            files = sorted(
                e.name
                for e in os.scandir(self.root / name)
                if not e.name.startswith(".")
                and has_image_extension(e.name, self.extensions)
                and e.is_file()
            )
            if len(files) >= min_images_per_identity:
                files_of[name] = files
        if not files_of:
            self._raise_no_identity()

        kept = list(files_of)
        if split != "all":
            kept = self._split(kept)
        self.classes: list[str] = []
        self.samples: list[Path] = []
        self.targets: list[int] = []
        for label, name in enumerate(kept):
            self.classes.append(name)
            self.samples.extend(self.root / name / f for f in files_of[name])
            self.targets.extend([label] * len(files_of[name]))
        self.on_bad_sample = on_bad_sample

    def _split(self, names: list[str]) -> list[str]:
        """The sorted identities of ``self.split``; refuses a split that leaves a side empty."""
        train, val = split_identities(names, self.val_fraction, self.split_seed)
        # With val_fraction == 0, "train" is simply every identity. Otherwise both sides must
        # hold someone, whichever one is asked for: each is meant to be used with the other.
        if self.split == "val" and not val:
            empty, remedy = "val", "use a val_fraction > 0 for a validation split"
        elif val and not train:
            empty, remedy = "train", "lower val_fraction or add identities (at least 2 are needed)"
        else:
            return train if self.split == "train" else val
        found = f"{len(names)} identit{'y' if len(names) == 1 else 'ies'}"
        raise ValueError(
            f"IdentityFolder split={self.split!r}: {found}"
            f"{_at_least(self.min_images_per_identity)} under {str(self.root)!r}, of which "
            f"val_fraction={self.val_fraction} puts {len(val)} in 'val' and {len(train)} in "
            f"'train', leaving '{empty}' empty; {remedy}"
        )

    def _raise_no_identity(self) -> NoReturn:
        at_least = _at_least(self.min_images_per_identity)
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
