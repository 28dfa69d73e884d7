"""LFW Part Labels: hair / skin / background masks of funneled LFW images.

Kae, Sohn, Lee, Learned-Miller, "Augmenting CRFs with Boltzmann Machine Shape Priors for Image
Labeling", CVPR 2013 (the part-label set of 2,927 LFW images). On-disk layout::

    ROOT/parts_train.txt          "<Name> <number>" lines (1,500 images)
    ROOT/parts_validation.txt     (500)
    ROOT/parts_test.txt           (927)
    ROOT/parts_lfw_funneled_gt_images/<Name>_<NNNN>.ppm   red hair, green skin, blue background
    ROOT/lfw_funneled/<Name>/<Name>_<NNNN>.jpg            the LFW funneled images

The images are read from the LFW funneled tree as :mod:`lightning_deepvision.datasets.lfw`
reads it (``ROOT/lfw-py/`` is accepted too). Nothing is downloaded automatically.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal, cast

import torch
from torch import Tensor

from lightning_deepvision.datasets.annotation_text import read_text_lines
from lightning_deepvision.datasets.bad_samples import OnBadSample
from lightning_deepvision.datasets.errors import (
    DatasetNotFoundError,
    MalformedAnnotationError,
    MissingImageError,
)
from lightning_deepvision.datasets.image_io import read_image
from lightning_deepvision.datasets.lfw_layout import _LFWBase
from lightning_deepvision.datasets.lfw_lists import _positive_int
from lightning_deepvision.datasets.parsing_masks import (
    InvalidMaskError,
    check_mask_size,
    listed_names,
)

__all__ = [
    "LFW_PARTS_COLOURS",
    "LFW_PARTS_GT_DIR",
    "LFW_PARTS_LABELS",
    "LFW_PARTS_LIST_FILES",
    "LFW_PARTS_URL",
    "LFWParts",
    "decode_parts_ground_truth",
]

LFW_PARTS_URL = "http://vis-www.cs.umass.edu/lfw/part_labels/"
LFW_PARTS_GT_DIR = "parts_lfw_funneled_gt_images"
#: ``split`` -> list file.
LFW_PARTS_LIST_FILES: dict[str, str] = {
    "train": "parts_train.txt",
    "val": "parts_validation.txt",
    "test": "parts_test.txt",
}
#: Mask labels 0..2.
LFW_PARTS_LABELS: tuple[str, ...] = ("background", "skin", "hair")
#: The ground-truth colour of each label of :data:`LFW_PARTS_LABELS`.
LFW_PARTS_COLOURS: tuple[tuple[int, int, int], ...] = ((0, 0, 255), (0, 255, 0), (255, 0, 0))
Split = Literal["train", "val", "test"]
_LINE = "'<Name> <image number>' (e.g. 'Aaron_Eckhart 1')"


def _how_to_obtain(missing: str | Path) -> str:
    return (
        f"LFW Part Labels are not downloaded automatically (see {LFW_PARTS_URL}): extract "
        f"parts_lfw_funneled_gt_images.tgz and the parts_*.txt lists into ROOT, and LFW's "
        f"lfw-funneled.tgz so that ROOT/lfw_funneled/<Name>/<Name>_0001.jpg exists; "
        f"{str(missing)!r} is missing."
    )


def decode_parts_ground_truth(image: Tensor, path: str | os.PathLike[str]) -> Tensor:
    """The int64 label map of a colour-coded ground-truth image ``(3, H, W)``.

    Raises:
        InvalidMaskError: A pixel has a colour other than the three of
            :data:`LFW_PARTS_COLOURS` (naming the file, the first such pixel and its colour).
    """
    pixels = image.to(torch.int64)
    code = (pixels[0] << 16) | (pixels[1] << 8) | pixels[2]
    mask = torch.full(code.shape, -1, dtype=torch.int64)
    for label, (r, g, b) in enumerate(LFW_PARTS_COLOURS):
        mask[code == ((r << 16) | (g << 8) | b)] = label
    unknown = (mask < 0).nonzero()
    if unknown.numel():
        y, x = (int(v) for v in unknown[0])
        colour = tuple(int(c) for c in image[:, y, x])
        raise InvalidMaskError(
            path,
            f"{unknown.shape[0]} pixels have a colour that is none of blue (0, 0, 255) "
            f"background, green (0, 255, 0) skin, red (255, 0, 0) hair; the first is at "
            f"(x={x}, y={y}): {colour}",
        )
    return mask


class LFWParts(_LFWBase):
    """LFW Part Labels: funneled LFW images with background / skin / hair masks.

    The list file is parsed and every listed image and ground-truth file checked to exist at
    construction; decoding happens in ``__getitem__``. A sample holds ``image``
    (``tv_tensors.Image``, uint8 3x250x250), ``mask`` (``tv_tensors.Mask``, int64 HxW, labels
    of :data:`LFW_PARTS_LABELS`), ``index`` and ``path`` (the image file, as a string).

    Args:
        root: Directory holding the lists, ``parts_lfw_funneled_gt_images/`` and the LFW tree.
        split: ``"train"``, ``"val"`` (``parts_validation.txt``) or ``"test"``.
        image_set: The LFW image folder (``"funneled"``: the part labels were drawn on it).
        transforms: Applied to the whole sample dict.
        on_bad_sample: ``"raise"`` (default) or ``"skip"``: what an unreadable image file does
            (see :mod:`~lightning_deepvision.datasets.bad_samples`).

    Attributes:
        class_names: :data:`LFW_PARTS_LABELS`.
        items: ``(image path, ground-truth path, list line)`` per sample.

    Raises:
        DatasetNotFoundError: ``root``, the list file, the ground-truth folder or the image
            folder is missing.
        MalformedAnnotationError: A list line is not ``<Name> <number>``.
        MissingImageError: A listed image or ground-truth file is missing (naming the line).
        InvalidMaskError: In ``__getitem__``, a ground truth with another colour or size.
    """

    list_files = LFW_PARTS_LIST_FILES
    class_names: tuple[str, ...] = LFW_PARTS_LABELS

    def __init__(
        self,
        root: str | os.PathLike[str],
        split: Split = "train",
        image_set: str | None = "funneled",
        transforms: Callable[[dict[str, Any]], Any] | None = None,
        on_bad_sample: OnBadSample = "raise",
    ) -> None:
        root = Path(root)
        if split in LFW_PARTS_LIST_FILES:
            # Named here with this dataset's own instructions (the LFW base speaks of pairs).
            for needed in (root, root / LFW_PARTS_GT_DIR):
                if not needed.is_dir():
                    raise DatasetNotFoundError(
                        "LFW Part Labels", root, needed, _how_to_obtain(needed)
                    )
            list_file = root / LFW_PARTS_LIST_FILES[split]
            if not list_file.is_file():
                raise DatasetNotFoundError(
                    "LFW Part Labels", root, list_file, _how_to_obtain(list_file)
                )
        super().__init__(
            root,
            split=cast(Any, split),
            image_set=image_set,
            transforms=transforms,
            on_bad_sample=on_bad_sample,
        )

    def _index(self) -> None:
        assert self.list_file is not None  # required
        gt_dir = self.root / LFW_PARTS_GT_DIR
        ground_truths = listed_names(gt_dir)
        self.items: list[tuple[Path, Path, str]] = []
        for number, line in read_text_lines(self.list_file):
            fields = line.split()
            if not fields:
                continue
            if len(fields) != 2 or _positive_int(fields[1]) is None:
                raise MalformedAnnotationError(self.list_file, number, line, _LINE)
            name, image_number = fields[0], int(fields[1])
            if name in (".", "..") or "/" in name or "\\" in name:
                raise MalformedAnnotationError(self.list_file, number, line, f"{_LINE}, a name")
            where = f"{self.list_file}:{number}"
            image = self._checked_path(name, image_number, where)
            truth = f"{name}_{image_number:04d}.ppm"
            if truth not in ground_truths:
                raise MissingImageError(gt_dir / truth, where)
            self.items.append((image, gt_dir / truth, where))

    @property
    def num_classes(self) -> int:
        """Number of mask labels (3)."""
        return len(self.class_names)

    def __len__(self) -> int:
        return len(self.items)

    def get_sample(self, index: int) -> dict[str, Any]:
        """Sample ``index``, transforms applied (``__getitem__`` applies ``on_bad_sample``)."""
        image_path, truth_path, where = self.items[index]
        image = read_image(image_path, referenced_by=where)
        mask = decode_parts_ground_truth(read_image(truth_path, referenced_by=where), truth_path)
        sample: dict[str, Any] = {
            "image": image,
            "mask": check_mask_size(mask, image, truth_path, image_path),
            "index": torch.tensor(index, dtype=torch.int64),
            "path": str(image_path),
        }
        if self.transforms is not None:
            sample = self.transforms(sample)
        return sample

    def __repr__(self) -> str:
        return f"{type(self).__name__}(root={str(self.root)!r}, split={self.split!r})"
