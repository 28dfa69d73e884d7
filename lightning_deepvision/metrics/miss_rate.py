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
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import torch
from torch import Tensor
from torchmetrics import Metric
from torchmetrics.utilities import dim_zero_cat

from lightning_deepvision.metrics.functional import first_occurrence

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

#: Width / height every positive and every detection is resized to (``dbEval``: aspectRatio).
ASPECT_RATIO = 0.41
#: ``[x0, y0, x1, y1]``: ground truth not inside is ignored (``dbEval``: bnds, 640x480 frames).
CALTECH_BOUNDS = (5.0, 5.0, 635.0, 475.0)
#: The 9 reference FPPI ``10.^(-2:.25:0)`` (``dbEval``: samples); ``-2 + k / 4`` is exact.
FPPI_REFERENCE: tuple[float, ...] = tuple(10.0 ** (k / 4 - 2) for k in range(9))
#: Miss rates are floored here before the logarithm, so that a miss rate of 0 stays finite.
MISS_RATE_FLOOR = 1e-10
#: The only label that can be a positive.
PERSON_LABEL = "person"
#: The other labels ``dbEval`` loads; objects with them are always ignore regions.
IGNORE_LABELS = ("person?", "people", "ignore")

# 0 = candidate positive, 1 = ignore region; labels missing here are not loaded (frameAnn).
_LABEL_CODES = {PERSON_LABEL: 0, **dict.fromkeys(IGNORE_LABELS, 1)}
# Detection/ground-truth pairs whose overlap is computed in one tensor operation: bounds the
# memory of a batch with many boxes per image (about 10 float64 arrays of this length).
_PAIR_BUDGET = 1 << 21


@dataclass(frozen=True)
class EvaluationSetting:
    """One experiment of ``dbEval.m``: which ground truth counts, and how matches are judged.

    Args:
        height: ``[low, high)`` range of annotated heights (pixels) a positive must fall in.
        visibility: ``[low, high]`` range of the visible fraction ``area(visible) /
            area(box)``; an object whose visible box is all zeros (not occluded) has visible
            fraction ``inf``, so ``(inf, inf)`` selects exactly the unoccluded objects.
        overlap: Overlap a match needs (``>=``).
        expand: Detections are kept if their height lies in ``height`` widened by this factor
            (``[low / expand, high * expand)``), so that a detection slightly smaller than the
            smallest positive can still match it (TPAMI 2012, section 3.3).
    """

    height: tuple[float, float]
    visibility: tuple[float, float]
    overlap: float = 0.5
    expand: float = 1.25

    @property
    def detection_height(self) -> tuple[float, float]:
        """``[low, high)`` height range of the detections kept, ``hr .* [1/filter filter]``."""
        return (self.height[0] * (1 / self.expand), self.height[1] * self.expand)


_INF = math.inf

#: The toolbox's experiments by name: ``reasonable`` (the headline number), ``all``, the
#: occlusion settings ``none`` / ``partial`` / ``heavy`` and the scale settings ``large`` /
#: ``near`` / ``medium`` / ``far`` (``Reasonable``, ``All``, ``Occ=...``, ``Scale=...``).
CALTECH_SETTINGS: dict[str, EvaluationSetting] = {
    "reasonable": EvaluationSetting((50.0, _INF), (0.65, _INF)),
    "all": EvaluationSetting((20.0, _INF), (0.2, _INF)),
    "none": EvaluationSetting((50.0, _INF), (_INF, _INF)),
    "partial": EvaluationSetting((50.0, _INF), (0.65, 1.0)),
    "heavy": EvaluationSetting((50.0, _INF), (0.2, 0.65)),
    "large": EvaluationSetting((100.0, _INF), (_INF, _INF)),
    "near": EvaluationSetting((80.0, _INF), (_INF, _INF)),
    "medium": EvaluationSetting((30.0, 80.0), (_INF, _INF)),
    "far": EvaluationSetting((20.0, 30.0), (_INF, _INF)),
}


def _as_setting(setting: str | EvaluationSetting) -> EvaluationSetting:
    if isinstance(setting, EvaluationSetting):
        return setting
    try:
        return CALTECH_SETTINGS[setting]
    except KeyError:
        raise ValueError(
            f"unknown evaluation setting {setting!r}; expected one of "
            f"{sorted(CALTECH_SETTINGS)} or an EvaluationSetting"
        ) from None


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
