"""Caltech Pedestrian miss-rate/FPPI curve and log-average miss rate (``compRoc``, ``plotExps``).

Dollár, Wojek, Schiele, Perona, "Pedestrian Detection: An Evaluation of the State of the Art",
IEEE TPAMI 34(4), 2012, and the benchmark's evaluation code (Caltech Pedestrian Dataset code
3.2.1: ``bbGt.m`` ``compRoc``, ``dbEval.m`` ``plotExps``). Step 4 of the pipeline described in
:mod:`lightning_deepvision.metrics.miss_rate`, and the one-call functions over the whole
pipeline.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import torch
from torch import Tensor

from lightning_deepvision.metrics.miss_rate_matching import (
    ImageResult,
    _evaluate_inputs,
    _Evaluated,
)
from lightning_deepvision.metrics.miss_rate_settings import (
    _INF,
    ASPECT_RATIO,
    CALTECH_BOUNDS,
    FPPI_REFERENCE,
    MISS_RATE_FLOOR,
    EvaluationSetting,
    _as_setting,
)

__all__ = ["MissRateCurve", "compute_roc", "log_average_miss_rate", "miss_rate_curve"]


class MissRateCurve(NamedTuple):
    """Miss rate against false positives per image, as ``compRoc`` and ``plotExps`` give it.

    Attributes:
        fppi: ``[K]`` FPPI after each detection, in descending score order.
        miss_rate: ``[K]`` miss rate (``1 - recall``) at the same points.
        scores: ``[K]`` the detection scores of the points.
        reference_fppi: ``[9]`` the reference points ``10^(-2:0.25:0)``.
        reference_miss_rate: ``[9]`` the miss rate at each reference point.
        log_average_miss_rate: ``exp(mean(log(max(1e-10, reference_miss_rate))))``, NaN when
            the ground truth holds no positive.
    """

    fppi: Tensor
    miss_rate: Tensor
    scores: Tensor
    reference_fppi: Tensor
    reference_miss_rate: Tensor
    log_average_miss_rate: float


def _roc(
    scores: Tensor,
    true_positive: Tensor,
    num_positives: int,
    num_images: int,
    reference: Sequence[float],
) -> MissRateCurve:
    """``compRoc`` (ROC branch) and ``plotExps``' score, from the non-ignored detections.

    ``scores`` and ``true_positive`` hold the detections image by image, each image's in
    ``evalRes`` order: the stable sort below then breaks ties as MATLAB's does.
    """
    device = scores.device
    ref = torch.tensor(reference, dtype=torch.float64, device=device)
    if scores.numel() == 0:
        # compRoc's early return: one point (0, 0), recall 0 everywhere.
        zero = torch.zeros(1, dtype=torch.float64, device=device)
        fppi, recall, scores = zero, zero, zero
        ref_recall = torch.zeros_like(ref)
    else:
        scores, order = torch.sort(scores.to(torch.float64), descending=True, stable=True)
        tp = true_positive[order].to(torch.float64)
        fppi = torch.cumsum(1 - tp, 0) / num_images
        recall = torch.cumsum(tp, 0) / num_positives
        # (-inf, 0) in front: a reference below the first false positive's FPPI takes the
        # recall reached before it, and below every point recall 0.
        xs = torch.cat([ref.new_full((1,), -_INF), fppi])
        ys = torch.cat([ref.new_zeros(1), recall])
        last = torch.searchsorted(xs, ref, right=True) - 1
        ref_recall = ys[last]
    miss = 1 - ref_recall
    if num_positives == 0:
        lamr = math.nan
    else:
        # In Python floats, summed in order: the same rounding as MATLAB's mean of 9 values.
        values = miss.tolist()
        lamr = math.exp(sum(math.log(max(MISS_RATE_FLOOR, m)) for m in values) / len(values))
    return MissRateCurve(fppi, 1 - recall, scores, ref, miss, lamr)


def compute_roc(
    results: Sequence[ImageResult], reference_fppi: Sequence[float] = FPPI_REFERENCE
) -> MissRateCurve:
    """``bbGt('compRoc', gt, dt, 1, ref)``: the miss-rate/FPPI curve of evaluated images.

    Args:
        results: :func:`evaluate_images` output, one per image (images without ground truth or
            detections count too: FPPI is per image).
        reference_fppi: Where the miss rate is read off for the log-average.

    Returns:
        The curve and its log-average miss rate.
    """
    device = results[0].detections.device if results else torch.device("cpu")
    empty = torch.zeros(0, 6, dtype=torch.float64, device=device)
    evaluated = _Evaluated(
        torch.cat([empty[:, :5], *(r.ground_truth.to(device) for r in results)]),
        torch.tensor([r.ground_truth.shape[0] for r in results], dtype=torch.long),
        torch.cat([empty, *(r.detections.to(device) for r in results)]),
        torch.tensor([r.detections.shape[0] for r in results], dtype=torch.long),
    )
    return _curve_of(evaluated, reference_fppi)


def _curve_of(evaluated: _Evaluated, reference: Sequence[float]) -> MissRateCurve:
    dt = evaluated.detections
    dt = dt[dt[:, 5] != -1]
    positives = int((evaluated.ground_truth[:, 4] != -1).sum())
    return _roc(dt[:, 4], dt[:, 5] == 1, positives, evaluated.gt_counts.numel(), reference)


def miss_rate_curve(
    detections: Sequence[Tensor],
    ground_truth: Sequence[Mapping[str, Any]],
    setting: str | EvaluationSetting = "reasonable",
    *,
    bounds: Sequence[float] = CALTECH_BOUNDS,
    aspect_ratio: float = ASPECT_RATIO,
    reference_fppi: Sequence[float] = FPPI_REFERENCE,
) -> MissRateCurve:
    """The miss-rate/FPPI curve of detections on images, as the Caltech toolbox draws it.

    Args:
        detections: One ``[k, 5]`` tensor per image, rows ``x, y, w, h, score``.
        ground_truth: One mapping per image: ``"boxes"`` ``[n, 4]`` ``x, y, w, h``,
            ``"visible"`` ``[n, 4]`` (zeros when not occluded) and ``"labels"`` (``n``
            strings: ``person``, ``person?``, ``people``, ``ignore``; others are not loaded).
        setting: A name in :data:`CALTECH_SETTINGS` or an :class:`EvaluationSetting`.
        bounds: ``[x0, y0, x1, y1]`` positives must lie inside.
        aspect_ratio: Width / height boxes are standardised to.
        reference_fppi: Where the miss rate is read off for the log-average.

    Returns:
        The curve and its log-average miss rate. The order of the images matters only where
        detections of different images have equal scores (ties are broken by image order, as
        the toolbox's concatenation does).
    """
    evaluated = _evaluate_inputs(
        detections, ground_truth, _as_setting(setting), bounds, aspect_ratio
    )
    return _curve_of(evaluated, reference_fppi)


def log_average_miss_rate(
    detections: Sequence[Tensor],
    ground_truth: Sequence[Mapping[str, Any]],
    setting: str | EvaluationSetting = "reasonable",
    *,
    bounds: Sequence[float] = CALTECH_BOUNDS,
    aspect_ratio: float = ASPECT_RATIO,
    reference_fppi: Sequence[float] = FPPI_REFERENCE,
) -> float:
    """Caltech log-average miss rate (LAMR), exactly as ``dbEval.m`` computes it.

    Arguments as :func:`miss_rate_curve`.

    Returns:
        The LAMR in ``[0, 1]`` (lower is better; 1 without any detection), NaN when the ground
        truth holds no positive under ``setting``.
    """
    return miss_rate_curve(
        detections,
        ground_truth,
        setting,
        bounds=bounds,
        aspect_ratio=aspect_ratio,
        reference_fppi=reference_fppi,
    ).log_average_miss_rate
