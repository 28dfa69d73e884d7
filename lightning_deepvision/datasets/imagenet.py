"""ImageNet (ILSVRC-2012) classification, read from every layout its users have on disk.

Russakovsky et al., "ImageNet Large Scale Visual Recognition Challenge", IJCV 2015; the
1000-class ILSVRC-2012 set on which Krizhevsky, Sutskever, Hinton (NIPS 2012) trained AlexNet.

Layouts (``ROOT`` is the ``root`` argument)::

    ROOT/train/<wnid>/<wnid>_<n>.JPEG               ILSVRC2012_img_train.tar, unpacked
    ROOT/val/<wnid>/ILSVRC2012_val_<8 digits>.JPEG  validation sorted into class folders
                                                    (torchvision's layout; ROOT/meta.bin or the
                                                    devkit, when present, names the classes)
    ROOT/val/ILSVRC2012_val_<8 digits>.JPEG         flat validation (ILSVRC2012_img_val.tar) with
    ROOT/ILSVRC2012_devkit_t12/data/meta.mat        ILSVRC2012_devkit_t12.tar.gz unpacked
    ROOT/ILSVRC2012_devkit_t12/data/ILSVRC2012_validation_ground_truth.txt

    ROOT/ILSVRC/Data/CLS-LOC/train/<wnid>/*.JPEG    the Kaggle download
    ROOT/ILSVRC/Data/CLS-LOC/val/*.JPEG
    ROOT/LOC_synset_mapping.txt                     "<wnid> <words>", one line per class
    ROOT/LOC_val_solution.csv                       ImageId,PredictionString ("<wnid> x y x y"...)

Labels are indices into the **sorted wnids** in every layout (as torchvision's ``ImageFolder``
and ``ImageNet``), never the devkit's ILSVRC2012_ID, whose order differs: the ground truth's IDs
are mapped to wnids through ``meta.mat``. Files are indexed by a directory scan at construction
into a compact :class:`~lightning_deepvision.datasets.image_folder.ImageIndex`; no image is
opened before ``__getitem__``. scipy is imported only when ``meta.mat`` is read.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch

from lightning_deepvision.datasets.bad_samples import OnBadSample
from lightning_deepvision.datasets.errors import (
    MAT_FILE_ERRORS,
    DatasetNotFoundError,
    MalformedAnnotationError,
)
from lightning_deepvision.datasets.image_folder import (
    ImageIndex,
    IndexedImageDataset,
    check_same_classes,
    class_folders,
    index_class_folders,
    scan_directory,
)
from lightning_deepvision.datasets.image_io import IMAGE_EXTENSIONS

__all__ = [
    "DEVKIT_DIR",
    "KAGGLE_DIR",
    "ImageNet",
    "Synset",
    "read_devkit_ground_truth",
    "read_devkit_synsets",
    "read_kaggle_synsets",
    "read_kaggle_val_solution",
]

Split = Literal["train", "val"]
Layout = Literal["folders", "devkit", "kaggle"]

#: The devkit's data directory, relative to ``root``.
DEVKIT_DIR = Path("ILSVRC2012_devkit_t12") / "data"
DEVKIT_META = DEVKIT_DIR / "meta.mat"
DEVKIT_GROUND_TRUTH = DEVKIT_DIR / "ILSVRC2012_validation_ground_truth.txt"
#: The Kaggle download's image directory, relative to ``root``.
KAGGLE_DIR = Path("ILSVRC") / "Data" / "CLS-LOC"
KAGGLE_SYNSETS = Path("LOC_synset_mapping.txt")
KAGGLE_VAL_SOLUTION = Path("LOC_val_solution.csv")
# What torchvision.datasets.ImageNet writes: torch.save((wnid -> class names, val wnids)).
TORCHVISION_META = Path("meta.bin")

_VAL_NAME = re.compile(r"ILSVRC2012_val_(\d{8})\.[A-Za-z]+")
_WNID = re.compile(r"n\d{8}")

_HOW_TO_OBTAIN = (
    "ImageNet is not downloaded automatically (its terms require registration at "
    "https://image-net.org). Unpack ILSVRC2012_img_train.tar into ROOT/train/<wnid>/ (one tar "
    "per class inside it), ILSVRC2012_img_val.tar into ROOT/val/ and "
    "ILSVRC2012_devkit_t12.tar.gz into ROOT/, or sort the validation images into "
    "ROOT/val/<wnid>/; the Kaggle download (ROOT/ILSVRC/Data/CLS-LOC/, "
    "ROOT/LOC_synset_mapping.txt, ROOT/LOC_val_solution.csv) is read as it is."
)


@dataclass(frozen=True, slots=True)
class Synset:
    """One class of the devkit or of the Kaggle mapping.

    Attributes:
        wnid: WordNet id, e.g. ``"n01440764"``.
        words: Human-readable synonyms, e.g. ``"tench, Tinca tinca"``.
        ilsvrc_id: The devkit's ILSVRC2012_ID (1-based; 0 where the source has none).
    """

    wnid: str
    words: str
    ilsvrc_id: int = 0


def _lines(path: Path) -> Iterator[tuple[int, str]]:
    """``(1-based line number, line without its end)`` for every non-blank line of ``path``."""
    try:
        data = path.read_bytes()
    except IsADirectoryError as err:
        raise MalformedAnnotationError(path, 1, "", "a text file, not a directory") from err
    try:
        text = data.decode("utf-8")  # the whole file at once: 50,000 lines in milliseconds
    except UnicodeDecodeError as err:
        number = data.count(b"\n", 0, err.start) + 1
        raw = data.splitlines()[number - 1]
        raise MalformedAnnotationError(path, number, repr(raw), "UTF-8 text") from err
    for number, line in enumerate(text.splitlines(), start=1):
        if line and not line.isspace():
            yield number, line


def read_devkit_synsets(path: str | os.PathLike[str]) -> list[Synset]:
    """Read the 1000 leaf classes of the devkit's ``meta.mat`` (with :func:`scipy.io.loadmat`).

    ``synsets`` is a struct array of every synset of the ILSVRC hierarchy (fields
    ``ILSVRC2012_ID``, ``WNID``, ``words``, ``gloss``, ``num_children``, ...); the classes are
    its leaves (``num_children == 0``).

    Args:
        path: ``ILSVRC2012_devkit_t12/data/meta.mat``.

    Returns:
        The leaf synsets, in file order (ILSVRC2012_ID order, which is not sorted wnid order).

    Raises:
        FileNotFoundError: The file does not exist.
        ValueError: It is not a MATLAB file with that struct array.
    """
    # Only here: reading the devkit is the one use of scipy.
    from scipy.io import loadmat
    from scipy.io.matlab import MatReadError

    path = Path(path)
    expected = (
        "the devkit's meta.mat: a MATLAB file whose 'synsets' struct array has the fields "
        "ILSVRC2012_ID, WNID, words and num_children"
    )
    try:
        synsets = loadmat(path, squeeze_me=True)["synsets"]
        records = zip(
            np.atleast_1d(synsets["ILSVRC2012_ID"]),
            np.atleast_1d(synsets["WNID"]),
            np.atleast_1d(synsets["words"]),
            np.atleast_1d(synsets["num_children"]),
            strict=True,
        )
        leaves = [
            Synset(str(wnid), str(words), int(ilsvrc_id))
            for ilsvrc_id, wnid, words, children in records
            if int(children) == 0
        ]
    except FileNotFoundError:
        raise
    except (MatReadError, *MAT_FILE_ERRORS) as err:
        raise ValueError(f"cannot read {str(path)!r} as {expected}: {err}") from err
    if not leaves:
        raise ValueError(
            f"{str(path)!r} has no leaf synset (num_children == 0); expected {expected}"
        )
    return leaves


def read_devkit_ground_truth(path: str | os.PathLike[str], ids: set[int]) -> list[int]:
    """Read ``ILSVRC2012_validation_ground_truth.txt``: one ILSVRC2012_ID per line.

    Line ``i`` holds the class of ``ILSVRC2012_val_<i, 8 digits>.JPEG``.

    Args:
        path: The ground-truth file.
        ids: The ILSVRC2012_IDs of the leaf classes of ``meta.mat``.

    Returns:
        The ID of each validation image, in line order.

    Raises:
        FileNotFoundError: The file does not exist.
        MalformedAnnotationError: A line is not an integer, or not the ID of a leaf class (the
            error names the file and the line).
    """
    path = Path(path)
    labels: list[int] = []
    for number, line in _lines(path):
        if number != len(labels) + 1:
            raise MalformedAnnotationError(
                path, len(labels) + 1, "", "one ILSVRC2012_ID on every line (no blank lines)"
            )
        text = line.strip()
        value = int(text) if text.isascii() and text.isdigit() else None
        if value is None or value not in ids:
            raise MalformedAnnotationError(
                path,
                number,
                line,
                f"the ILSVRC2012_ID of one of the {len(ids)} leaf classes of "
                f"meta.mat ({min(ids)}..{max(ids)})",
            )
        labels.append(value)
    return labels


def read_kaggle_synsets(path: str | os.PathLike[str]) -> list[Synset]:
    """Read ``LOC_synset_mapping.txt``: ``<wnid> <words>`` on each line.

    Raises:
        FileNotFoundError: The file does not exist.
        MalformedAnnotationError: A line does not start with a wnid, or repeats one.
    """
    path = Path(path)
    synsets: list[Synset] = []
    seen: set[str] = set()
    for number, line in _lines(path):
        wnid, _, words = line.strip().partition(" ")
        if not _WNID.fullmatch(wnid) or wnid in seen:
            what = "a wnid not listed before" if wnid in seen else "a wnid"
            raise MalformedAnnotationError(
                path, number, line, f"'<wnid> <words>' starting with {what} (n + 8 digits)"
            )
        seen.add(wnid)
        synsets.append(Synset(wnid, words.strip()))
    return synsets


def read_kaggle_val_solution(path: str | os.PathLike[str], wnids: set[str]) -> dict[str, str]:
    """Read ``LOC_val_solution.csv``: ``ImageId,PredictionString`` with boxes per image.

    The prediction string repeats ``<wnid> <xmin> <ymin> <xmax> <ymax>`` (one group per box);
    the image's label is the first wnid.

    Args:
        path: The solution file.
        wnids: The wnids of ``LOC_synset_mapping.txt``.

    Returns:
        Image id (e.g. ``"ILSVRC2012_val_00000001"``) → wnid.

    Raises:
        FileNotFoundError: The file does not exist.
        MalformedAnnotationError: The header is missing, a row is malformed, repeats an image
            or names an unknown wnid (the error names the file and the line).
    """
    path = Path(path)
    lines = _lines(path)
    first = next(lines, None)
    if first is None or first[1].strip().replace(" ", "") != "ImageId,PredictionString":
        number, line = first if first is not None else (1, "")
        raise MalformedAnnotationError(path, number, line, "the header 'ImageId,PredictionString'")
    solution: dict[str, str] = {}
    for number, line in lines:
        image_id, comma, prediction = line.partition(",")
        # Only the first wnid is read (the boxes are for localisation): splitting the whole
        # prediction string of every row would cost more than the rest of the indexing.
        leading = prediction.split(None, 1)
        image_id = image_id.strip()
        if not comma or not image_id or not leading:
            raise MalformedAnnotationError(
                path, number, line, "'<ImageId>,<wnid> <xmin> <ymin> <xmax> <ymax> ...'"
            )
        if leading[0] not in wnids:
            raise MalformedAnnotationError(
                path, number, line, f"a wnid of {KAGGLE_SYNSETS} (not {leading[0]!r})"
            )
        if image_id in solution:
            raise MalformedAnnotationError(path, number, line, f"one row per image ({image_id})")
        solution[image_id] = leading[0]
    return solution


class ImageNet(IndexedImageDataset):
    """ILSVRC-2012 classification images with labels in sorted wnid order, in any layout.

    The layout is found from what is on disk: ``ROOT/ILSVRC/Data/CLS-LOC`` means the Kaggle
    download; otherwise ``ROOT/train`` and ``ROOT/val``. A validation folder with class folders
    is read like the training one; a flat one takes its labels from the devkit (or, for Kaggle,
    from ``LOC_val_solution.csv``).

    Class sets are checked against what else is present, so that a label means the same class
    in both splits: class folders against the other split's class folders (either split) and,
    for Kaggle, against ``LOC_synset_mapping.txt``; a flat validation split's classes (the
    devkit's leaves or the mapping's wnids) against the training folders.

    Each sample is ``{"image", "label"}``: a ``uint8`` 3xHxW ``tv_tensors.Image`` (grey and CMYK
    JPEGs become RGB) and the ``int64`` label.

    Args:
        root: The ImageNet directory (see the module docstring for the layouts).
        split: ``"train"`` or ``"val"``.
        transforms: Applied to the sample dict.
        on_bad_sample: ``"raise"`` (default) or ``"skip"``: what an unreadable image file does
            (see :mod:`~lightning_deepvision.datasets.bad_samples`).

    Attributes:
        classes: wnids, sorted: ``classes[label]``.
        class_names: Human-readable words of each class (from the devkit, the Kaggle mapping
            or torchvision's ``meta.bin``; the wnid itself where none is present).
        layout: ``"folders"`` (class folders for this split), ``"devkit"`` or ``"kaggle"``
            (flat validation labelled by the devkit or by ``LOC_val_solution.csv``); a Kaggle
            training split is ``"folders"`` with :attr:`kaggle` set.
        kaggle: Whether the tree is the Kaggle download.

    Raises:
        ValueError: An unknown split, or a flat validation file not named
            ``ILSVRC2012_val_<8 digits>``, or a devkit file that cannot be read.
        DatasetNotFoundError: ``root``, the split's folder or a devkit / Kaggle file it needs is
            missing, or the split holds no image.
        MalformedAnnotationError: A ground-truth / solution line is malformed or names an
            unknown class (with file and line).
        ClassSetMismatchError: The class sets of the splits differ.
    """

    def __init__(
        self,
        root: str | os.PathLike[str],
        split: Split = "train",
        transforms: Callable[[dict[str, Any]], Any] | None = None,
        on_bad_sample: OnBadSample = "raise",
    ) -> None:
        if split not in ("train", "val"):
            raise ValueError(f"split must be 'train' or 'val', got {split!r}")
        self.root = Path(root)
        self.split = split
        self.transforms = transforms
        if not self.root.is_dir():
            raise DatasetNotFoundError("ImageNet", self.root, self.root, _HOW_TO_OBTAIN)
        self.kaggle = (self.root / KAGGLE_DIR).is_dir()
        base = self.root / KAGGLE_DIR if self.kaggle else self.root
        self.image_dir = base / split
        if not self.image_dir.is_dir():
            raise DatasetNotFoundError("ImageNet", self.root, self.image_dir, _HOW_TO_OBTAIN)
        self._synsets: dict[str, str] | None = None
        self.classes, flat_files = scan_directory(self.image_dir, IMAGE_EXTENSIONS)
        other = base / ("val" if split == "train" else "train")
        other_classes = class_folders(other) if other.is_dir() else []
        if self.classes:
            self.layout: Layout = "folders"
            if other_classes:  # a sorted val beside train (a flat val has no class folders)
                check_same_classes(self.image_dir, self.classes, other, other_classes)
            if self.kaggle and (self.root / KAGGLE_SYNSETS).is_file():
                synsets = read_kaggle_synsets(self.root / KAGGLE_SYNSETS)
                check_same_classes(
                    self.image_dir, self.classes, self.root / KAGGLE_SYNSETS, _wnids(synsets)
                )
                self._synsets = _words(synsets)
            self.index = index_class_folders(self.image_dir, self.classes, IMAGE_EXTENSIONS)
        elif split == "val":
            self.layout = "kaggle" if self.kaggle else "devkit"
            if self.kaggle:
                self.index = self._index_kaggle_val(flat_files)
            else:
                self.index = self._index_devkit_val(flat_files)
            if other_classes:
                source = self.root / (KAGGLE_SYNSETS if self.kaggle else DEVKIT_META)
                check_same_classes(other, other_classes, source, self.classes)
        else:
            self.layout = "folders"
            self.index = ImageIndex([], [], 0)
        if len(self.index) == 0:
            raise DatasetNotFoundError(
                "ImageNet",
                self.root,
                self.image_dir / ("<wnid>/*.JPEG" if split == "train" else "*.JPEG"),
                f"No image found in the {split} split. {_HOW_TO_OBTAIN}",
            )
        self.on_bad_sample = on_bad_sample

    # -- flat validation -------------------------------------------------------------------
    def _require(self, relative: Path) -> Path:
        path = self.root / relative
        if not path.is_file():
            raise DatasetNotFoundError(
                "ImageNet",
                self.root,
                path,
                f"The flat validation folder {str(self.image_dir)!r} is labelled by this file. "
                f"{_HOW_TO_OBTAIN}",
            )
        return path

    def _index_devkit_val(self, files: list[str]) -> ImageIndex:
        synsets = read_devkit_synsets(self._require(DEVKIT_META))
        ground_truth_path = self._require(DEVKIT_GROUND_TRUTH)
        self._synsets = _words(synsets)
        self.classes = sorted(_wnids(synsets))
        label_of = {wnid: label for label, wnid in enumerate(self.classes)}
        # The ground truth holds ILSVRC2012_IDs, numbered in the devkit's own order: map each
        # through its wnid to the sorted-wnid label.
        label_of_id = {s.ilsvrc_id: label_of[s.wnid] for s in synsets}
        ids = read_devkit_ground_truth(ground_truth_path, set(label_of_id))
        labels: list[int] = []
        for name in files:
            number = _val_number(self.image_dir, name)
            if number > len(ids):
                raise MalformedAnnotationError(
                    ground_truth_path,
                    len(ids) + 1,
                    "",
                    f"a line for {name} (line {number}): the file has only {len(ids)}",
                )
            labels.append(label_of_id[ids[number - 1]])
        return ImageIndex(files, labels, len(self.classes))

    def _index_kaggle_val(self, files: list[str]) -> ImageIndex:
        synsets = read_kaggle_synsets(self._require(KAGGLE_SYNSETS))
        solution_path = self._require(KAGGLE_VAL_SOLUTION)
        self._synsets = _words(synsets)
        self.classes = sorted(_wnids(synsets))
        label_of = {wnid: label for label, wnid in enumerate(self.classes)}
        solution = read_kaggle_val_solution(solution_path, set(label_of))
        labels: list[int] = []
        for name in files:
            wnid = solution.get(name.rsplit(".", 1)[0])
            if wnid is None:
                raise ValueError(
                    f"{str(solution_path)!r} has no row for the validation image "
                    f"{str(self.image_dir / name)!r}"
                )
            labels.append(label_of[wnid])
        return ImageIndex(files, labels, len(self.classes))

    # -- names -------------------------------------------------------------------------------
    @property
    def class_names(self) -> list[str]:
        """Human-readable words of each class, in label order (read on first use)."""
        if self._synsets is None:
            self._synsets = self._read_names()
        names = self._synsets
        return [names.get(wnid, wnid) for wnid in self.classes]

    def _read_names(self) -> dict[str, str]:
        if self.kaggle and (self.root / KAGGLE_SYNSETS).is_file():
            return _words(read_kaggle_synsets(self.root / KAGGLE_SYNSETS))
        if (self.root / DEVKIT_META).is_file():
            return _words(read_devkit_synsets(self.root / DEVKIT_META))
        if (self.root / TORCHVISION_META).is_file():
            wnid_to_names = torch.load(self.root / TORCHVISION_META, weights_only=True)[0]
            return {str(w): ", ".join(names) for w, names in wnid_to_names.items()}
        return {}


def _wnids(synsets: list[Synset]) -> list[str]:
    return [s.wnid for s in synsets]


def _words(synsets: list[Synset]) -> dict[str, str]:
    return {s.wnid: s.words for s in synsets}


def _val_number(directory: Path, name: str) -> int:
    """The 1-based number of a flat validation file, ``ILSVRC2012_val_<number>.JPEG``."""
    match = _VAL_NAME.fullmatch(name)
    if match is None:
        raise ValueError(
            f"{str(directory / name)!r} is not named like an ILSVRC2012 validation image "
            "(ILSVRC2012_val_<8 digits>.JPEG): the devkit's ground truth labels the flat "
            "validation folder by that number; move other files out of it"
        )
    return int(match.group(1))
