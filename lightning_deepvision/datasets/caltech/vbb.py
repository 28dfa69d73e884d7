"""Caltech Pedestrian video annotations (``.vbb``, a MATLAB struct saved with ``-v6``).

Dollár, Wojek, Schiele, Perona, "Pedestrian Detection: A Benchmark", CVPR 2009. The file holds a
variable ``A`` (a 1x1 struct, fields in the toolbox's order :data:`VBB_FIELDS`) and ``vers``
(1.4). ``A.objLists`` is a 1 x nFrame cell; cell ``f`` is empty or a struct array with one
element per object visible in frame ``f`` (fields :data:`VBB_OBJECT_FIELDS`): the object's
1-based ``id``, its full box ``pos`` ``[x y w h]``, the occlusion flag ``occl``, the labelling
tool's ``lock`` and the visible part ``posv`` ``[x y w h]`` (all zeros when not occluded).
``A.objLbl{id}`` is the object's label: ``person``, ``person?`` (ambiguous), ``people`` (a
group) or ``ignore`` (and a few others, e.g. ``person-fa``, which the evaluation never loads).

scipy reads the file; it is imported when a file is read, not with this module.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, TypedDict

import numpy as np

from lightning_deepvision.datasets.errors import MAT_FILE_ERRORS, MalformedAnnotationError

__all__ = [
    "VBB_FIELDS",
    "VBB_OBJECT_FIELDS",
    "VBB_VERSION",
    "CaltechObject",
    "MalformedVbbError",
    "read_vbb",
]

#: The fields of ``A`` in the toolbox's order (``vbb('vbbLoad')`` orders them so).
VBB_FIELDS: tuple[str, ...] = (
    "nFrame",
    "objLists",
    "maxObj",
    "objInit",
    "objLbl",
    "objStr",
    "objEnd",
    "objHide",
    "altered",
    "log",
    "logLen",
)
#: The fields of one object of ``A.objLists{f}``, in the order of the released files.
VBB_OBJECT_FIELDS: tuple[str, ...] = ("id", "pos", "occl", "lock", "posv")
#: The ``vers`` the toolbox writes and expects.
VBB_VERSION = 1.4
# What reading needs; the rest is bookkeeping of the labelling tool.
_REQUIRED_FIELDS = ("nFrame", "objLists", "objLbl")
_REQUIRED_OBJECT_FIELDS = ("id", "pos", "occl", "posv")


class _CaltechObjectBase(TypedDict):
    id: int
    label: str
    box: list[float]
    visible: list[float]
    occluded: bool


class CaltechObject(_CaltechObjectBase, total=False):
    """One annotated object in one frame.

    Keys:
        id: The object's track id (1-based, as in the file; 0 for bbGt rows, which have none).
        label: ``person``, ``person?``, ``people``, ``ignore``, or another label as stored.
        box: Full extent ``[x, y, w, h]`` in pixels (floats).
        visible: Visible part ``[x, y, w, h]``; all zeros when the object is not occluded.
        occluded: The file's occlusion flag.
        ignore: Only in bbGt rows (:func:`~lightning_deepvision.datasets.caltech.read_bbgt`):
            the row's ignore flag.
        angle: Only in bbGt rows: the orientation in degrees.
    """

    ignore: bool
    angle: float


class MalformedVbbError(MalformedAnnotationError):
    """A ``.vbb`` file that is not the MATLAB struct the toolbox writes.

    Args:
        path: The ``.vbb`` file.
        reason: What is missing or wrong, and what was expected.
        frame: The 0-based frame concerned, if any.
    """

    def __init__(self, path: str | os.PathLike[str], reason: str, frame: int | None = None):
        self.path = Path(path)
        self.line_number = 0  # a .mat file has no lines
        self.line = ""
        self.expected = reason
        self.frame = frame
        where = "" if frame is None else f" frame {frame}:"
        ValueError.__init__(self, f"{str(path)!r}:{where} {reason}")


def _scalar(value: Any) -> float | None:
    array = np.asarray(value)
    if array.size != 1 or array.dtype.kind not in "biuf":
        return None
    return float(array.reshape(()).item())


def _box(value: Any) -> list[float] | None:
    array = np.asarray(value)
    if array.size != 4 or array.dtype.kind not in "biuf":
        return None
    return [float(v) for v in array.reshape(4)]


def _label(value: Any) -> str | None:
    array = np.asarray(value)
    if array.dtype.kind == "U" and array.size == 1:
        return str(array.reshape(()).item())
    if array.dtype.kind == "U" and array.size == 0:
        return ""
    return None


def read_vbb(path: str | os.PathLike[str]) -> list[list[CaltechObject]]:
    """Read a Caltech ``.vbb`` annotation file.

    Args:
        path: The ``.vbb`` file (e.g. ``annotations/set06/V000.vbb``).

    Returns:
        One list per frame (``len`` = ``A.nFrame``; index = 0-based frame) of the objects in
        that frame, in file order: :class:`CaltechObject` dicts with ``id``, ``label``,
        ``box`` and ``visible`` (``[x, y, w, h]`` floats, ``visible`` all zeros when the
        object is not occluded) and ``occluded``. Every label is kept as stored.

    Raises:
        FileNotFoundError: The file does not exist.
        MalformedVbbError: Not a MATLAB file, no struct ``A``, a missing field (``nFrame``,
            ``objLists``, ``objLbl``; per object ``id``, ``pos``, ``occl``, ``posv``), a frame
            count that disagrees with ``objLists``, or an object whose id has no label. The
            error names the file and, where it applies, the 0-based frame.
    """
    from scipy.io import loadmat
    from scipy.io.matlab import MatReadError

    path = Path(path)
    if not path.is_file():
        if not path.exists():
            raise FileNotFoundError(2, "annotation file not found", str(path))
        raise MalformedVbbError(path, "expected a .vbb file, found a directory")
    try:
        mat = loadmat(path, squeeze_me=False, struct_as_record=True)
    except (MatReadError, *MAT_FILE_ERRORS) as err:
        raise MalformedVbbError(
            path, f"not a MATLAB .mat file as the toolbox writes .vbb ({type(err).__name__}: {err})"
        ) from err
    if "A" not in mat:
        found = sorted(k for k in mat if not k.startswith("__"))
        raise MalformedVbbError(path, f"no annotation struct 'A' (variables: {found})")
    struct = mat["A"]
    names = struct.dtype.names
    if names is None or struct.size != 1:
        raise MalformedVbbError(path, "'A' is not a 1x1 struct")
    missing = [f for f in _REQUIRED_FIELDS if f not in names]
    if missing:
        raise MalformedVbbError(
            path,
            f"'A' lacks the field(s) {missing}; a .vbb struct has {list(VBB_FIELDS)}",
        )
    a = struct.reshape(-1)[0]  # a numpy record: a["field"] is the MATLAB value
    num_frames = _scalar(a["nFrame"])
    if num_frames is None or num_frames < 0 or num_frames != int(num_frames):
        raise MalformedVbbError(path, f"A.nFrame is not a frame count: {a['nFrame']!r}")
    obj_lists = np.asarray(a["objLists"])
    if obj_lists.dtype != object or obj_lists.size != int(num_frames):
        raise MalformedVbbError(
            path,
            f"A.objLists has {obj_lists.size} entries, A.nFrame is {int(num_frames)}",
        )
    labels = [_label(v) for v in np.asarray(a["objLbl"], dtype=object).reshape(-1)]

    frames: list[list[CaltechObject]] = []
    for frame, entry in enumerate(obj_lists.reshape(-1)):
        entry = np.asarray(entry)
        objects: list[CaltechObject] = []
        if entry.size:
            fields = entry.dtype.names
            lacking = [f for f in _REQUIRED_OBJECT_FIELDS if fields is None or f not in fields]
            if lacking:
                raise MalformedVbbError(
                    path,
                    f"the objects of A.objLists lack the field(s) {lacking}; each object has "
                    f"{list(VBB_OBJECT_FIELDS)}",
                    frame,
                )
            for obj in entry.reshape(-1):
                objects.append(_object(path, frame, obj, labels))
        frames.append(objects)
    return frames


def _object(path: Path, frame: int, obj: Any, labels: list[str | None]) -> CaltechObject:
    ident = _scalar(obj["id"])
    if ident is None or ident != int(ident) or not 1 <= ident <= len(labels):
        raise MalformedVbbError(
            path, f"object id {obj['id']!r} is not one of 1..{len(labels)} (A.objLbl)", frame
        )
    label = labels[int(ident) - 1]
    if label is None:
        raise MalformedVbbError(path, f"object {int(ident)} has no string label in A.objLbl", frame)
    box, visible = _box(obj["pos"]), _box(obj["posv"])
    occluded = _scalar(obj["occl"])
    if box is None or visible is None or occluded is None:
        raise MalformedVbbError(
            path,
            f"object {int(ident)}: expected pos and posv of 4 numbers and a numeric occl, got "
            f"pos={obj['pos']!r}, posv={obj['posv']!r}, occl={obj['occl']!r}",
            frame,
        )
    return {
        "id": int(ident),
        "label": label,
        "box": box,
        "visible": visible,
        "occluded": bool(occluded),
    }
