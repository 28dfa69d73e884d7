"""Detections in the Caltech Pedestrian toolbox's result format, written and read back.

The toolbox (``dbEval.m`` ``loadDt``, Caltech Pedestrian Dataset code 3.2.1) reads an
algorithm's detections from ``res/<algorithm>/setXX/VYYY.txt``, one file per video, one row per
detection: ``frame, x, y, w, h, score``, with the frame number 1-based (row frame ``f + 1`` for
the 0-based frame ``f``) and boxes in pixels, ``x, y`` the top-left corner. It writes these files
itself with ``dlmwrite`` (commas) and reads them with ``load -ascii`` (commas or blanks), so both
separators are read here. Writing the files from Python lets a result be cross-checked against
the official MATLAB evaluation; reading them lets published results be scored with
:func:`lightning_deepvision.metrics.log_average_miss_rate`.

Detections are keyed by ``(set, video, frame)``, the ids the Caltech samples carry, with the
frame 0-based.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from lightning_deepvision.datasets.errors import MalformedAnnotationError

__all__ = [
    "detections_for_frames",
    "read_caltech_results",
    "read_video_results",
    "result_path",
    "write_caltech_results",
    "write_video_results",
]

FrameKey = tuple[int, int, int]

_ROW = "6 numbers 'frame, x, y, w, h, score' (commas or blanks) with a whole frame number >= 1"
_VIDEO_FILE = re.compile(r"V(\d+)\.txt")
_SET_DIR = re.compile(r"set(\d+)")
_KEY = ("set", "video", "frame")


def result_path(root: str | os.PathLike[str], set_id: int, video_id: int) -> Path:
    """``root/setXX/VYYY.txt``, the file of one video's detections."""
    return Path(root) / f"set{set_id:02d}" / f"V{video_id:03d}.txt"


def _number(value: float | np.floating) -> str:
    # The shortest text that reads back as the same value of the tensor's own precision
    # (float32 0.93 is written "0.93", not "0.9300000071525574"); never in exponent form.
    return np.format_float_positional(value, unique=True, trim="-")


def _rows(frame: int, detections: Tensor, where: str) -> list[str]:
    detections = torch.as_tensor(detections).detach().cpu()
    if detections.numel() == 0:
        return []
    if detections.ndim != 2 or detections.shape[1] != 5:
        raise ValueError(
            f"{where}: detections must have shape [k, 5] (x, y, w, h, score), "
            f"got {tuple(detections.shape)}"
        )
    if not detections.is_floating_point():
        detections = detections.to(torch.float64)
    values = detections.numpy()
    if not np.isfinite(values).all():
        raise ValueError(f"{where}: detections must be finite numbers")
    return [",".join([str(frame + 1), *(_number(v) for v in row)]) for row in values]


def _whole(value: object, what: str) -> int:
    """``value`` as an ``int``, if it is a whole number >= 0 (set, video and 0-based frame)."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 0:
        raise ValueError(f"{what} must be a whole number >= 0, got {value!r}")
    return int(value)


def _video_text(detections: Mapping[int, Tensor], where: str) -> str:
    lines = []
    for frame in sorted(detections, key=lambda f: _whole(f, f"{where}: frame")):
        lines += _rows(int(frame), detections[frame], f"{where}, frame {frame}")
    return "".join(f"{line}\n" for line in lines)


def write_video_results(path: str | os.PathLike[str], detections: Mapping[int, Tensor]) -> Path:
    """Write one video's detections to ``path`` in the toolbox's ``VYYY.txt`` format.

    Args:
        path: The file to create (its folder is created if needed).
        detections: 0-based frame index → ``[k, 5]`` ``x, y, w, h, score``. Rows are written in
            ascending frame order, each frame's in the given order; a frame without detections
            writes no row.

    Returns:
        ``path``.

    Raises:
        FileExistsError: If ``path`` exists (it is never overwritten).
        ValueError: If a frame index or a tensor is unusable.
    """
    path = Path(path)
    text = _video_text(detections, str(path))
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("x", encoding="ascii") as file:  # "x": fails rather than overwrite
        file.write(text)
    return path


def write_caltech_results(
    root: str | os.PathLike[str], detections: Mapping[FrameKey, Tensor]
) -> list[Path]:
    """Write detections as a toolbox result folder ``root/setXX/VYYY.txt``.

    ``root`` plays the part of ``res/<algorithm>`` in the toolbox's data folder.

    Args:
        root: The algorithm's result folder (created if needed).
        detections: ``(set, video, frame)`` (frame 0-based) → ``[k, 5]`` ``x, y, w, h,
            score``. One file is written per video that appears in the keys.

    Returns:
        The files written, in ``(set, video)`` order.

    Raises:
        FileExistsError: If any of the files exists; then nothing is written.
        ValueError: If a key or a tensor is unusable (nothing is written either).
    """
    videos: dict[tuple[int, int], dict[int, Tensor]] = {}
    for key, value in detections.items():
        if not (isinstance(key, tuple) and len(key) == 3):
            raise ValueError(f"keys must be (set, video, frame) tuples, got {key!r}")
        set_id, video_id, frame = (
            _whole(k, f"key {key!r}: {name}") for k, name in zip(key, _KEY, strict=True)
        )
        videos.setdefault((set_id, video_id), {})[frame] = value
    texts = {
        result_path(root, s, v): _video_text(frames, str(result_path(root, s, v)))
        for (s, v), frames in sorted(videos.items())
    }
    for path in texts:
        if path.exists():
            raise FileExistsError(f"{path} exists; detection results are never overwritten")
    for path, text in texts.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("x", encoding="ascii") as file:
            file.write(text)
    return list(texts)


def read_video_results(path: str | os.PathLike[str]) -> dict[int, Tensor]:
    """Read one ``VYYY.txt`` file of the toolbox's result format.

    Args:
        path: The file.

    Returns:
        0-based frame index → float64 ``[k, 5]`` ``x, y, w, h, score`` (rows in file order),
        for the frames that have rows; a frame without detections has no entry.

    Raises:
        FileNotFoundError: If the file does not exist.
        MalformedAnnotationError: For a row that is not six finite numbers with a whole frame
            number >= 1, naming the file and line.
    """
    path = Path(path)
    frames: dict[int, list[list[float]]] = {}
    with path.open(encoding="ascii", errors="replace") as file:
        for number, line in enumerate(file, start=1):
            text = line.strip()
            if not text:
                continue
            fields = [f for f in re.split(r"[,\s]+", text) if f]
            try:
                values = [float(f) for f in fields]
            except ValueError:
                raise MalformedAnnotationError(path, number, line, _ROW) from None
            if len(values) != 6 or not all(math.isfinite(v) for v in values):
                raise MalformedAnnotationError(path, number, line, _ROW)
            frame = values[0]
            if frame < 1 or frame != int(frame):
                raise MalformedAnnotationError(path, number, line, _ROW)
            frames.setdefault(int(frame) - 1, []).append(values[1:])
    return {f: torch.tensor(rows, dtype=torch.float64) for f, rows in frames.items()}


def read_caltech_results(root: str | os.PathLike[str]) -> dict[FrameKey, Tensor]:
    """Read a toolbox result folder ``root/setXX/VYYY.txt``.

    Args:
        root: The algorithm's result folder (``res/<algorithm>``).

    Returns:
        ``(set, video, frame)`` (frame 0-based) → float64 ``[k, 5]`` ``x, y, w, h, score``,
        for every frame with at least one row, in set, video and frame order.

    Raises:
        FileNotFoundError: If ``root`` holds no ``setXX/VYYY.txt`` file.
        MalformedAnnotationError: For a malformed row (file and line named).
    """
    root = Path(root)
    files = []
    if root.is_dir():
        for set_dir in root.iterdir():
            set_match = _SET_DIR.fullmatch(set_dir.name)
            if not (set_match and set_dir.is_dir()):
                continue
            for file in set_dir.iterdir():
                video_match = _VIDEO_FILE.fullmatch(file.name)
                if video_match and file.is_file():
                    files.append((int(set_match[1]), int(video_match[1]), file))
    if not files:
        raise FileNotFoundError(
            f"no detection results under {str(root)!r}: expected files setXX/VYYY.txt "
            f"(rows 'frame, x, y, w, h, score', frame 1-based)"
        )
    results: dict[FrameKey, Tensor] = {}
    for set_id, video_id, file in sorted(files):
        for frame, rows in sorted(read_video_results(file).items()):
            results[(set_id, video_id, frame)] = rows
    return results


def detections_for_frames(
    results: Mapping[FrameKey, Tensor], frames: Iterable[FrameKey]
) -> list[Tensor]:
    """The detections of each evaluated frame, an empty ``[0, 5]`` tensor where there are none.

    Result files hold no row for a frame without detections; the evaluation still counts that
    frame (FPPI is per image), so the frames come from the ground truth, not from the results.

    Args:
        results: As :func:`read_caltech_results` returns.
        frames: The ``(set, video, frame)`` of each evaluated frame, in evaluation order.
    """
    empty = torch.zeros(0, 5, dtype=torch.float64)
    return [results.get(key, empty) for key in frames]
