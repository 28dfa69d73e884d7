"""Caltech Pedestrian ground truth and detections as the toolbox loads them.

Dollár, Wojek, Schiele, Perona, "Pedestrian Detection: An Evaluation of the State of the Art",
IEEE TPAMI 34(4), 2012, and the benchmark's evaluation code (Caltech Pedestrian Dataset code
3.2.1: ``dbEval.m`` ``loadGt``/``loadDt``/``evalAlgs``, ``bbApply.m`` ``resize``). Steps 1 and
2 of the pipeline described in :mod:`lightning_deepvision.metrics.miss_rate`: every image's
boxes become rows of one flat float64 tensor with a count per image, so that the later steps
work on all images at once.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import Tensor

from lightning_deepvision.metrics.miss_rate_settings import (
    _INF,
    _LABEL_CODES,
    ASPECT_RATIO,
    CALTECH_BOUNDS,
    EvaluationSetting,
    _as_setting,
)

__all__ = ["filter_detections", "ground_truth_regions"]


def _standardise(x: Tensor, w: Tensor, h: Tensor, aspect_ratio: float) -> tuple[Tensor, Tensor]:
    """``bbApply('resize', bb, 1, 0, ar)``: width ``h * ar`` about the same centre.

    The toolbox's own operations (``d = h*ar - w; x = x - d/2; w = w + d``), so that the
    rounding is the same as MATLAB's; the height and ``y`` do not change.
    """
    d = h * aspect_ratio - w
    return x - d / 2, w + d


def _segment_ids(counts: Tensor) -> Tensor:
    """``[0] * counts[0] + [1] * counts[1] + ...``: the segment each flat row belongs to.

    The same as ``repeat_interleave(arange(len(counts)), counts)``, which however always
    enters a parallel region: on a busy machine that costs milliseconds even for a few rows.
    """
    ends = torch.cumsum(counts, 0)
    total = int(ends[-1]) if counts.numel() else 0
    return torch.searchsorted(ends, torch.arange(total, device=counts.device), right=True)


def _image_device(detections: Sequence[Tensor]) -> torch.device:
    for dt in detections:
        if isinstance(dt, Tensor):
            # float64 is what makes the result exact; MPS has none, the CPU does the work there.
            return dt.device if dt.device.type != "mps" else torch.device("cpu")
    return torch.device("cpu")


def _detection_rows(detections: Sequence[Tensor], device: torch.device) -> tuple[Tensor, Tensor]:
    """All detections as one float64 ``[N, 5]`` tensor and the count of each image."""
    rows, counts = [], []
    for i, dt in enumerate(detections):
        dt = torch.as_tensor(dt)
        if dt.numel() == 0:
            dt = dt.reshape(0, 5)
        if dt.ndim != 2 or dt.shape[1] != 5:
            raise ValueError(
                f"detections[{i}] must have shape [k, 5] (x, y, w, h, score), got {tuple(dt.shape)}"
            )
        rows.append(dt.detach().to(device=device, dtype=torch.float64))
        counts.append(dt.shape[0])
    flat = torch.cat(rows) if rows else torch.zeros(0, 5, dtype=torch.float64, device=device)
    if flat.isnan().any():
        # A NaN score would sort as the highest: a silent wrong answer, not an error.
        bad = next(i for i, r in enumerate(rows) if r.isnan().any())
        raise ValueError(f"detections[{bad}] contains NaN")
    return flat, torch.tensor(counts, dtype=torch.long, device=device)


def _ground_truth_rows(
    ground_truth: Sequence[Mapping[str, Any]], device: torch.device
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Loaded objects of every image: boxes ``[M, 4]``, visible boxes, label codes, counts.

    Objects whose label the toolbox does not load are left out here.
    """
    boxes_list, visible_list, codes, counts = [], [], [], []
    for i, gt in enumerate(ground_truth):
        if not isinstance(gt, Mapping) or "boxes" not in gt or "labels" not in gt:
            raise ValueError(
                f"ground_truth[{i}] must be a mapping with 'boxes', 'labels' (and 'visible')"
            )
        boxes = torch.as_tensor(gt["boxes"]).detach()
        if boxes.numel() == 0:
            boxes = boxes.reshape(0, 4)
        if boxes.ndim != 2 or boxes.shape[1] != 4:
            raise ValueError(
                f"ground_truth[{i}]['boxes'] must have shape [n, 4] (x, y, w, h), "
                f"got {tuple(boxes.shape)}"
            )
        n = boxes.shape[0]
        visible = gt.get("visible")
        visible = torch.zeros(n, 4) if visible is None else torch.as_tensor(visible).detach()
        if visible.numel() == 0 and n == 0:
            visible = visible.reshape(0, 4)
        if tuple(visible.shape) != (n, 4):
            raise ValueError(
                f"ground_truth[{i}]['visible'] must have shape [{n}, 4] like its boxes, "
                f"got {tuple(visible.shape)}"
            )
        labels = gt["labels"]
        if isinstance(labels, str) or len(labels) != n:
            raise ValueError(
                f"ground_truth[{i}]['labels'] must be a list of {n} strings, got {labels!r}"
            )
        for label in labels:
            if not isinstance(label, str):
                raise ValueError(
                    f"ground_truth[{i}]['labels'] must hold strings such as 'person', got {label!r}"
                )
            codes.append(_LABEL_CODES.get(label, -1))
        boxes_list.append(boxes.to(device=device, dtype=torch.float64))
        visible_list.append(visible.to(device=device, dtype=torch.float64))
        counts.append(n)
    if not boxes_list:
        empty = torch.zeros(0, 4, dtype=torch.float64, device=device)
        none = torch.zeros(0, dtype=torch.long, device=device)
        return empty, empty, none, none
    code = torch.tensor(codes, dtype=torch.long, device=device)
    count = torch.tensor(counts, dtype=torch.long, device=device)
    loaded = code >= 0
    image = _segment_ids(count)
    kept = torch.bincount(image[loaded], minlength=len(counts))
    return torch.cat(boxes_list)[loaded], torch.cat(visible_list)[loaded], code[loaded], kept


def _regions(
    boxes: Tensor,
    visible: Tensor,
    code: Tensor,
    setting: EvaluationSetting,
    bounds: Sequence[float],
    aspect_ratio: float,
) -> tuple[Tensor, Tensor]:
    """``filterGtFun`` and the resize of ``loadGt``: ``(boxes [M, 4], ignore [M])``."""
    x, y, w, h = boxes.unbind(1)
    unoccluded = (visible == 0).all(1)
    fraction = torch.where(unoccluded, _INF, (visible[:, 2] * visible[:, 3]) / (w * h))
    positive = (
        (code == 0)
        & (h >= setting.height[0])
        & (h < setting.height[1])
        & (fraction >= setting.visibility[0])
        & (fraction <= setting.visibility[1])
        & (x >= bounds[0])
        & (x + w <= bounds[2])
        & (y >= bounds[1])
        & (y + h <= bounds[3])
    )
    sx, sw = _standardise(x, w, h, aspect_ratio)
    x, w = torch.where(positive, sx, x), torch.where(positive, sw, w)
    return torch.stack([x, y, w, h], 1), ~positive


def _kept_detections(
    rows: Tensor, counts: Tensor, setting: EvaluationSetting, aspect_ratio: float
) -> tuple[Tensor, Tensor]:
    """``loadDt``'s resize and ``evalAlgs``' height filter: ``(rows [N', 5], counts)``."""
    x, y, w, h, score = rows.unbind(1)
    x, w = _standardise(x, w, h, aspect_ratio)
    low, high = setting.detection_height
    keep = (h >= low) & (h < high)
    image = _segment_ids(counts)
    kept = torch.bincount(image[keep], minlength=counts.numel())
    return torch.stack([x, y, w, h, score], 1)[keep], kept


def ground_truth_regions(
    ground_truth: Mapping[str, Any],
    setting: str | EvaluationSetting = "reasonable",
    *,
    bounds: Sequence[float] = CALTECH_BOUNDS,
    aspect_ratio: float = ASPECT_RATIO,
) -> Tensor:
    """The ground truth of one image as the toolbox evaluates it (``loadGt``).

    Args:
        ground_truth: ``{"boxes": [n, 4], "visible": [n, 4], "labels": n strings}``, boxes
            ``x, y, w, h``; ``visible`` all zeros for an object that is not occluded (may be
            left out when nothing is).
        setting: A name in :data:`CALTECH_SETTINGS` or an :class:`EvaluationSetting`.
        bounds: ``[x0, y0, x1, y1]`` a positive must lie inside (``[-inf, -inf, inf, inf]``
            disables it, as the toolbox does for INRIA, TUD-Brussels and ETH).
        aspect_ratio: Width / height positives are resized to.

    Returns:
        ``[n', 5]`` float64 ``x, y, w, h, ignore`` for the loaded objects, in annotation order
        (objects with labels other than ``person``, ``person?``, ``people``, ``ignore`` are not
        loaded).
    """
    device = torch.device("cpu")
    boxes, visible, code, _ = _ground_truth_rows([ground_truth], device)
    regions, ignore = _regions(boxes, visible, code, _as_setting(setting), bounds, aspect_ratio)
    return torch.cat([regions, ignore[:, None].to(torch.float64)], 1)


def filter_detections(
    detections: Tensor,
    setting: str | EvaluationSetting = "reasonable",
    *,
    aspect_ratio: float = ASPECT_RATIO,
) -> Tensor:
    """The detections of one image as the toolbox evaluates them (``loadDt``, ``evalAlgs``).

    Args:
        detections: ``[k, 5]`` ``x, y, w, h, score``.
        setting: A name in :data:`CALTECH_SETTINGS` or an :class:`EvaluationSetting`.
        aspect_ratio: Width / height the detections are resized to.

    Returns:
        ``[k', 5]`` float64: every detection resized to ``aspect_ratio`` (height and centre
        kept), those outside :attr:`EvaluationSetting.detection_height` dropped, order kept.
    """
    rows, counts = _detection_rows([detections], _image_device([detections]))
    kept, _ = _kept_detections(rows, counts, _as_setting(setting), aspect_ratio)
    return kept
