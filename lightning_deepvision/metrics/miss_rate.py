"""Caltech Pedestrian log-average miss rate, computed exactly as Dollár's MATLAB toolbox does.

Dollár, Wojek, Schiele, Perona, "Pedestrian Detection: An Evaluation of the State of the Art",
IEEE TPAMI 34(4), 2012, and the benchmark's evaluation code (Caltech Pedestrian Dataset code
3.2.1: ``dbEval.m`` ``loadGt``/``loadDt``/``evalAlgs``/``plotExps``, ``bbGt.m``
``evalRes``/``compRoc``/``compOas``, ``bbApply.m`` ``resize``, ``vbb.m`` ``frameAnn``).

The pipeline, one function per toolbox step:

1. :func:`ground_truth_regions` (``loadGt``): objects labelled ``person`` that pass the
   setting's height and visibility ranges and lie inside ``[5 5 635 475]`` are the positives;
   every other loaded object (``person``s that fail the filter, ``person?``, ``people``,
   ``ignore``) is an ignore region. Labels outside these four are not loaded at all, as
   ``frameAnn`` skips them. Positives are standardised to aspect ratio 0.41 (height and centre
   kept); ignore regions keep their annotated shape.
2. :func:`filter_detections` (``loadDt`` and ``evalAlgs``): every detection is standardised to
   aspect ratio 0.41, and detections outside the setting's height range widened by the
   expansion factor (reasonable: ``[50 / 1.25, inf)``) are dropped.
3. :func:`evaluate_images` (``evalRes``): per image, detections in descending score order
   (stable, as MATLAB's ``sort``) each take the still unmatched positive of highest overlap
   ``>= 0.5`` (the last one among equal overlaps, as the toolbox's ``>=`` replaces); a
   detection that finds none and overlaps an ignore region by ``intersection / detection
   area >= 0.5`` is ignored (neither true nor false positive; one region absorbs any number);
   the rest are false positives.
4. :func:`compute_roc` (``compRoc`` with ``plotExps``): all non-ignored detections in one
   stable descending sort, ``FPPI = FP / images``, ``recall = TP / positives``; the curve is
   prefixed with ``(-inf, 0)`` and the recall at each reference FPPI ``10^(-2:0.25:0)`` is the
   one of the last curve point with ``FPPI <= reference`` (a step, never an interpolation);
   ``LAMR = exp(mean(log(max(1e-10, 1 - recall))))``.

The floor of ``1e-10`` is the issue's rule (release 3.2.1 takes ``log`` of the miss rates as they
are); it only changes the result when a miss rate at a reference point is exactly 0.

All arithmetic is float64 with the toolbox's operation order (``x + w`` for the right edge,
``(da + ga) - t`` for the union, ``w + (h * 0.41 - w)`` for the standardised width), so the
numbers agree with the MATLAB code bit for bit, not just to a tolerance. Matching is vectorised
over all images at once: overlaps are computed for every detection/ground-truth pair of an
image in one pass, and the greedy assignment runs in rounds (each round settles, in every image
at once, the next detection that still has an unmatched positive to take), so the Python-level
work is a handful of tensor operations per round, not a loop over detections.

The steps live in sibling modules, all re-exported here: the settings and constants in
:mod:`~lightning_deepvision.metrics.miss_rate_settings`, steps 1-2 in
:mod:`~lightning_deepvision.metrics.miss_rate_boxes`, step 3 in
:mod:`~lightning_deepvision.metrics.miss_rate_matching`, step 4 and the one-call functions in
:mod:`~lightning_deepvision.metrics.miss_rate_roc`; this module holds the torchmetrics
:class:`LogAverageMissRate`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import Tensor
from torchmetrics import Metric
from torchmetrics.utilities import dim_zero_cat

from lightning_deepvision.metrics.functional import first_occurrence
from lightning_deepvision.metrics.miss_rate_boxes import (
    _segment_ids,
    filter_detections,
    ground_truth_regions,
)
from lightning_deepvision.metrics.miss_rate_matching import (
    ImageResult,
    _evaluate_inputs,
    evaluate_image,
    evaluate_images,
)
from lightning_deepvision.metrics.miss_rate_roc import (
    MissRateCurve,
    _roc,
    compute_roc,
    log_average_miss_rate,
    miss_rate_curve,
)
from lightning_deepvision.metrics.miss_rate_settings import (
    ASPECT_RATIO,
    CALTECH_BOUNDS,
    CALTECH_SETTINGS,
    FPPI_REFERENCE,
    IGNORE_LABELS,
    MISS_RATE_FLOOR,
    PERSON_LABEL,
    EvaluationSetting,
    _as_setting,
)

__all__ = [
    "ASPECT_RATIO",
    "CALTECH_BOUNDS",
    "CALTECH_SETTINGS",
    "FPPI_REFERENCE",
    "IGNORE_LABELS",
    "MISS_RATE_FLOOR",
    "PERSON_LABEL",
    "EvaluationSetting",
    "ImageResult",
    "LogAverageMissRate",
    "MissRateCurve",
    "compute_roc",
    "evaluate_image",
    "evaluate_images",
    "filter_detections",
    "ground_truth_regions",
    "log_average_miss_rate",
    "miss_rate_curve",
]


class LogAverageMissRate(Metric):
    """Caltech log-average miss rate over a test set, exact under DDP.

    Each :meth:`update` evaluates its images at once (:func:`evaluate_images`) and keeps, per
    image, its index and number of positives, and per non-ignored detection its score and
    whether it is a true positive. :meth:`compute` keeps one copy of each image index
    (Lightning's padded ``DistributedSampler`` repeats images into the last shard) and puts
    the images in index order before building the curve, so the result is the same on one
    process and on N, whatever the order the images arrived in, and equals
    :func:`log_average_miss_rate` of the images listed in index order.

    Args:
        setting: A name in :data:`CALTECH_SETTINGS` or an :class:`EvaluationSetting`.
        bounds: ``[x0, y0, x1, y1]`` positives must lie inside.
        aspect_ratio: Width / height boxes are standardised to.
        reference_fppi: Where the miss rate is read off for the log-average.
        kwargs: Passed to :class:`torchmetrics.Metric`.
    """

    is_differentiable = False
    higher_is_better: bool | None = False
    full_state_update = False

    image_index: list[Tensor]
    positives: list[Tensor]
    num_detections: list[Tensor]
    scores: list[Tensor]
    true_positive: list[Tensor]

    def __init__(
        self,
        setting: str | EvaluationSetting = "reasonable",
        *,
        bounds: Sequence[float] = CALTECH_BOUNDS,
        aspect_ratio: float = ASPECT_RATIO,
        reference_fppi: Sequence[float] = FPPI_REFERENCE,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.setting = _as_setting(setting)
        self.bounds = tuple(bounds)
        self.aspect_ratio = aspect_ratio
        self.reference_fppi = tuple(reference_fppi)
        for name in ("image_index", "positives", "num_detections", "scores", "true_positive"):
            self.add_state(name, default=[], dist_reduce_fx="cat")

    def update(
        self,
        detections: Sequence[Tensor],
        ground_truth: Sequence[Mapping[str, Any]],
        indices: Tensor | Sequence[int],
    ) -> None:
        """Evaluate a batch of images.

        Args:
            detections: One ``[k, 5]`` tensor per image, rows ``x, y, w, h, score``.
            ground_truth: One mapping per image (see :func:`miss_rate_curve`).
            indices: ``[B]`` global image indices (the dataset index), used to drop sampler
                padding duplicates and to order the images.
        """
        indices = torch.as_tensor(indices).detach().flatten().long()
        if indices.numel() != len(detections):
            raise ValueError(f"indices has {indices.numel()} elements, {len(detections)} images")
        evaluated = _evaluate_inputs(
            detections, ground_truth, self.setting, self.bounds, self.aspect_ratio
        )
        device = self.device
        gt_image = _segment_ids(evaluated.gt_counts)
        positive = evaluated.ground_truth[:, 4] != -1
        per_image = torch.bincount(gt_image[positive], minlength=evaluated.gt_counts.numel())
        dt = evaluated.detections
        dt_image = _segment_ids(evaluated.dt_counts)
        counted = dt[:, 5] != -1
        self.image_index.append(indices.to(device))
        self.positives.append(per_image.to(device))
        self.num_detections.append(
            torch.bincount(dt_image[counted], minlength=evaluated.dt_counts.numel()).to(device)
        )
        self.scores.append(dt[counted, 4].to(device))
        self.true_positive.append((dt[counted, 5] == 1).to(device))

    def _curve(self) -> MissRateCurve:
        index = dim_zero_cat(self.image_index)
        positives = dim_zero_cat(self.positives)
        counts = dim_zero_cat(self.num_detections)
        scores = dim_zero_cat(self.scores)
        true_positive = dim_zero_cat(self.true_positive)
        # One copy per image index, images in ascending index order; each image's detections
        # are a contiguous block of the (equally ordered) detection states.
        _, keep = first_occurrence(index)
        starts = (torch.cumsum(counts, 0) - counts)[keep]
        kept = counts[keep]
        block = _segment_ids(kept)
        offset = (
            torch.arange(block.numel(), device=kept.device) - (torch.cumsum(kept, 0) - kept)[block]
        )
        rows = starts[block] + offset
        return _roc(
            scores[rows],
            true_positive[rows],
            int(positives[keep].sum()),
            keep.numel(),
            self.reference_fppi,
        )

    def _has_data(self) -> bool:
        # A list of tensors, or one tensor after a DDP sync has concatenated them.
        state: list[Tensor] | Tensor = self.image_index
        parts = [state] if isinstance(state, Tensor) else state
        return sum(part.numel() for part in parts) > 0

    def compute(self) -> Tensor:
        """The log-average miss rate (0-d float64 tensor; NaN before any update)."""
        if not self._has_data():
            return torch.tensor(math.nan, dtype=torch.float64, device=self.device)
        return torch.tensor(
            self._curve().log_average_miss_rate, dtype=torch.float64, device=self.device
        )

    def curve(self) -> MissRateCurve:
        """The miss-rate/FPPI curve of everything seen so far (synchronised across processes).

        Raises:
            ValueError: Before any update.
        """
        with self.sync_context():
            if not self._has_data():
                raise ValueError("LogAverageMissRate.curve() needs at least one update")
            return self._curve()
