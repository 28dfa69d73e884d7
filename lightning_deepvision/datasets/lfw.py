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
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal

import torch

from lightning_deepvision.datasets.annotation_text import read_text_lines
from lightning_deepvision.datasets.bad_samples import OnBadSample, SkipsBadSamples
from lightning_deepvision.datasets.errors import (
    DatasetNotFoundError,
    MalformedAnnotationError,
    MissingImageError,
)
from lightning_deepvision.datasets.image_io import IMAGE_EXTENSIONS, has_image_extension, read_image
from lightning_deepvision.datasets.image_list import LabelledImageList

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

_PAIRS_HEADER = (
    "a header line '<folds>\\t<pairs per fold>' (e.g. '10\\t300', View 2) or a single pair "
    "count (e.g. '1100', View 1)"
)
_MATCHED = "a matched pair 'name\\tn1\\tn2' (3 fields)"
_MISMATCHED = "a mismatched pair 'name1\\tn1\\tname2\\tn2' (4 fields)"


def _how_to_obtain(list_file: str) -> str:
    return (
        f"LFW is not downloaded automatically (see {LFW_URL}): download lfw.tgz (or "
        f"lfw-deepfunneled.tgz) and {list_file}, extract so that ROOT/lfw/<Name>/<Name>_0001.jpg "
        f"and ROOT/{list_file} exist (torchvision's ROOT/{_TORCHVISION_SUBDIR}/ layout is also "
        "accepted)."
    )


@dataclass(frozen=True)
class PairEntry:
    """One line of an LFW pairs file.

    Attributes:
        name1: First person (directory name, e.g. ``"Abel_Pacheco"``).
        number1: 1-based image number of the first person.
        name2: Second person (equal to ``name1`` for a matched pair).
        number2: Image number of the second person.
        same: Whether the pair shows the same person.
        fold: 0-based fold index (always 0 for View 1 files).
        line_number: 1-based line of the pairs file, for error messages.
    """

    name1: str
    number1: int
    name2: str
    number2: int
    same: bool
    fold: int
    line_number: int


@dataclass(frozen=True)
class PersonEntry:
    r"""One ``name\tcount`` row of an LFW people file.

    Attributes:
        name: The person (directory name).
        num_images: How many images the person has (``<Name>_0001.jpg`` … ``_<count>``).
        fold: 0-based fold index (always 0 for View 1 files).
        line_number: 1-based line of the people file.
    """

    name: str
    num_images: int
    fold: int
    line_number: int


def lfw_image_path(image_dir: str | os.PathLike[str], name: str, number: int) -> Path:
    """Path of image ``number`` of ``name``: ``<image_dir>/<name>/<name>_<number:04d>.jpg``."""
    return Path(image_dir) / name / f"{name}_{number:04d}.jpg"


def _read_lines(path: Path) -> Iterator[tuple[int, str, list[str]]]:
    """Yield ``(1-based line number, raw line, whitespace-split fields)`` for non-blank lines.

    Splitting on any whitespace tolerates spaces instead of tabs, trailing blanks and CRLF line
    ends; LFW names never contain whitespace (they use underscores).
    """
    for index, line in read_text_lines(path):
        fields = line.split()
        if fields:
            yield index, line, fields


def _positive_int(text: str) -> int | None:
    """Parse a plain decimal ``>= 1``; ``None`` for anything else (signs, ``1_0``, ``1.0``)."""
    if text.isascii() and text.isdigit():
        value = int(text)
        return value if value >= 1 else None
    return None


def _check_name(path: Path, line_number: int, line: str, name: str, expected: str) -> None:
    # A name is used as a directory name: refuse anything that would escape the image folder.
    if name in (".", "..") or "/" in name or "\\" in name:
        raise MalformedAnnotationError(
            path, line_number, line, f"{expected} with a person name, not a path ({name!r})"
        )


def read_lfw_pairs_file(path: str | os.PathLike[str]) -> list[PairEntry]:
    r"""Parse and validate an LFW pairs file (``pairs.txt``, ``pairsDevTrain.txt``, ...).

    The header is either ``<folds>\t<n>`` (View 2: ``10\t300``) or a single ``<n>`` (View 1,
    one fold). Each fold then has exactly ``n`` matched lines ``name\tn1\tn2`` followed by
    ``n`` mismatched lines ``name1\tn1\tname2\tn2``. Nothing is checked on disk.

    Args:
        path: The pairs file.

    Returns:
        One :class:`PairEntry` per pair, in file order (``folds * 2 * n`` entries).

    Raises:
        FileNotFoundError: The file does not exist.
        MalformedAnnotationError: A line has the wrong number of fields, a non-integer or
            non-positive image number, or the counts disagree with the header. The error
            names the file, the 1-based line and what was expected there.
    """
    path = Path(path)
    lines = _read_lines(path)
    header = next(lines, None)
    if header is None:
        raise MalformedAnnotationError(path, 1, "", _PAIRS_HEADER + " (the file is empty)")
    line_number, line, fields = header
    counts = [_positive_int(f) for f in fields]
    if len(fields) not in (1, 2) or None in counts:
        raise MalformedAnnotationError(path, line_number, line, _PAIRS_HEADER)
    num_folds, per_side = (1, counts[0]) if len(counts) == 1 else (counts[0], counts[1])
    assert num_folds is not None and per_side is not None  # checked above; narrows for mypy
    per_fold = 2 * per_side
    total = num_folds * per_fold
    header_text = f"header line {line_number} declares {num_folds} fold(s) x {per_side} per side"

    entries: list[PairEntry] = []
    last_line = line_number
    for line_number, line, fields in lines:
        k = len(entries)
        if k >= total:
            raise MalformedAnnotationError(
                path, line_number, line, f"end of file after {total} pair lines ({header_text})"
            )
        fold, position = divmod(k, per_fold)
        matched = position < per_side
        expected = _MATCHED if matched else _MISMATCHED
        where = (
            f"{expected}: pair {position % per_side + 1} of {per_side} "
            f"{'matched' if matched else 'mismatched'} pairs of fold {fold + 1} ({header_text})"
        )
        if len(fields) != (3 if matched else 4):
            raise MalformedAnnotationError(path, line_number, line, where)
        if matched:
            name1, n1, n2 = fields
            name2 = name1
        else:
            name1, n1, name2, n2 = fields
        number1, number2 = _positive_int(n1), _positive_int(n2)
        if number1 is None or number2 is None:
            raise MalformedAnnotationError(
                path, line_number, line, f"{expected} with positive integer image numbers"
            )
        _check_name(path, line_number, line, name1, expected)
        _check_name(path, line_number, line, name2, expected)
        if not matched and name1 == name2:
            raise MalformedAnnotationError(
                path, line_number, line, f"{expected} naming two different people"
            )
        entries.append(PairEntry(name1, number1, name2, number2, matched, fold, line_number))
        last_line = line_number
    if len(entries) != total:
        raise MalformedAnnotationError(
            path,
            last_line + 1,
            "",
            f"{total} pair lines ({header_text}), but the file ends after {len(entries)}",
        )
    return entries


def read_lfw_people_file(
    path: str | os.PathLike[str], layout: Literal["auto", "folds", "single"] = "auto"
) -> list[PersonEntry]:
    r"""Parse and validate an LFW people file (``people.txt``, ``peopleDevTrain.txt``, ...).

    ``people.txt`` (layout ``"folds"``) starts with the number of folds; each fold is a count line
    followed by that many ``name\tcount`` rows. The View 1 files (layout ``"single"``) have one
    count line followed by the rows. ``"auto"`` tells them apart by the second line: a single
    integer there is a fold count.

    Args:
        path: The people file.
        layout: ``"folds"``, ``"single"`` or ``"auto"``.

    Returns:
        One :class:`PersonEntry` per row, in file order.

    Raises:
        FileNotFoundError: The file does not exist.
        MalformedAnnotationError: A malformed row or count, or counts that disagree with the
            rows (names the file, the 1-based line and what was expected).
    """
    path = Path(path)
    rows = list(_read_lines(path))
    if not rows:
        raise MalformedAnnotationError(path, 1, "", "a count line (the file is empty)")
    if layout == "auto":
        layout = "folds" if len(rows) > 1 and len(rows[1][2]) == 1 else "single"
    if layout not in ("folds", "single"):
        raise ValueError(f"layout must be 'auto', 'folds' or 'single', got {layout!r}")

    def count_at(i: int, what: str, minimum: int) -> int:
        line_number, line, fields = rows[i]
        text = fields[0]
        if len(fields) != 1 or not (text.isascii() and text.isdigit()) or int(text) < minimum:
            raise MalformedAnnotationError(path, line_number, line, what)
        return int(text)

    position = 0
    if layout == "folds":
        num_folds = count_at(0, "a single positive fold count, e.g. '10'", 1)
        position = 1
    else:
        num_folds = 1
    entries: list[PersonEntry] = []
    for fold in range(num_folds):
        if position >= len(rows):
            last = rows[-1][0]
            raise MalformedAnnotationError(
                path, last + 1, "", f"the count line of fold {fold + 1} of {num_folds}"
            )
        count_line = rows[position][0]
        count = count_at(
            position, f"a single count, the number of people in fold {fold + 1} of {num_folds}", 0
        )
        position += 1
        for i in range(count):
            row_text = (
                f"row {i + 1} of {count} 'name\\tcount' of fold {fold + 1} "
                f"(declared on line {count_line})"
            )
            if position >= len(rows):
                raise MalformedAnnotationError(
                    path, rows[-1][0] + 1, "", f"{row_text}, but the file ends"
                )
            line_number, line, fields = rows[position]
            num_images = _positive_int(fields[1]) if len(fields) == 2 else None
            if num_images is None:
                raise MalformedAnnotationError(
                    path, line_number, line, f"{row_text} with a positive image count"
                )
            _check_name(path, line_number, line, fields[0], row_text)
            entries.append(PersonEntry(fields[0], num_images, fold, line_number))
            position += 1
    if position < len(rows):
        line_number, line, _ = rows[position]
        raise MalformedAnnotationError(
            path, line_number, line, f"end of file after {num_folds} fold(s) of people"
        )
    return entries


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
