"""Caltech Pedestrian matching of detections to ground truth (``bbGt('evalRes')``).

Dollár, Wojek, Schiele, Perona, "Pedestrian Detection: An Evaluation of the State of the Art",
IEEE TPAMI 34(4), 2012, and the benchmark's evaluation code (Caltech Pedestrian Dataset code
3.2.1: ``bbGt.m`` ``evalRes``/``compOas``). Step 3 of the pipeline described in
:mod:`lightning_deepvision.metrics.miss_rate`, vectorised over all images at once: overlaps are
computed for every detection/ground-truth pair of an image in one pass, and the greedy
assignment runs in rounds (each round settles, in every image at once, the next detection that
still has an unmatched positive to take).
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import torch
from torch import Tensor

from lightning_deepvision.metrics.miss_rate_boxes import (
    _detection_rows,
    _ground_truth_rows,
    _image_device,
    _kept_detections,
    _regions,
    _segment_ids,
)
from lightning_deepvision.metrics.miss_rate_settings import _INF, EvaluationSetting

__all__ = ["ImageResult", "evaluate_image", "evaluate_images"]

# Detection/ground-truth pairs whose overlap is computed in one tensor operation: bounds the
# memory of a batch with many boxes per image (about 10 float64 arrays of this length).
_PAIR_BUDGET = 1 << 21


class ImageResult(NamedTuple):
    """What ``evalRes`` returns for one image, rows in the order it evaluates them.

    Attributes:
        ground_truth: ``[m, 5]`` float64 ``x, y, w, h, match`` (positives first, then ignore
            regions, each in annotation order): match ``1`` = found, ``0`` = missed, ``-1`` =
            ignore region.
        detections: ``[k, 6]`` float64 ``x, y, w, h, score, match`` in descending score order
            (stable): match ``1`` = true positive, ``0`` = false positive, ``-1`` = ignored.
    """

    ground_truth: Tensor
    detections: Tensor


class _Evaluated(NamedTuple):
    """``evalRes`` of many images as flat tensors (rows of image 0, then image 1, ...)."""

    ground_truth: Tensor  # [M, 5] x, y, w, h, match
    gt_counts: Tensor  # [B]
    detections: Tensor  # [N, 6] x, y, w, h, score, match
    dt_counts: Tensor  # [B]


def _overlaps(dt: Tensor, gt: Tensor, ignore: Tensor) -> Tensor:
    """``compOas`` for aligned pairs: ``dt [P, 4]`` against ``gt [P, 4]``, ``ignore [P]``.

    IoU, or ``intersection / area(dt)`` where the ground truth is an ignore region; 0 where
    the boxes do not overlap. Operations in the toolbox's order, for the same rounding.
    """
    dx, dy, dw, dh = dt.unbind(1)
    gx, gy, gw, gh = gt.unbind(1)
    iw = torch.minimum(dx + dw, gx + gw) - torch.maximum(dx, gx)
    ih = torch.minimum(dy + dh, gy + gh) - torch.maximum(dy, gy)
    t = iw * ih
    da = dw * dh
    union = torch.where(ignore, da, da + gw * gh - t)
    return torch.where((iw > 0) & (ih > 0), t / union, torch.zeros_like(t))


def _evaluate(
    gt_boxes: Tensor,
    gt_ignore: Tensor,
    gt_counts: Tensor,
    detections: Tensor,
    dt_counts: Tensor,
    overlap: float,
) -> _Evaluated:
    """``evalRes`` over all images at once (flat inputs, ``counts`` rows per image)."""
    device = detections.device
    num_images = gt_counts.numel()
    gt_image = _segment_ids(gt_counts)
    dt_image = _segment_ids(dt_counts)
    # Ground truth: ignore regions last, otherwise in annotation order (a stable sort on
    # image * 2 + ignore). Detections: highest score first within each image, ties in input
    # order (two stable sorts, score then image), as MATLAB's stable sort(..., 'descend').
    gt_order = torch.argsort(gt_image * 2 + gt_ignore.long(), stable=True)
    gt_boxes, gt_ignore = gt_boxes[gt_order], gt_ignore[gt_order]
    dt_order = torch.argsort(detections[:, 4], descending=True, stable=True)
    dt_order = dt_order[torch.argsort(dt_image[dt_order], stable=True)]
    detections = detections[dt_order]
    num_dt = detections.shape[0]

    # Every detection/ground-truth pair of an image, detection-major (so pairs stay in the
    # toolbox's loop order), in slices of at most _PAIR_BUDGET pairs; only pairs that reach
    # the overlap threshold are kept.
    gt_start = torch.cumsum(gt_counts, 0) - gt_counts
    per_dt = gt_counts[dt_image]
    ends = torch.cumsum(per_dt, 0)
    total = int(ends[-1]) if num_dt else 0
    cuts = torch.tensor(range(_PAIR_BUDGET, total, _PAIR_BUDGET), dtype=torch.long, device=device)
    bounds = [0, *torch.searchsorted(ends, cuts, right=True).tolist(), num_dt]
    match_dt, match_gt, match_oa, ignored_dt = [], [], [], []
    for lo, hi in itertools.pairwise(bounds):
        if hi <= lo:
            continue
        counts = per_dt[lo:hi]
        pair_dt = lo + _segment_ids(counts)
        first_pair = torch.cumsum(counts, 0) - counts
        slot = torch.arange(pair_dt.numel(), device=device) - first_pair[pair_dt - lo]
        pair_gt = gt_start[dt_image[pair_dt]] + slot
        ignore = gt_ignore[pair_gt]
        oa = _overlaps(detections[pair_dt, :4], gt_boxes[pair_gt], ignore)
        hit = oa >= overlap
        match_dt.append(pair_dt[hit & ~ignore])
        match_gt.append(pair_gt[hit & ~ignore])
        match_oa.append(oa[hit & ~ignore])
        ignored_dt.append(pair_dt[hit & ignore])
    long = torch.zeros(0, dtype=torch.long, device=device)
    cand_dt = torch.cat([long, *match_dt])
    cand_gt = torch.cat([long, *match_gt])
    cand_oa = torch.cat([torch.zeros(0, dtype=torch.float64, device=device), *match_oa])

    # Greedy matching in rounds. In each image, the next detection to take a positive is the
    # first one (in score order) that still has an unmatched positive at overlap >= threshold:
    # the detections before it either matched already or found none, and can find none now,
    # since positives only ever leave the pool. It takes the positive of highest overlap, the
    # last in order among equal overlaps (the toolbox replaces its best on >=). Pairs whose
    # detection or positive is taken drop out, so each round works on fewer pairs.
    dt_match = torch.zeros(num_dt, dtype=torch.int8, device=device)
    gt_match = torch.where(gt_ignore, -1, 0).to(torch.int8)
    cand_image = dt_image[cand_dt]
    while cand_dt.numel():
        first = torch.full((num_images,), num_dt, dtype=torch.long, device=device)
        first = first.scatter_reduce(0, cand_image, cand_dt, "amin")
        chosen = cand_dt == first[cand_image]
        best = torch.full((num_images,), -_INF, dtype=torch.float64, device=device)
        best = best.scatter_reduce(0, cand_image[chosen], cand_oa[chosen], "amax")
        top = chosen & (cand_oa == best[cand_image])
        taken = torch.full((num_images,), -1, dtype=torch.long, device=device)
        taken = taken.scatter_reduce(0, cand_image[top], cand_gt[top], "amax")
        settled = taken >= 0
        dt_match[first[settled]] = 1
        gt_match[taken[settled]] = 1
        alive = (dt_match[cand_dt] == 0) & (gt_match[cand_gt] == 0)
        cand_dt, cand_gt, cand_oa = cand_dt[alive], cand_gt[alive], cand_oa[alive]
        cand_image = cand_image[alive]
    # A detection left unmatched that covers an ignore region enough is ignored.
    on_ignore = torch.zeros(num_dt, dtype=torch.bool, device=device)
    on_ignore[torch.cat([long, *ignored_dt])] = True
    dt_match = torch.where((dt_match == 0) & on_ignore, -1, dt_match).to(torch.int8)
    return _Evaluated(
        torch.cat([gt_boxes, gt_match[:, None].to(torch.float64)], 1),
        gt_counts,
        torch.cat([detections, dt_match[:, None].to(torch.float64)], 1),
        dt_counts,
    )


def _evaluate_inputs(
    detections: Sequence[Tensor],
    ground_truth: Sequence[Mapping[str, Any]],
    setting: EvaluationSetting,
    bounds: Sequence[float],
    aspect_ratio: float,
) -> _Evaluated:
    """The whole per-image part of the pipeline (``loadGt``, ``loadDt``, ``evalRes``)."""
    if len(detections) != len(ground_truth):
        raise ValueError(
            f"detections has {len(detections)} images, ground_truth has {len(ground_truth)}"
        )
    device = _image_device(detections)
    rows, dt_counts = _detection_rows(detections, device)
    rows, dt_counts = _kept_detections(rows, dt_counts, setting, aspect_ratio)
    boxes, visible, code, gt_counts = _ground_truth_rows(ground_truth, device)
    regions, ignore = _regions(boxes, visible, code, setting, bounds, aspect_ratio)
    return _evaluate(regions, ignore, gt_counts, rows, dt_counts, setting.overlap)


def evaluate_images(
    ground_truth: Sequence[Tensor], detections: Sequence[Tensor], overlap: float = 0.5
) -> list[ImageResult]:
    """``bbGt('evalRes', gt, dt, overlap)`` for many images at once.

    Args:
        ground_truth: Per image ``[m, 5]`` ``x, y, w, h, ignore`` (see
            :func:`ground_truth_regions`).
        detections: Per image ``[k, 5]`` ``x, y, w, h, score`` (see :func:`filter_detections`).
        overlap: Overlap a match needs (``>=``).

    Returns:
        One :class:`ImageResult` per image.
    """
    if len(detections) != len(ground_truth):
        raise ValueError(
            f"detections has {len(detections)} images, ground_truth has {len(ground_truth)}"
        )
    device = _image_device(detections)
    rows, dt_counts = _detection_rows(detections, device)
    gts = []
    for i, gt in enumerate(ground_truth):
        gt = torch.as_tensor(gt)
        if gt.numel() == 0:
            gt = gt.reshape(0, 5)
        if gt.ndim != 2 or gt.shape[1] != 5:
            raise ValueError(
                f"ground_truth[{i}] must have shape [m, 5] (x, y, w, h, ignore), "
                f"got {tuple(gt.shape)}"
            )
        gts.append(gt.to(device=device, dtype=torch.float64))
    gt_rows = torch.cat(gts) if gts else torch.zeros(0, 5, dtype=torch.float64, device=device)
    gt_counts = torch.tensor([g.shape[0] for g in gts], dtype=torch.long, device=device)
    result = _evaluate(gt_rows[:, :4], gt_rows[:, 4] != 0, gt_counts, rows, dt_counts, overlap)
    return [
        ImageResult(g, d)
        for g, d in zip(
            result.ground_truth.split(result.gt_counts.tolist()),
            result.detections.split(result.dt_counts.tolist()),
            strict=True,
        )
    ]


def evaluate_image(ground_truth: Tensor, detections: Tensor, overlap: float = 0.5) -> ImageResult:
    """``bbGt('evalRes', gt, dt, overlap)`` for one image; see :func:`evaluate_images`."""
    return evaluate_images([ground_truth], [detections], overlap)[0]
