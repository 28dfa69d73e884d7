"""CelebA's annotation files, parsed into compact arrays in a few vectorised passes.

Liu, Luo, Wang, Tang, "Deep Learning Face Attributes in the Wild", ICCV 2015 (CelebA). The five
annotation files share one shape: optional count line, optional header line, then one row per
image, ``<image> <int> <int> ...`` with columns separated by runs of spaces (specs §9b):

============================== ========== ======================================== ==========
file                           count line header                                   values
============================== ========== ======================================== ==========
list_attr_celeba.txt           yes        the 40 attribute names                   40 of ±1
identity_CelebA.txt            no         none                                     1 (1-based)
list_bbox_celeba.txt           yes        ``image_id x_1 y_1 width height``         4
list_landmarks_align_celeba.txt yes       ``lefteye_x lefteye_y ... rightmouth_y``  10
list_eval_partition.txt        no         none                                     1 (0/1/2)
============================== ========== ======================================== ==========

torchvision's reader builds a Python list per row through :mod:`csv` (specs §9b); 202,599 rows
× 41 columns become eight million ``str`` objects. Here a file is read as one byte buffer:
token boundaries, per-line column counts, image names and the integers themselves come from
NumPy array operations over the buffer, so a table is a fixed-width byte array of names plus a
small integer matrix (``benchmarks/celeba_annotations.py``
measures the difference). Every row is still checked: a wrong column count, a value that is not
an integer or out of range, or a count line that disagrees with the rows raises
:class:`~lightning_deepvision.datasets.errors.MalformedAnnotationError` naming file and line.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lightning_deepvision.datasets.errors import MalformedAnnotationError

__all__ = [
    "CELEBA_ATTRIBUTES",
    "CELEBA_FILES",
    "CELEBA_MD5",
    "CelebATable",
    "ChecksumError",
    "TableSpec",
    "md5sum",
    "read_celeba_table",
]

CELEBA_ATTRIBUTES: tuple[str, ...] = (
    "5_o_Clock_Shadow", "Arched_Eyebrows", "Attractive", "Bags_Under_Eyes", "Bald", "Bangs",
    "Big_Lips", "Big_Nose", "Black_Hair", "Blond_Hair", "Blurry", "Brown_Hair",
    "Bushy_Eyebrows", "Chubby", "Double_Chin", "Eyeglasses", "Goatee", "Gray_Hair",
    "Heavy_Makeup", "High_Cheekbones", "Male", "Mouth_Slightly_Open", "Mustache", "Narrow_Eyes",
    "No_Beard", "Oval_Face", "Pale_Skin", "Pointy_Nose", "Receding_Hairline", "Rosy_Cheeks",
    "Sideburns", "Smiling", "Straight_Hair", "Wavy_Hair", "Wearing_Earrings", "Wearing_Hat",
    "Wearing_Lipstick", "Wearing_Necklace", "Wearing_Necktie", "Young",
)  # fmt: skip
"""The 40 CelebA attributes, in the column order of ``list_attr_celeba.txt``."""

LANDMARK_COLUMNS: tuple[str, ...] = (
    "lefteye_x", "lefteye_y", "righteye_x", "righteye_y", "nose_x", "nose_y",
    "leftmouth_x", "leftmouth_y", "rightmouth_x", "rightmouth_y",
)  # fmt: skip
BBOX_COLUMNS: tuple[str, ...] = ("image_id", "x_1", "y_1", "width", "height")


@dataclass(frozen=True)
class TableSpec:
    """The shape of one annotation file.

    Attributes:
        file: File name, e.g. ``"list_attr_celeba.txt"``.
        counted: Whether line 1 holds the number of rows.
        header: The header line's expected tokens (``None``: no header line).
        columns: Integer columns after the image name.
        low: Smallest allowed value.
        high: Largest allowed value.
        dtype: The NumPy integer type the values are held in.
    """

    file: str
    counted: bool
    header: tuple[str, ...] | None
    columns: int
    low: int
    high: int
    dtype: str


#: Annotation key → its file's shape. ``landmarks_wild`` belongs to the in-the-wild images.
CELEBA_FILES: dict[str, TableSpec] = {
    "attributes": TableSpec("list_attr_celeba.txt", True, CELEBA_ATTRIBUTES, 40, -1, 1, "int8"),
    "identity": TableSpec("identity_CelebA.txt", False, None, 1, 1, 2**31 - 1, "int32"),
    "bbox": TableSpec("list_bbox_celeba.txt", True, BBOX_COLUMNS, 4, 0, 2**31 - 1, "int32"),
    "landmarks": TableSpec(
        "list_landmarks_align_celeba.txt", True, LANDMARK_COLUMNS, 10, -(2**15), 2**15 - 1, "int16"
    ),
    "landmarks_wild": TableSpec(
        "list_landmarks_celeba.txt", True, LANDMARK_COLUMNS, 10, -(2**15), 2**15 - 1, "int16"
    ),
    "partition": TableSpec("list_eval_partition.txt", False, None, 1, 0, 2, "int8"),
}

#: Published MD5 of each file (those torchvision's CelebA lists; ``list_landmarks_celeba.txt``
#: from the same list's commented entry).
CELEBA_MD5: dict[str, str] = {
    "img_align_celeba.zip": "00d2c5bc6d35e252742224ab0c1e8fcb",
    "list_attr_celeba.txt": "75e246fa4810816ffd6ee81facbd244c",
    "identity_CelebA.txt": "32bd1bd63d3c78cd57e08160ec5ed1e2",
    "list_bbox_celeba.txt": "00566efa6fedff7a56946cd1c10f1c16",
    "list_landmarks_align_celeba.txt": "cc24ecafdb5b50baae59b03474781f8c",
    "list_landmarks_celeba.txt": "063ee6ddb681f96bc9ca28c6febb9d1a",
    "list_eval_partition.txt": "d32c9cbf5e040fd4025c592c306e6668",
}


class ChecksumError(ValueError):
    """A file's MD5 differs from the published one (a damaged or different download).

    Args:
        path: The file checked.
        expected: The published MD5.
        actual: The file's MD5.
    """

    def __init__(self, path: str | Path, expected: str, actual: str) -> None:
        self.path = Path(path)
        self.expected = expected
        self.actual = actual
        super().__init__(
            f"{path}: MD5 {actual} differs from the published {expected}; the file is damaged "
            "or not the official CelebA release (download it again)"
        )


def md5sum(path: str | os.PathLike[str], chunk: int = 1 << 20) -> str:
    """The hex MD5 of a file, read in chunks."""
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


@dataclass(frozen=True)
class CelebATable:
    """One parsed annotation file.

    Attributes:
        path: The file read.
        names: Image file names, fixed-width bytes (``numpy`` ``S<n>``), in file order.
        values: ``(rows, columns)`` integers in the spec's dtype.
        first_row_line: 1-based line number of the first row (for error messages).
    """

    path: Path
    names: np.ndarray
    values: np.ndarray
    first_row_line: int

    def line_of(self, row: int) -> int:
        """The 1-based file line of ``row``."""
        return self.first_row_line + row


_WHITESPACE = np.zeros(256, dtype=bool)
_WHITESPACE[[9, 10, 11, 12, 13, 32]] = True


def _line_text(data: bytes, line_number: int) -> str:
    start = 0
    for _ in range(line_number - 1):
        start = data.index(b"\n", start) + 1
    end = data.find(b"\n", start)
    return data[start : end if end >= 0 else len(data)].decode("utf-8", "replace")


def _skip_lines(data: bytes, count: int) -> int:
    offset = 0
    for _ in range(count):
        newline = data.find(b"\n", offset)
        offset = len(data) if newline < 0 else newline + 1
    return offset


def read_celeba_table(path: str | os.PathLike[str], spec: TableSpec) -> CelebATable:
    """Parse one CelebA annotation file after ``spec``.

    Args:
        path: The file.
        spec: Its shape (:data:`CELEBA_FILES`).

    Returns:
        The image names and the integer values.

    Raises:
        MalformedAnnotationError: A bad count or header line, a row with the wrong number of
            columns, a non-integer or out-of-range value (file and line named).
    """
    path = Path(path)
    data = path.read_bytes()
    expect_row = f"'<image> ' followed by {spec.columns} integer(s) in [{spec.low}, {spec.high}]"
    head = int(spec.counted) + int(spec.header is not None)
    count: int | None = None
    if spec.counted:
        text = _line_text(data, 1)
        if not text.strip().isdigit():
            raise MalformedAnnotationError(path, 1, text, "the number of rows")
        count = int(text)
    if spec.header is not None:
        line_number = 1 + int(spec.counted)
        text = _line_text(data, line_number)
        if tuple(text.split()) != spec.header:
            shown = " ".join(spec.header[:3]) + " ..." if len(spec.header) > 4 else ""
            raise MalformedAnnotationError(
                path,
                line_number,
                text,
                f"the header of {len(spec.header)} names {shown or ' '.join(spec.header)}",
            )
    lines_before = head
    offset = _skip_lines(data, head)
    buffer = np.frombuffer(data, dtype=np.uint8, offset=offset)
    space = _WHITESPACE[buffer]
    starts = np.flatnonzero(~space & np.concatenate(([True], space[:-1])))
    ends = np.flatnonzero(~space & np.concatenate((space[1:], [True]))) + 1
    # Tokens per line from where each line ends among the token starts: one binary search per
    # line rather than a pass that numbers every byte.
    bounds = np.append(np.flatnonzero(buffer == 10), len(buffer))
    per_line = np.diff(np.searchsorted(starts, bounds), prepend=0)
    filled = np.flatnonzero(per_line)
    per_line = per_line[: filled[-1] + 1] if len(filled) else per_line[:0]  # trailing blanks
    width = spec.columns + 1
    bad = np.flatnonzero(per_line != width)
    if len(bad):
        line_number = lines_before + int(bad[0]) + 1
        raise MalformedAnnotationError(path, line_number, _line_text(data, line_number), expect_row)
    rows = len(per_line)
    if count is not None and count != rows:
        raise MalformedAnnotationError(
            path, 1, _line_text(data, 1), f"the number of rows, {rows} (the file has {rows} rows)"
        )
    # Every row has ``width`` tokens, so token j of row r is number r * width + j.
    first, last = starts.reshape(rows, width), ends.reshape(rows, width)
    names = _gather_names(buffer, first[:, 0], last[:, 0])
    values, valid = _parse_integers(buffer, first[:, 1:], last[:, 1:])
    valid &= (values >= spec.low) & (values <= spec.high)
    wrong = np.flatnonzero(~valid.all(axis=1))
    if len(wrong):
        line_number = lines_before + int(wrong[0]) + 1
        raise MalformedAnnotationError(path, line_number, _line_text(data, line_number), expect_row)
    return CelebATable(path, names, values.astype(spec.dtype), lines_before + 1)


def _gather_names(buffer: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """The tokens ``[starts, ends)`` as one fixed-width byte array (``S<longest>``)."""
    width = int((ends - starts).max()) if len(starts) else 1
    index = starts[:, None] + np.arange(width)
    inside = index < ends[:, None]
    names = np.where(inside, buffer[np.minimum(index, len(buffer) - 1)], 0).astype(np.uint8)
    return np.ascontiguousarray(names).view(f"S{width}").reshape(len(starts))


def _parse_integers(
    buffer: np.ndarray, starts: np.ndarray, ends: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Decimal integers ``-?[0-9]+`` of the tokens ``[starts, ends)``, and which are valid.

    Vectorised over all tokens, one digit position at a time from the right: no string object
    is created per value (torchvision's reader makes one per column of every row).
    """
    negative = buffer[starts] == ord("-")
    first_digit = starts + negative
    longest = int((ends - first_digit).max()) if starts.size else 1
    valid = ends > first_digit  # a lone "-" is not a number
    valid &= (ends - first_digit) <= 18  # fits int64
    values = np.zeros(starts.shape, dtype=np.int64)
    for place in range(min(longest, 18), 0, -1):
        position = ends - place
        inside = position >= first_digit
        digit = buffer[np.where(inside, position, 0)].astype(np.int64) - ord("0")
        valid &= ~inside | ((digit >= 0) & (digit <= 9))
        values = values * 10 + np.where(inside, digit, 0)
    return np.where(negative, -values, values), valid
