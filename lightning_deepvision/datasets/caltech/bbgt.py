"""Per-frame bounding-box text files of Dollár's toolbox (``bbGt('bbSave')``), version 0-3.

The improved Caltech annotations of Zhang, Benenson, Omran, Hosang, Schiele, "How Far are We
from Solving Pedestrian Detection?", CVPR 2016 are released in this format, one file per frame
(``anno_test_1xnew/set06_V000_I00029.jpg.txt``, ``anno_train_1xnew/...``). A file starts with
``% bbGt version=3`` and has one row per object::

    label x y w h occluded xv yv wv hv ignore angle

(version 2 rows stop after ``ignore``; versions 0 and 1 after ``hv``; a file without the
version line is version 0). Coordinates are whole pixels, ``[x y w h]`` the full box and
``[xv yv wv hv]`` the visible part.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from lightning_deepvision.datasets.caltech.vbb import CaltechObject
from lightning_deepvision.datasets.errors import MalformedAnnotationError

__all__ = ["BBGT_FIELDS", "BBGT_VERSION", "format_bbgt", "read_bbgt"]

#: The version ``bbGt('bbSave')`` writes.
BBGT_VERSION = 3
#: Fields per row by version (``bbGt('bbLoad')``: ``ms=[10 10 11 12]``).
BBGT_FIELDS: dict[int, int] = {0: 10, 1: 10, 2: 11, 3: 12}
_VERSION_LINE = re.compile(r"^%\s*bbGt\s+version\s*=\s*(\S+)\s*$")
_ROW_TEXT = {
    10: "'label x y w h occluded xv yv wv hv'",
    11: "'label x y w h occluded xv yv wv hv ignore'",
    12: "'label x y w h occluded xv yv wv hv ignore angle'",
}


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def read_bbgt(path: str | os.PathLike[str]) -> list[CaltechObject]:
    """Read one bbGt text file (one frame's objects).

    Args:
        path: The text file.

    Returns:
        One :class:`~lightning_deepvision.datasets.caltech.CaltechObject` per row, in file
        order, with ``id`` 0 (rows carry no track id), ``label``, ``box``, ``visible``,
        ``occluded``, ``ignore`` (``False`` before version 2) and ``angle`` (``0`` before
        version 3).

    Raises:
        FileNotFoundError: The file does not exist.
        MalformedAnnotationError: An unknown version, a row with the wrong number of fields
            or a non-numeric value (names the file and the 1-based line).
    """
    path = Path(path)
    try:
        text = path.read_bytes().decode("utf-8")
    except IsADirectoryError as err:
        raise MalformedAnnotationError(path, 1, "", "a bbGt text file, not a directory") from err
    except UnicodeDecodeError as err:
        raise MalformedAnnotationError(path, 1, "", "UTF-8 text") from err
    lines = text.splitlines()
    version = 0
    start = 0
    if lines and lines[0].lstrip().startswith("%"):
        match = _VERSION_LINE.match(lines[0].strip())
        parsed = None if match is None else _number(match.group(1))
        if parsed is None or parsed not in BBGT_FIELDS:
            raise MalformedAnnotationError(
                path, 1, lines[0], f"'% bbGt version=N' with N one of {sorted(BBGT_FIELDS)}"
            )
        version, start = int(parsed), 1
    width = BBGT_FIELDS[version]
    expected = f"a version-{version} row {_ROW_TEXT[width]} ({width} fields)"
    objects: list[CaltechObject] = []
    for number, line in enumerate(lines[start:], start=start + 1):
        fields = line.split()
        if not fields:
            continue
        values = [_number(f) for f in fields[1:]]
        if len(fields) != width or None in values:
            raise MalformedAnnotationError(path, number, line, expected)
        v = [float(x) for x in values if x is not None]
        obj: CaltechObject = {
            "id": 0,
            "label": fields[0],
            "box": v[0:4],
            "visible": v[5:9],
            "occluded": v[4] != 0,
            "ignore": width > 10 and v[9] != 0,
            "angle": v[10] if width > 11 else 0.0,
        }
        objects.append(obj)
    return objects


def format_bbgt(objects: list[CaltechObject]) -> str:
    """The text ``bbGt('bbSave')`` writes for ``objects`` (version 3, coordinates rounded).

    Args:
        objects: Objects with ``label``, ``box``, ``visible``, ``occluded`` and optionally
            ``ignore`` and ``angle``.

    Returns:
        The file's text, ending in a newline.
    """

    def whole(values: list[float]) -> str:
        # MATLAB's round: halves away from zero.
        return " ".join(str(int(_round_half_away(x))) for x in values)

    lines = [f"% bbGt version={BBGT_VERSION}"]
    for o in objects:
        if not o["label"] or any(c.isspace() for c in o["label"]):
            raise ValueError(f"a bbGt label is one word, got {o['label']!r}")
        angle = int(_round_half_away(o.get("angle", 0.0)))
        lines.append(
            f"{o['label']} {whole(o['box'])} {int(o['occluded'])} {whole(o['visible'])} "
            f"{int(o.get('ignore', False))} {angle}"
        )
    return "\n".join(lines) + "\n"


def _round_half_away(x: float) -> float:
    return float(int(abs(x) + 0.5)) * (1.0 if x >= 0 else -1.0)
