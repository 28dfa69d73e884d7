r"""LFW attributes joined to the LFW image tree, for LFWA-style evaluation.

Kumar, Berg, Belhumeur, Nayar, "Attribute and Simile Classifiers for Face Verification", ICCV
2009.
``lfw_attributes.txt`` holds ``#`` comment lines, a header (``person``, ``imagenum`` and 73
attribute names; in the released file it is itself a comment line, ``#\tperson\timagenum...``)
and one tab-separated row per image: the person's name with spaces, the image number and 73
real-valued classifier scores. A score above 0 means the attribute is present. The attributes
that CelebA also annotates are matched by name (case, spaces, underscores and apostrophes
ignored; ``Youth`` is CelebA's ``Young``), so that a model trained on CelebA's 40 attributes is
evaluated on LFW as LNets+ANet's LFWA column (Liu, Luo, Wang, Tang, ICCV 2015, Table 1).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from torch import Tensor

from lightning_deepvision.datasets.annotation_text import read_text_lines
from lightning_deepvision.datasets.bad_samples import OnBadSample, SkipsBadSamples
from lightning_deepvision.datasets.celeba_annotations import CELEBA_ATTRIBUTES
from lightning_deepvision.datasets.errors import (
    DatasetNotFoundError,
    MalformedAnnotationError,
    MissingImageError,
)
from lightning_deepvision.datasets.image_io import read_image
from lightning_deepvision.datasets.lfw import IMAGE_SETS, LFW_URL, lfw_image_path

__all__ = [
    "ATTRIBUTES_FILE",
    "CELEBA_ALIASES",
    "LFW_ATTRIBUTE_NAMES",
    "LFWAttributes",
    "celeba_columns",
    "read_lfw_attributes",
    "shared_with_celeba",
]

ATTRIBUTES_FILE = "lfw_attributes.txt"
#: CelebA name → the LFW attribute name it corresponds to, where the names differ.
CELEBA_ALIASES: dict[str, str] = {"Young": "Youth"}
LFW_ATTRIBUTE_NAMES: tuple[str, ...] = (
    "Male",
    "Asian",
    "White",
    "Black",
    "Baby",
    "Child",
    "Youth",
    "Middle Aged",
    "Senior",
    "Black Hair",
    "Blond Hair",
    "Brown Hair",
    "Bald",
    "No Eyewear",
    "Eyeglasses",
    "Sunglasses",
    "Mustache",
    "Smiling",
    "Frowning",
    "Chubby",
    "Blurry",
    "Harsh Lighting",
    "Flash",
    "Soft Lighting",
    "Outdoor",
    "Curly Hair",
    "Wavy Hair",
    "Straight Hair",
    "Receding Hairline",
    "Bangs",
    "Sideburns",
    "Fully Visible Forehead",
    "Partially Visible Forehead",
    "Obstructed Forehead",
    "Bushy Eyebrows",
    "Arched Eyebrows",
    "Narrow Eyes",
    "Eyes Open",
    "Big Nose",
    "Pointy Nose",
    "Big Lips",
    "Mouth Closed",
    "Mouth Slightly Open",
    "Mouth Wide Open",
    "Teeth Not Visible",
    "No Beard",
    "Goatee",
    "Round Jaw",
    "Double Chin",
    "Wearing Hat",
    "Oval Face",
    "Square Face",
    "Round Face",
    "Color Photo",
    "Posed Photo",
    "Attractive Man",
    "Attractive Woman",
    "Indian",
    "Gray Hair",
    "Bags Under Eyes",
    "Heavy Makeup",
    "Rosy Cheeks",
    "Shiny Skin",
    "Pale Skin",
    "5 o' Clock Shadow",
    "Strong Nose-Mouth Lines",
    "Wearing Lipstick",
    "Flushed Face",
    "High Cheekbones",
    "Brown Eyes",
    "Wearing Earrings",
    "Wearing Necktie",
    "Wearing Necklace",
)
"""The 73 attributes of Kumar et al.'s ``lfw_attributes.txt``, in its column order."""
#: The number of images LNets+ANet use to train their LFWA classifiers (the rest test).
LFWA_TRAIN_IMAGES = 6263


def _key(name: str) -> str:
    return re.sub(r"[^0-9a-z]", "", name.lower())


def read_lfw_attributes(
    path: str | os.PathLike[str],
) -> tuple[list[str], list[tuple[str, int]], Tensor, list[int]]:
    """Parse ``lfw_attributes.txt``.

    Returns:
        ``(attribute names, [(person with underscores, image number)], scores float32 (N, A),
        the file line of each row)``.

    Raises:
        MalformedAnnotationError: No header, or a row with the wrong field count or values
            (file and line named).
    """
    path = Path(path)
    names: list[str] | None = None
    people: list[tuple[str, int]] = []
    rows: list[list[str]] = []
    lines: list[int] = []
    for number, line in read_text_lines(path):
        fields = [f.strip() for f in line.rstrip("\r\n").split("\t")]
        if line.startswith("#"):
            fields[0] = fields[0].lstrip("#").strip()
            if fields and not fields[0]:
                fields = fields[1:]
            if len(fields) > 2 and fields[:2] == ["person", "imagenum"]:
                names = fields[2:]
            continue
        if not line.strip():
            continue
        if names is None:
            if fields[:2] == ["person", "imagenum"]:
                names = fields[2:]
                continue
            raise MalformedAnnotationError(
                path, number, line, "a header 'person<TAB>imagenum<TAB><attribute names>'"
            )
        expected = f"'person<TAB>imagenum' and {len(names)} scores, tab-separated"
        if len(fields) != len(names) + 2 or not (fields[1].isascii() and fields[1].isdigit()):
            raise MalformedAnnotationError(path, number, line, expected)
        people.append((fields[0].replace(" ", "_"), int(fields[1])))
        rows.append(fields[2:])
        lines.append(number)
    if names is None:
        raise MalformedAnnotationError(path, 1, "", "a header with person, imagenum and names")
    try:
        scores = torch.from_numpy(np.asarray(rows, dtype=np.float32).reshape(len(rows), len(names)))
    except ValueError:
        for row, number in zip(rows, lines, strict=True):
            try:
                [float(v) for v in row]
            except ValueError:
                raise MalformedAnnotationError(
                    path, number, "\t".join(row), "real-valued scores"
                ) from None
        raise
    return names, people, scores, lines


def celeba_columns(lfw_names: Sequence[str], wanted: Sequence[str]) -> list[int]:
    """Column of each CelebA name ``wanted`` among ``lfw_names`` (by name, with aliases).

    Raises:
        ValueError: A wanted name LFW does not annotate.
    """
    index = {_key(n): i for i, n in enumerate(lfw_names)}
    columns = []
    for name in wanted:
        key = _key(CELEBA_ALIASES.get(name, name))
        if key not in index:
            raise ValueError(f"LFW attributes have no {name!r} (nor an alias of it)")
        columns.append(index[key])
    return columns


def shared_with_celeba(lfw_names: Sequence[str]) -> list[str]:
    """The CelebA attributes (in CelebA's order) that the LFW attribute file also holds."""
    keys = {_key(n) for n in lfw_names}
    return [a for a in CELEBA_ATTRIBUTES if _key(CELEBA_ALIASES.get(a, a)) in keys]


class LFWAttributes(SkipsBadSamples):
    """LFW images with the attributes they share with CelebA, binarised at 0.

    Each sample is ``image`` (``tv_tensors.Image`` uint8, 250x250 before transforms),
    ``attributes`` (int64 0/1, one per :attr:`attribute_names`), ``scores`` (float32, the raw
    classifier outputs of those attributes) and ``index``.

    Args:
        root: Folder holding ``lfw_attributes.txt`` and an LFW image folder (``lfw/``,
            ``lfw_funneled/``, ``lfw-deepfunneled/``; or torchvision's ``<root>/lfw-py/``).
        split: ``"all"``, or ``"train"`` (the first ``train_images`` rows, as LNets+ANet train
            their LFWA classifiers on 6,263 images) / ``"test"`` (the rest).
        transforms: Applied to the whole sample dict.
        attribute_names: CelebA names to read; ``None``: every CelebA attribute LFW holds.
        image_set: ``"original"``, ``"funneled"``, ``"deepfunneled"`` or ``None`` (first found).
        train_images: Rows of the ``"train"`` split.
        on_bad_sample: ``"raise"`` (default) or ``"skip"``: what an unreadable image file does
            (see :mod:`~lightning_deepvision.datasets.bad_samples`).

    Raises:
        DatasetNotFoundError: The attribute file or the image folder is missing.
        MalformedAnnotationError: A malformed attribute file.
        MissingImageError: A row names an image that is not on disk.
    """

    def __init__(
        self,
        root: str | os.PathLike[str],
        split: Literal["all", "train", "test"] = "all",
        transforms: Callable[[dict[str, Any]], Any] | None = None,
        attribute_names: Sequence[str] | None = None,
        image_set: str | None = None,
        train_images: int = LFWA_TRAIN_IMAGES,
        on_bad_sample: OnBadSample = "raise",
    ) -> None:
        if split not in ("all", "train", "test"):
            raise ValueError(f"split must be 'all', 'train' or 'test', got {split!r}")
        self.root = Path(root)
        bases = [self.root, self.root / "lfw-py"]
        how = (
            f"LFW and its attributes are not downloaded automatically: get lfw.tgz from "
            f"{LFW_URL} and lfw_attributes.txt from the LFW attributes page "
            "(https://www.cs.columbia.edu/CAVE/databases/pubfig/download/lfw_attributes.txt), "
            "so that ROOT/lfw_attributes.txt and ROOT/lfw/<Name>/<Name>_0001.jpg exist."
        )
        found = next((b / ATTRIBUTES_FILE for b in bases if (b / ATTRIBUTES_FILE).is_file()), None)
        if found is None:
            raise DatasetNotFoundError(
                "LFW attributes", self.root, self.root / ATTRIBUTES_FILE, how
            )
        wanted = [IMAGE_SETS[image_set]] if image_set else list(IMAGE_SETS.values())
        image_dir = next((b / d for b in bases for d in wanted if (b / d).is_dir()), None)
        if image_dir is None:
            raise DatasetNotFoundError("LFW attributes", self.root, self.root / wanted[0], how)
        self.attributes_file, self.image_dir = found, image_dir
        lfw_names, people, scores, lines = read_lfw_attributes(found)
        self.lfw_attribute_names = lfw_names
        self.attribute_names = list(attribute_names or shared_with_celeba(lfw_names))
        columns = celeba_columns(lfw_names, self.attribute_names)
        rows = {
            "all": slice(None),
            "train": slice(0, train_images),
            "test": slice(train_images, None),
        }
        chosen = range(len(people))[rows[split]]
        self.people = [people[i] for i in chosen]
        self.scores = scores[list(chosen)][:, columns].contiguous()
        self.transforms = transforms
        listing: dict[str, frozenset[str]] = {}
        for row, (name, number) in zip(chosen, self.people, strict=True):
            files = listing.get(name)
            if files is None:
                folder = image_dir / name
                files = listing[name] = (
                    frozenset(os.listdir(folder)) if folder.is_dir() else frozenset()
                )
            path = lfw_image_path(image_dir, name, number)
            if path.name not in files:
                raise MissingImageError(path, f"{found}:{lines[row]}")
        self.on_bad_sample = on_bad_sample

    @property
    def attributes(self) -> Tensor:
        """``uint8`` ``(N, A)`` 0/1: the scores binarised at 0."""
        return (self.scores > 0).to(torch.uint8)

    def __len__(self) -> int:
        return len(self.people)

    def image_path(self, index: int) -> Path:
        """The image file of sample ``index`` (predictions are traced back to it)."""
        name, number = self.people[index]
        return lfw_image_path(self.image_dir, name, number)

    def get_sample(self, index: int) -> dict[str, Any]:
        """Sample ``index``, transforms applied (``__getitem__`` applies ``on_bad_sample``)."""
        name, number = self.people[index]
        path = lfw_image_path(self.image_dir, name, number)
        sample: dict[str, Any] = {
            "image": read_image(path, referenced_by=str(self.attributes_file)),
            "attributes": (self.scores[index] > 0).long(),
            "scores": self.scores[index].clone(),
            "index": torch.tensor(index, dtype=torch.int64),
        }
        if self.transforms is not None:
            sample = self.transforms(sample)
        return sample
