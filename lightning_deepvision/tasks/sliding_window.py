"""Window-classifier detection: image pyramid, window scores, boxes, non-maximum suppression.

The detection side of the window classifiers of the UDN era (Ouyang, Wang, "Joint Deep Learning
for Pedestrian Detection", ICCV 2013; Dollár et al., TPAMI 2012 for the pyramid): the frame is
rescaled so that pedestrians of every height fill the classifier's window, every window of a
scale is scored (in one fully convolutional pass when the classifier has a ``score_map``, else
by cropping the windows and scoring them a batch at a time), each window becomes a box and
overlapping boxes are suppressed (``torchvision.ops.nms``). Candidate boxes of a first-stage
detector can be re-scored instead (:func:`box_windows` crops them with ``roi_align``).

Boxes are ``x, y, w, h`` in frame pixels, as the Caltech toolbox and
:mod:`lightning_deepvision.metrics.miss_rate` take them. A window of height ``H_w`` holds an
object of height ``H_w / (1 + 2·context)`` (the crop rule of
:class:`~lightning_deepvision.datasets.caltech.CaltechWindows`), ``aspect_ratio`` times as wide.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
from torch import Tensor
from torch.nn import functional as F
from torchvision.ops import box_convert, nms, roi_align

__all__ = [
    "box_windows",
    "crop_windows",
    "pyramid_scales",
    "suppress",
    "window_boxes",
    "windowed_scores",
]

WindowScorer = Callable[[Tensor], Tensor]


def pyramid_scales(
    frame_size: Sequence[int],
    window_size: Sequence[int],
    context: float,
    min_height: float,
    max_height: float | None = None,
    scales_per_octave: int = 4,
) -> list[float]:
    """The rescaling factors of the frame, largest first.

    Scale ``s`` detects objects of height ``object_window / s``, ``object_window = window_h /
    (1 + 2·context)``; the factors run from the one for ``min_height`` down by
    ``2^(-1/scales_per_octave)`` to the one for ``max_height`` (the frame height by default),
    and never below the scale at which the frame still holds a window.
    """
    height, width = int(frame_size[0]), int(frame_size[1])
    window_h, window_w = int(window_size[0]), int(window_size[1])
    object_window = window_h / (1 + 2 * context)
    largest = object_window / float(min_height)
    smallest = max(object_window / float(max_height or height), window_h / height, window_w / width)
    if largest < smallest:
        return [smallest]
    steps = math.floor(math.log2(largest / smallest) * scales_per_octave + 1e-9)
    return [largest * 2.0 ** (-k / scales_per_octave) for k in range(steps + 1)]


def resize_even(image: Tensor, scale: float) -> tuple[Tensor, tuple[float, float]]:
    """``image`` ``[B, C, H, W]`` rescaled by ``scale`` to even sides (bilinear, antialiased).

    Returns:
        The level and its actual ``(scale_y, scale_x)``.
    """
    height, width = image.shape[-2:]
    new_h = max(2, 2 * round(height * scale / 2))
    new_w = max(2, 2 * round(width * scale / 2))
    if (new_h, new_w) == (height, width):
        return image, (1.0, 1.0)
    level = F.interpolate(image, size=(new_h, new_w), mode="bilinear", antialias=True)
    return level, (new_h / height, new_w / width)


def window_boxes(
    scores: Tensor,
    scale: tuple[float, float],
    stride: int,
    window_size: Sequence[int],
    context: float,
    aspect_ratio: float,
) -> Tensor:
    """Boxes of every window of a score map ``[H', W']`` of one pyramid level.

    Window ``(i, j)`` lies at ``(stride·j, stride·i)`` of the level; its box, in frame pixels,
    is centred on the window, ``window_h / (1 + 2·context)`` high and ``aspect_ratio`` times
    as wide.

    Returns:
        ``[H'·W', 5]`` ``x, y, w, h, score``.
    """
    rows, cols = scores.shape
    sy, sx = scale
    window_h, window_w = float(window_size[0]), float(window_size[1])
    i = torch.arange(rows, device=scores.device, dtype=scores.dtype)
    j = torch.arange(cols, device=scores.device, dtype=scores.dtype)
    cy = (stride * i + window_h / 2) / sy
    cx = (stride * j + window_w / 2) / sx
    h = window_h / (1 + 2 * context) / sy
    w = aspect_ratio * h
    cy, cx = torch.broadcast_tensors(cy[:, None], cx[None, :])
    return torch.stack(
        [
            (cx - w / 2).flatten(),
            (cy - h / 2).flatten(),
            torch.full((rows * cols,), w, dtype=scores.dtype, device=scores.device),
            torch.full((rows * cols,), h, dtype=scores.dtype, device=scores.device),
            scores.flatten(),
        ],
        dim=1,
    )


def crop_windows(image: Tensor, window_size: Sequence[int], stride: int) -> Tensor:
    """Every ``window_size`` crop of ``image`` ``[C, H, W]`` at ``stride``: ``[H'·W', C, h, w]``.

    Row-major over window positions, so the crops line up with a score map of the same stride.
    """
    window_h, window_w = int(window_size[0]), int(window_size[1])
    patches = image.unfold(1, window_h, stride).unfold(2, window_w, stride)
    return patches.permute(1, 2, 0, 3, 4).reshape(-1, image.shape[0], window_h, window_w)


def windowed_scores(
    scorer: WindowScorer,
    image: Tensor,
    window_size: Sequence[int],
    stride: int,
    batch_size: int = 256,
) -> Tensor:
    """Score every window of ``image`` ``[C, H, W]`` by cropping it, ``batch_size`` at a time.

    The way to scan a classifier without a fully convolutional form (and the baseline of the
    sliding-window benchmark).

    Returns:
        ``[H', W']`` scores, as a score map of the same stride.
    """
    rows = (image.shape[-2] - int(window_size[0])) // stride + 1
    cols = (image.shape[-1] - int(window_size[1])) // stride + 1
    windows = crop_windows(image, window_size, stride)
    scores = [scorer(windows[k : k + batch_size]) for k in range(0, len(windows), batch_size)]
    return torch.cat(scores).reshape(rows, cols)


def box_windows(
    image: Tensor,
    boxes: Tensor,
    window_size: Sequence[int],
    context: float,
) -> Tensor:
    """Crop the window of each box ``x, y, w, h`` from ``image`` ``[C, H, W]`` (bilinear).

    The crop is centred on the box, ``h·(1 + 2·context)`` high, at the window's aspect, as
    :class:`~lightning_deepvision.datasets.caltech.CaltechWindows` cuts training windows
    (``torchvision.ops.roi_align``; outside the frame is zero).

    Returns:
        ``[k, C, *window_size]``.
    """
    window_h, window_w = int(window_size[0]), int(window_size[1])
    boxes = boxes.to(image.dtype)
    crop_h = boxes[:, 3] * (1 + 2 * context)
    crop_w = crop_h * window_w / window_h
    cx, cy = boxes[:, 0] + boxes[:, 2] / 2, boxes[:, 1] + boxes[:, 3] / 2
    rois = torch.stack(
        [
            torch.zeros_like(cx),
            cx - crop_w / 2,
            cy - crop_h / 2,
            cx + crop_w / 2,
            cy + crop_h / 2,
        ],
        dim=1,
    )
    return roi_align(image[None], rois, (window_h, window_w), aligned=True)


def suppress(
    detections: Tensor, iou_threshold: float, max_detections: int, pre_nms: int = 2000
) -> Tensor:
    """Greedy non-maximum suppression of ``[k, 5]`` ``x, y, w, h, score`` rows.

    The ``pre_nms`` highest-scoring rows enter ``torchvision.ops.nms``; the ``max_detections``
    best survivors are returned, best first.
    """
    if len(detections) > pre_nms:
        detections = detections[detections[:, 4].topk(pre_nms).indices]
    keep = nms(box_convert(detections[:, :4], "xywh", "xyxy"), detections[:, 4], iou_threshold)
    return detections[keep[:max_detections]]
