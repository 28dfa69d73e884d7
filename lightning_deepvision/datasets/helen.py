"""HELEN face parsing (Smith, Zhang, Brandt, Lin, Yang, "Exemplar-Based Face Parsing", CVPR 2013).

On-disk layout (the distributed label archive beside the HELEN images)::

    ROOT/images/<name>.jpg
    ROOT/labels/<name>/<name>_lbl00.png ... <name>_lbl10.png   one 8-bit map per label
    ROOT/exemplars.txt   "index , name" lines: the 2,000 training images ("train")
    ROOT/tuning.txt      the 230 tuning images ("val")
    ROOT/testing.txt     the 100 test images ("test")

Each ``_lblXX.png`` is the probability of label ``XX`` at every pixel (0 is p = 0, 255 is
p = 1), in the order of :data:`~lightning_deepvision.datasets.face_parts.HELEN_LABELS`; the
label map is their per-pixel arg-max. HELEN is licensed and never downloaded automatically.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import torch

from lightning_deepvision.datasets.annotation_text import read_text_lines
from lightning_deepvision.datasets.bad_samples import OnBadSample, SkipsBadSamples
from lightning_deepvision.datasets.errors import (
    DatasetNotFoundError,
    MalformedAnnotationError,
    MissingImageError,
)
from lightning_deepvision.datasets.face_parts import HELEN_LABELS
from lightning_deepvision.datasets.image_io import read_image
from lightning_deepvision.datasets.parsing_masks import check_mask_size, listed_names

__all__ = ["HELEN_LIST_FILES", "HELEN_URL", "HelenParsing", "helen_label_path"]

HELEN_URL = "http://pages.cs.wisc.edu/~lizhang/projects/face-parsing/"
#: ``split`` -> the list file that defines it.
HELEN_LIST_FILES: dict[str, str] = {
    "train": "exemplars.txt",
    "val": "tuning.txt",
    "test": "testing.txt",
}
Split = Literal["train", "val", "test"]
_LINE = "'<index> , <image name>' (e.g. '1 , 100032540_1')"


def helen_label_path(root: str | os.PathLike[str], name: str, label: int) -> Path:
    """``ROOT/labels/<name>/<name>_lbl<label:02d>.png``."""
    return Path(root) / "labels" / name / f"{name}_lbl{label:02d}.png"


def _how_to_obtain(missing: str) -> str:
    return (
        f"HELEN is not downloaded automatically (see {HELEN_URL}): put the images in "
        f"ROOT/images/<name>.jpg, the label maps in ROOT/labels/<name>/<name>_lblXX.png and the "
        f"list files (exemplars.txt, tuning.txt, testing.txt) in ROOT; {missing} is missing."
    )


def read_helen_list(path: Path) -> list[tuple[str, int]]:
    """Image names of a HELEN list file with the 1-based line of each.

    Raises:
        MalformedAnnotationError: A line is not ``index , name`` or names a path.
    """
    names: list[tuple[str, int]] = []
    for number, line in read_text_lines(path):
        if not line.strip():
            continue
        fields = [field.strip() for field in line.split(",")]
        if len(fields) != 2 or not fields[0].isdigit() or not fields[1]:
            raise MalformedAnnotationError(path, number, line, _LINE)
        name = fields[1]
        if name in (".", "..") or "/" in name or "\\" in name:
            raise MalformedAnnotationError(path, number, line, f"{_LINE} with a file name")
        names.append((name, number))
    return names


class HelenParsing(SkipsBadSamples):
    """HELEN images and their 11-label parsing masks, by split.

    The list file is read and every listed image and label map is checked to exist at
    construction (one directory listing per folder, no decoding); images and maps are decoded
    in ``__getitem__``. A sample holds ``image`` (``tv_tensors.Image``, uint8 3xHxW), ``mask``
    (``tv_tensors.Mask``, int64 HxW, the arg-max of the 11 probability maps) and ``index``.

    Args:
        root: The HELEN directory (see the module docstring for the layout).
        split: ``"train"`` (``exemplars.txt``), ``"val"`` (``tuning.txt``) or ``"test"``
            (``testing.txt``).
        transforms: Applied to the whole sample dict (v2 transforms move ``image`` and
            ``mask`` together; a flip must swap left/right labels, see
            :mod:`lightning_deepvision.transforms.parsing`).
        on_bad_sample: ``"raise"`` (default) or ``"skip"``: what an unreadable image file does
            (see :mod:`~lightning_deepvision.datasets.bad_samples`).

    Attributes:
        class_names: :data:`HELEN_LABELS`.
        names: The split's image names, in list order.

    Raises:
        ValueError: On an unknown split.
        DatasetNotFoundError: ``root``, ``images/``, ``labels/`` or the list file is missing.
        MalformedAnnotationError: A list line is malformed.
        MissingImageError: A listed image or label map is missing (naming the list line).
        InvalidMaskError: In ``__getitem__``, a label map whose size differs from its image.
    """

    class_names: tuple[str, ...] = HELEN_LABELS

    def __init__(
        self,
        root: str | os.PathLike[str],
        split: Split = "train",
        transforms: Callable[[dict[str, Any]], Any] | None = None,
        on_bad_sample: OnBadSample = "raise",
    ) -> None:
        if split not in HELEN_LIST_FILES:
            raise ValueError(f"split must be one of {sorted(HELEN_LIST_FILES)}, got {split!r}")
        self.root = Path(root)
        self.split = split
        self.transforms = transforms
        list_file = self.root / HELEN_LIST_FILES[split]
        for needed in (self.root, self.root / "images", self.root / "labels", list_file):
            if not needed.exists():
                raise DatasetNotFoundError("HELEN", self.root, needed, _how_to_obtain(str(needed)))
        self.list_file = list_file
        images = listed_names(self.root / "images")
        self.names: list[str] = []
        for name, line in read_helen_list(list_file):
            where = f"{list_file}:{line}"
            if f"{name}.jpg" not in images:
                raise MissingImageError(self.root / "images" / f"{name}.jpg", where)
            maps = listed_names(self.root / "labels" / name)
            for label in range(len(HELEN_LABELS)):
                path = helen_label_path(self.root, name, label)
                if path.name not in maps:
                    raise MissingImageError(path, where)
            self.names.append(name)
        self.on_bad_sample = on_bad_sample

    @property
    def num_classes(self) -> int:
        """Number of mask labels (11)."""
        return len(self.class_names)

    def __len__(self) -> int:
        return len(self.names)

    def image_path(self, index: int) -> Path:
        """The image file of sample ``index`` (predictions are traced back to it)."""
        return self.root / "images" / f"{self.names[index]}.jpg"

    def get_sample(self, index: int) -> dict[str, Any]:
        """Sample ``index``, transforms applied (``__getitem__`` applies ``on_bad_sample``)."""
        name = self.names[index]
        image_path = self.root / "images" / f"{name}.jpg"
        image = read_image(image_path, referenced_by=str(self.list_file))
        maps = []
        for label in range(len(HELEN_LABELS)):
            path = helen_label_path(self.root, name, label)
            # read_image gives three equal channels for a grey PNG: keep one.
            probability = read_image(path, referenced_by=str(self.list_file))[0]
            maps.append(check_mask_size(probability, image, path, image_path))
        # Ties (all maps 0 where the annotators drew nothing) go to the first label, background.
        mask = torch.stack(maps).argmax(dim=0)
        sample: dict[str, Any] = {
            "image": image,
            "mask": check_mask_size(mask, image, image_path, image_path),
            "index": torch.tensor(index, dtype=torch.int64),
        }
        if self.transforms is not None:
            sample = self.transforms(sample)
        return sample

    def __repr__(self) -> str:
        return f"{type(self).__name__}(root={str(self.root)!r}, split={self.split!r})"
