"""LFW's list files: the pairs files and the people files, parsed and validated.

Huang, Ramesh, Berg, Learned-Miller, "Labeled Faces in the Wild: A Database for Studying Face
Recognition in Unconstrained Environments", UMass Amherst Technical Report 07-49, 2007.
The datasets over them are in :mod:`lightning_deepvision.datasets.lfw`.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from lightning_deepvision.datasets.annotation_text import read_text_lines
from lightning_deepvision.datasets.errors import MalformedAnnotationError

__all__ = ["PairEntry", "PersonEntry", "read_lfw_pairs_file", "read_lfw_people_file"]

_PAIRS_HEADER = (
    "a header line '<folds>\\t<pairs per fold>' (e.g. '10\\t300', View 2) or a single pair "
    "count (e.g. '1100', View 1)"
)
_MATCHED = "a matched pair 'name\\tn1\\tn2' (3 fields)"
_MISMATCHED = "a mismatched pair 'name1\\tn1\\tname2\\tn2' (4 fields)"


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
