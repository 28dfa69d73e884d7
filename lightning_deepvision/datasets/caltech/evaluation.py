"""Caltech Pedestrian ground truth as the evaluation takes it: labels, ignore regions.

Dollár, Wojek, Schiele, Perona, "Pedestrian Detection: An Evaluation of the State of the Art",
TPAMI 2012, and the toolbox's ``dbEval`` ground-truth filter: the bridge between the dataset's
annotations and :mod:`lightning_deepvision.metrics.miss_rate`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import Tensor
from torchvision import tv_tensors
from torchvision.ops import box_convert

from lightning_deepvision.datasets.caltech.vbb import CaltechObject
from lightning_deepvision.metrics.miss_rate import (
    CALTECH_BOUNDS,
    IGNORE_LABELS,
    PERSON_LABEL,
    EvaluationSetting,
    ground_truth_regions,
)

__all__ = ["CALTECH_LABELS", "caltech_ignore", "evaluation_ground_truth"]

#: The labels the evaluation loads (``dbEval``); others (``person-fa``, ...) are dropped.
CALTECH_LABELS: tuple[str, ...] = ("person", "person?", "people", "ignore")
_LOADED_LABELS = frozenset((PERSON_LABEL, *IGNORE_LABELS))


def caltech_ignore(
    boxes: Tensor,
    visible: Tensor,
    labels: Sequence[str],
    setting: str | EvaluationSetting | None = "reasonable",
    bounds: Sequence[float] = CALTECH_BOUNDS,
) -> Tensor:
    """Which ground-truth boxes an evaluation setting turns into ignore regions.

    The rule of ``dbEval``'s ground-truth filter (Dollár et al., TPAMI 2012), as
    :func:`lightning_deepvision.metrics.miss_rate.ground_truth_regions` applies it: a box
    counts (is *not* ignored) when its label is ``person``, its height is in the setting's
    ``[low, high)``, its visible fraction ``area(visible) / area(box)`` (``inf`` when the
    visible box is all zeros, i.e. not occluded) is in the setting's ``[low, high]``, and it
    lies inside ``bounds`` (``x >= x0``, ``x + w <= x1``, ``y >= y0``, ``y + h <= y1``). Every
    other box is ignored, including labels the evaluation does not load.

    Args:
        boxes: ``[n, 4]`` full boxes ``x, y, w, h``.
        visible: ``[n, 4]`` visible parts ``x, y, w, h`` (zeros when not occluded).
        labels: ``n`` label strings.
        setting: A name of ``metrics.miss_rate.CALTECH_SETTINGS`` (``"reasonable"``,
            ``"all"``, ``"none"``, ``"partial"``, ``"heavy"``, the scale settings) or an
            ``EvaluationSetting``; ``None`` ignores by label only (every box not labelled
            ``person``).
        bounds: ``(x0, y0, x1, y1)``; the toolbox's ``[5 5 635 475]`` suits 640x480 frames.

    Returns:
        ``bool`` ``[n]``, ``True`` for the boxes to ignore.

    Raises:
        ValueError: An unknown ``setting`` or mismatched lengths.
    """
    n = boxes.shape[0]
    if visible.shape[0] != n or len(labels) != n:
        raise ValueError(
            f"boxes, visible and labels must have one entry per box, got {n}, "
            f"{visible.shape[0]} and {len(labels)}"
        )
    ignore = torch.tensor([label != PERSON_LABEL for label in labels], dtype=torch.bool)
    if setting is None or n == 0:
        return ignore
    loaded = torch.tensor([label in _LOADED_LABELS for label in labels], dtype=torch.bool)
    regions = ground_truth_regions(
        {
            "boxes": boxes.to(torch.float64).reshape(n, 4)[loaded],
            "visible": visible.to(torch.float64).reshape(n, 4)[loaded],
            "labels": [label for label, keep in zip(labels, loaded.tolist(), strict=True) if keep],
        },
        setting,
        bounds=bounds,
    )
    ignore[loaded] = regions[:, 4] != 0
    return ignore


def _evaluation_visible(obj: CaltechObject) -> list[float]:
    # A .vbb object's posv is used as stored (dbEval reads posv alone); a bbGt row's visible
    # box only counts when the row is flagged occluded (bbGt's own convention).
    if "ignore" in obj and not obj["occluded"]:
        return [0.0, 0.0, 0.0, 0.0]
    return list(obj["visible"])


def _evaluation_label(obj: CaltechObject) -> str:
    # A bbGt row flagged "ignore" is an ignore region whatever its label.
    return "ignore" if obj.get("ignore", False) else obj["label"]


def evaluation_ground_truth(
    sample_or_objects: Mapping[str, Any] | Sequence[CaltechObject],
    label_names: Sequence[str] = CALTECH_LABELS,
) -> dict[str, Any]:
    """One image's ground truth in the form :mod:`lightning_deepvision.metrics.miss_rate` takes.

    Feeds ``metrics.functional.log_average_miss_rate`` and ``metrics.LogAverageMissRate``,
    which apply the evaluation setting's rules themselves (see :func:`caltech_ignore`).

    Args:
        sample_or_objects: Either a :class:`CaltechPedestrian` sample (or its
            :meth:`~CaltechPedestrian.annotation`): ``boxes`` (``BoundingBoxes`` in any format,
            or a plain ``XYXY`` tensor), ``visible_boxes``, ``occluded`` and ``labels`` codes;
            or one frame of :func:`~lightning_deepvision.datasets.caltech.read_vbb` /
            :func:`~lightning_deepvision.datasets.caltech.read_bbgt` (a list of objects).
        label_names: The names of a sample's label codes
            (:attr:`CaltechPedestrian.label_names`).

    Returns:
        ``{"boxes": float64 [n, 4] x, y, w, h, "visible": float64 [n, 4] x, y, w, h (zeros
        when not occluded), "labels": list[str]}``. bbGt rows flagged ``ignore`` get the label
        ``ignore``.
    """
    if isinstance(sample_or_objects, Mapping):
        sample = sample_or_objects
        boxes = _as_xywh(sample["boxes"])
        visible = _as_xywh(sample.get("visible_boxes", torch.zeros_like(boxes)))
        if "occluded" in sample:
            occluded = torch.as_tensor(sample["occluded"], dtype=torch.bool).reshape(-1)
            visible = torch.where(occluded[:, None], visible, torch.zeros_like(visible))
        codes = sample["labels"]
        if isinstance(codes, Tensor):
            labels = [label_names[int(c)] for c in codes.reshape(-1).tolist()]
        else:
            labels = [str(c) for c in codes]
        return {"boxes": boxes, "visible": visible, "labels": labels}
    objects = list(sample_or_objects)
    return {
        "boxes": torch.tensor([o["box"] for o in objects], dtype=torch.float64).reshape(-1, 4),
        "visible": torch.tensor(
            [_evaluation_visible(o) for o in objects], dtype=torch.float64
        ).reshape(-1, 4),
        "labels": [_evaluation_label(o) for o in objects],
    }


def _as_xywh(boxes: Any) -> Tensor:
    data = torch.as_tensor(boxes).to(torch.float64).reshape(-1, 4)
    if isinstance(boxes, tv_tensors.BoundingBoxes):
        fmt = boxes.format.name.lower()
        if fmt != "xywh":
            data = box_convert(data, in_fmt=fmt, out_fmt="xywh")
    else:
        data = box_convert(data, in_fmt="xyxy", out_fmt="xywh")
    return data
