"""Labeled Faces in the Wild (LFW): verification pairs and people, from the official files.

Huang, Ramesh, Berg, Learned-Miller, "Labeled Faces in the Wild: A Database for Studying Face
Recognition in Unconstrained Environments", UMass Amherst Technical Report 07-49, 2007.

On-disk layout (the official archives, or torchvision's ``<root>/lfw-py/`` layout)::

    ROOT/pairs.txt                       View 2: 10 folds x (300 matched + 300 mismatched)
    ROOT/pairsDevTrain.txt               View 1 training pairs (1,100 + 1,100)
    ROOT/pairsDevTest.txt                View 1 test pairs (500 + 500)
    ROOT/people.txt                      View 2 people, per fold
    ROOT/peopleDevTrain.txt              View 1 people
    ROOT/peopleDevTest.txt
    ROOT/lfw/<Name>/<Name>_0001.jpg      "original" images (lfw.tgz)
    ROOT/lfw_funneled/...                "funneled" (lfw-funneled.tgz)
    ROOT/lfw-deepfunneled/...            "deepfunneled" (lfw-deepfunneled.tgz)

The list files are parsed and validated at construction (every line, every count and the
existence of every referenced image file); images are decoded only in ``__getitem__``.
LFW is licensed for research and is never downloaded automatically.

The list files are parsed in :mod:`~lightning_deepvision.datasets.lfw_lists`, the layout is
found in :mod:`~lightning_deepvision.datasets.lfw_layout`; their public names are importable
from here too.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

import torch

from lightning_deepvision.datasets.errors import DatasetNotFoundError
from lightning_deepvision.datasets.image_io import IMAGE_EXTENSIONS, has_image_extension, read_image
from lightning_deepvision.datasets.image_list import LabelledImageList
from lightning_deepvision.datasets.lfw_layout import (
    IMAGE_SETS,
    LFW_URL,
    PAIRS_FILES,
    PEOPLE_FILES,
    _how_to_obtain,
    _LFWBase,
    lfw_image_path,
)
from lightning_deepvision.datasets.lfw_lists import (
    PairEntry,
    PersonEntry,
    read_lfw_pairs_file,
    read_lfw_people_file,
)

__all__ = [
    "IMAGE_SETS",
    "LFW_URL",
    "PAIRS_FILES",
    "PEOPLE_FILES",
    "LFWPairs",
    "LFWPeople",
    "PairEntry",
    "PersonEntry",
    "lfw_image_path",
    "read_lfw_pairs_file",
    "read_lfw_people_file",
]


class LFWPairs(_LFWBase):
    """LFW verification pairs (View 2 ten folds, or View 1 train/test).

    Huang et al., "Labeled Faces in the Wild", UMass TR 07-49, 2007. The DeepID2/DeepID2+ papers
    report the mean accuracy over the 10 folds of View 2 (``split="10fold"``).

    Each sample is ``{"image1", "image2", "same", "fold", "index"}``: two ``uint8`` 3x250x250
    ``tv_tensors.Image`` (before ``transforms``), ``same`` (``int64`` 1 for a matched pair),
    ``fold`` (``int64``, 0..9 for View 2, 0 for View 1) and the global pair ``index``.

    Args:
        root: Directory holding the pairs file and an image folder (or ``<root>/lfw-py/``).
        split: ``"10fold"`` (``pairs.txt``), ``"train"`` (``pairsDevTrain.txt``) or ``"test"``
            (``pairsDevTest.txt``).
        image_set: ``"original"`` (``lfw/``), ``"funneled"`` (``lfw_funneled/``) or
            ``"deepfunneled"`` (``lfw-deepfunneled/``); ``None`` takes the first present in
            that order.
        transforms: Applied once to the whole sample dict. A ``torchvision.transforms.v2``
            pipeline transforms both ``tv_tensors.Image`` entries and passes the plain tensors
            (``same``, ``fold``, ``index``) through, so a deterministic evaluation pipeline
            gives exactly what it gives on each image alone; a random transform draws one set of
            parameters per call, i.e. the same flip or crop for both images of the pair.
        on_bad_sample: ``"raise"`` (default) or ``"skip"``: what an unreadable image file does
            (see :mod:`~lightning_deepvision.datasets.bad_samples`).

    Attributes:
        pairs: ``(path1, path2, same, fold)`` per pair, ``same`` being 0 or 1.
        entries: The parsed :class:`PairEntry` rows.
        num_folds: Number of folds (10 for View 2, 1 for View 1).
        list_file: The pairs file read.
        image_dir: The image folder used.

    Raises:
        DatasetNotFoundError: ``root``, the pairs file or the image folder is missing.
        MalformedAnnotationError: A malformed line or inconsistent counts in the pairs file.
        MissingImageError: A pair names an image file that does not exist (names the image and
            the pairs-file line).
    """

    list_files = PAIRS_FILES

    def _index(self) -> None:
        assert self.list_file is not None  # required
        self.entries = read_lfw_pairs_file(self.list_file)
        self.num_folds = self.entries[-1].fold + 1 if self.entries else 0
        self.pairs: list[tuple[Path, Path, int, int]] = []
        for e in self.entries:
            where = f"{self.list_file}:{e.line_number}"
            self.pairs.append(
                (
                    self._checked_path(e.name1, e.number1, where),
                    self._checked_path(e.name2, e.number2, where),
                    int(e.same),
                    e.fold,
                )
            )

    def __len__(self) -> int:
        return len(self.pairs)

    def path(self, index: int) -> str:
        """The two image files of pair ``index`` as ``<path1>|<path2>`` (to trace predictions)."""
        path1, path2, _, _ = self.pairs[index]
        return f"{path1}|{path2}"

    def get_sample(self, index: int) -> dict[str, Any]:
        """Sample ``index``, transforms applied (``__getitem__`` applies ``on_bad_sample``)."""
        path1, path2, same, fold = self.pairs[index]
        where = f"{self.list_file}:{self.entries[index].line_number}"
        sample: dict[str, Any] = {
            "image1": read_image(path1, referenced_by=where),
            "image2": read_image(path2, referenced_by=where),
            "same": torch.tensor(same, dtype=torch.int64),
            "fold": torch.tensor(fold, dtype=torch.int64),
            "index": torch.tensor(index, dtype=torch.int64),
        }
        if self.transforms is not None:
            sample = self.transforms(sample)
        return sample


class LFWPeople(_LFWBase, LabelledImageList):
    """LFW images with identity labels, grouped by the folds of the people files.

    Huang et al., "Labeled Faces in the Wild", UMass TR 07-49, 2007. Useful for the
    "unrestricted" protocol and for feature extraction. Each sample is ``{"image", "label",
    "fold"}``: a ``uint8`` 3xHxW ``tv_tensors.Image`` (before ``transforms``), the person's
    index in :attr:`classes` (names sorted) and the fold.

    If the people file is absent and ``split="10fold"``, every identity directory of the image
    folder is listed instead (all images ending in an image extension, one fold); ``list_file``
    is then ``None``. View 1 (``"train"``/``"test"``) is defined by its file, so those splits
    require it: falling back would silently make train and test identical.

    Args:
        root: Directory holding the people file and an image folder (or ``<root>/lfw-py/``).
        split: ``"10fold"`` (``people.txt``), ``"train"`` (``peopleDevTrain.txt``) or
            ``"test"`` (``peopleDevTest.txt``).
        image_set: As for :class:`LFWPairs`.
        transforms: Applied to the sample dict.
        on_bad_sample: ``"raise"`` (default) or ``"skip"``: what an unreadable image file does
            (see :mod:`~lightning_deepvision.datasets.bad_samples`).

    Attributes:
        classes: Person names, sorted; ``label`` indexes this list.
        samples: Image paths.
        targets: Label per sample (no decoding; for samplers).
        folds: Fold per sample.
        num_classes: ``len(classes)``.
        num_folds: Number of folds.

    Raises:
        DatasetNotFoundError: ``root``, the image folder, or the View 1 people file is missing.
        MalformedAnnotationError: A malformed people file.
        MissingImageError: A people row counts more images than exist on disk.
    """

    list_files = PEOPLE_FILES

    def _list_file_required(self, split: str) -> bool:
        # View 1 is defined by its file; View 2 falls back to listing the image folder.
        return split != "10fold"

    def _index(self) -> None:
        split = self.split
        # A listed image that has disappeared since construction names the people file.
        self.referenced_by = str(self.list_file or "LFW")
        if self.list_file is not None:
            layout: Literal["folds", "single"] = "folds" if split == "10fold" else "single"
            people = read_lfw_people_file(self.list_file, layout=layout)
            rows: list[tuple[str, int, list[Path]]] = []
            for person in people:
                where = f"{self.list_file}:{person.line_number}"
                paths = [
                    self._checked_path(person.name, n, where)
                    for n in range(1, person.num_images + 1)
                ]
                rows.append((person.name, person.fold, paths))
            self.num_folds = people[-1].fold + 1 if people else 0
        else:
            rows = []
            for entry in sorted(os.scandir(self.image_dir), key=lambda e: e.name):
                if entry.is_dir() and not entry.name.startswith("."):
                    files = sorted(
                        f
                        for f in os.listdir(entry.path)
                        if not f.startswith(".") and has_image_extension(f, IMAGE_EXTENSIONS)
                    )
                    if files:
                        rows.append((entry.name, 0, [Path(entry.path) / f for f in files]))
            if not rows:
                raise DatasetNotFoundError(
                    "LFW",
                    self.root,
                    self.image_dir / "<Name>" / "<Name>_0001.jpg",
                    _how_to_obtain(PEOPLE_FILES[split]),
                )
            self.num_folds = 1
        self.classes: list[str] = sorted({name for name, _, _ in rows})
        label_of = {name: i for i, name in enumerate(self.classes)}
        self.samples: list[Path] = []
        self.targets: list[int] = []
        self.folds: list[int] = []
        for name, fold, paths in rows:
            self.samples.extend(paths)
            self.targets.extend([label_of[name]] * len(paths))
            self.folds.extend([fold] * len(paths))

    def load_sample(self, index: int) -> dict[str, Any]:
        """The sample before transforms: ``{"image", "label", "fold"}``.

        Args:
            index: Position in :attr:`samples`.

        Returns:
            The image and label of :meth:`LabelledImageList.load_sample
            <lightning_deepvision.datasets.image_list.LabelledImageList.load_sample>` and the
            ``int64`` fold of the person.
        """
        sample = super().load_sample(index)
        sample["fold"] = torch.tensor(self.folds[index], dtype=torch.int64)
        return sample
