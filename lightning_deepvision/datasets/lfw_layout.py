"""LFW's on-disk layout: the list files of each split, the image folders, where they are found.

Huang, Ramesh, Berg, Learned-Miller, "Labeled Faces in the Wild: A Database for Studying Face
Recognition in Unconstrained Environments", UMass Amherst Technical Report 07-49, 2007.
:class:`_LFWBase` finds the root, the list file and the image folder of every LFW dataset
(:mod:`lightning_deepvision.datasets.lfw`, :mod:`~lightning_deepvision.datasets.lfw_parts`) and
checks that the images a list file names exist.
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar, Literal

from lightning_deepvision.datasets.bad_samples import OnBadSample, SkipsBadSamples
from lightning_deepvision.datasets.errors import (
    DatasetNotFoundError,
    MissingImageError,
)

__all__ = ["IMAGE_SETS", "LFW_URL", "PAIRS_FILES", "PEOPLE_FILES", "lfw_image_path"]

LFW_URL = "http://vis-www.cs.umass.edu/lfw/"

#: ``image_set`` name -> directory name, in the order searched when ``image_set=None``.
IMAGE_SETS: dict[str, str] = {
    "original": "lfw",
    "funneled": "lfw_funneled",
    "deepfunneled": "lfw-deepfunneled",
}
#: ``split`` -> pairs file. "10fold" is View 2; "train"/"test" are View 1 (development).
PAIRS_FILES: dict[str, str] = {
    "10fold": "pairs.txt",
    "train": "pairsDevTrain.txt",
    "test": "pairsDevTest.txt",
}
#: ``split`` -> people file.
PEOPLE_FILES: dict[str, str] = {
    "10fold": "people.txt",
    "train": "peopleDevTrain.txt",
    "test": "peopleDevTest.txt",
}
Split = Literal["10fold", "train", "test"]
# torchvision's LFW classes put everything under this sub-folder of the root they are given.
_TORCHVISION_SUBDIR = "lfw-py"


def _how_to_obtain(list_file: str) -> str:
    return (
        f"LFW is not downloaded automatically (see {LFW_URL}): download lfw.tgz (or "
        f"lfw-deepfunneled.tgz) and {list_file}, extract so that ROOT/lfw/<Name>/<Name>_0001.jpg "
        f"and ROOT/{list_file} exist (torchvision's ROOT/{_TORCHVISION_SUBDIR}/ layout is also "
        "accepted)."
    )


def lfw_image_path(image_dir: str | os.PathLike[str], name: str, number: int) -> Path:
    """Path of image ``number`` of ``name``: ``<image_dir>/<name>/<name>_<number:04d>.jpg``."""
    return Path(image_dir) / name / f"{name}_{number:04d}.jpg"


class _LFWBase(SkipsBadSamples, ABC):
    """Locating the root, list file and image directory; checking image files exist.

    Subclasses name their list files in ``list_files``, say whether the list file of a split is
    required and build their index in :meth:`_index`; the constructor (the same arguments for
    every LFW dataset) does the rest.
    """

    #: ``split`` -> the list file that defines it.
    list_files: ClassVar[dict[str, str]]

    def __init__(
        self,
        root: str | os.PathLike[str],
        split: Split = "10fold",
        image_set: str | None = None,
        transforms: Callable[[dict[str, Any]], Any] | None = None,
        on_bad_sample: OnBadSample = "raise",
    ) -> None:
        list_files = self.list_files
        if split not in list_files:
            raise ValueError(f"split must be one of {sorted(list_files)}, got {split!r}")
        if image_set is not None and image_set not in IMAGE_SETS:
            raise ValueError(
                f"image_set must be one of {list(IMAGE_SETS)} or None, got {image_set!r}"
            )
        self.root = Path(root)
        self.split = split
        list_file = list_files[split]
        if not self.root.is_dir():
            raise DatasetNotFoundError("LFW", self.root, self.root, _how_to_obtain(list_file))
        bases = [self.root, self.root / _TORCHVISION_SUBDIR]
        found = next((b / list_file for b in bases if (b / list_file).is_file()), None)
        if found is None and self._list_file_required(split):
            raise DatasetNotFoundError(
                "LFW", self.root, self.root / list_file, _how_to_obtain(list_file)
            )
        self.list_file: Path | None = found
        # Prefer the image folder beside the list file, then the other accepted base.
        if found is not None:
            bases.sort(key=lambda b: b != found.parent)
        wanted = [IMAGE_SETS[image_set]] if image_set is not None else list(IMAGE_SETS.values())
        image_dir = next((b / d for b in bases for d in wanted if (b / d).is_dir()), None)
        if image_dir is None:
            # Name every folder that would have been accepted, e.g. ROOT/{lfw,lfw_funneled,...}.
            alternatives = wanted[0] if len(wanted) == 1 else "{" + ",".join(wanted) + "}"
            missing = self.root / alternatives
            raise DatasetNotFoundError("LFW", self.root, missing, _how_to_obtain(list_file))
        self.image_dir: Path = image_dir
        self.image_set = next(k for k, v in IMAGE_SETS.items() if v == image_dir.name)
        self.transforms = transforms
        self._listing: dict[str, frozenset[str]] = {}
        self._paths: dict[tuple[str, int], Path] = {}
        self._index()
        # The caches only serve the existence checks of construction.
        self._listing.clear()
        self._paths.clear()
        self.on_bad_sample = on_bad_sample

    def _list_file_required(self, split: str) -> bool:
        """Whether a missing list file of ``split`` is an error (else :meth:`_index` copes)."""
        return True

    @abstractmethod
    def _index(self) -> None:
        """Build the index from ``self.list_file``, checking each image with :meth:`_checked_path`.

        ``self.list_file`` is ``None`` when the file is absent and not required.
        """

    def _files_of(self, name: str) -> frozenset[str]:
        # One cached directory listing per person rather than a stat() per reference: the
        # 12,000 image references of View 2 fall in ~4,300 person folders.
        files = self._listing.get(name)
        if files is None:
            try:
                files = frozenset(os.listdir(self.image_dir / name))
            except (FileNotFoundError, NotADirectoryError):
                files = frozenset()
            self._listing[name] = files
        return files

    def _checked_path(self, name: str, number: int, referenced_by: str) -> Path:
        path = self._paths.get((name, number))
        if path is None:
            file_name = f"{name}_{number:04d}.jpg"
            if file_name not in self._files_of(name):
                raise MissingImageError(self.image_dir / name / file_name, referenced_by)
            # Built once per image (View 2 names most images twice or more): pathlib's parsing
            # was the bulk of construction time at full LFW scale.
            path = self._paths[(name, number)] = self.image_dir / name / file_name
        return path
