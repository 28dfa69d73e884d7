"""Choosing LNet's face-window threshold on held-out images (Liu et al., ICCV 2015, §2.1).

LNets+ANet propose the face window by thresholding LNet's averaged C5 response, "the threshold
chosen on 2,000 images". The paper does not say by which criterion; the one available with
CelebA's annotations is how well the window covers the annotated face (its box in
``list_bbox_celeba.txt`` for the in-the-wild images, the extent of the five landmarks for the
aligned ones), so :func:`select_face_window_threshold` keeps the threshold whose windows have
the highest mean intersection over union with those boxes.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor
from torchvision.ops import box_iou

from lightning_deepvision.models.anet import LNet, windows_from_response

__all__ = ["DEFAULT_THRESHOLDS", "ThresholdSelection", "select_face_window_threshold"]

#: The candidates tried by default: 0.05, 0.10, ..., 0.95 of the peak response.
DEFAULT_THRESHOLDS: tuple[float, ...] = tuple(round(0.05 * i, 2) for i in range(1, 20))


@dataclass(frozen=True)
class ThresholdSelection:
    """The outcome of :func:`select_face_window_threshold`.

    Attributes:
        threshold: The chosen threshold (now LNet's).
        candidates: The thresholds tried.
        mean_iou: Mean IoU of the windows with the face boxes, per candidate.
        num_images: Images the choice was made on.
    """

    threshold: float
    candidates: tuple[float, ...]
    mean_iou: tuple[float, ...]
    num_images: int

    def summary(self) -> str:
        """One line: the chosen threshold, its mean IoU and the range over the candidates."""
        best = self.mean_iou[self.candidates.index(self.threshold)]
        return (
            f"LNet face-window threshold {self.threshold:.2f} (mean IoU {best:.3f} with the face "
            f"boxes of {self.num_images} images; {min(self.mean_iou):.3f}-{max(self.mean_iou):.3f}"
            f" over {len(self.candidates)} thresholds)"
        )


@torch.no_grad()
def select_face_window_threshold(
    lnet: LNet,
    batches: Iterable[tuple[Tensor, Tensor]],
    candidates: Sequence[float] = DEFAULT_THRESHOLDS,
    num_images: int = 2000,
) -> ThresholdSelection:
    """Set ``lnet.threshold`` to the candidate whose face windows best overlap the face boxes.

    Liu et al., ICCV 2015, §2.1 (the threshold "chosen on 2,000 images"). Each batch's C5
    response is computed once and thresholded at every candidate
    (:func:`~lightning_deepvision.models.anet.windows_from_response`); the criterion is the
    mean over images of the IoU between the window and the annotated face box. Ties go to the
    lower threshold (the larger window, which loses less of the face).

    Args:
        lnet: The localiser (in evaluation mode for the choice; its mode is restored).
        batches: ``(images (B, C, H, W), boxes (B, 4) x1, y1, x2, y2 in those images' pixels)``
            as the network reads them (preprocessed).
        candidates: Thresholds to try, each in ``[0, 1)``.
        num_images: Images used, the first ones of ``batches`` (2,000 in the paper).

    Returns:
        The chosen threshold and the mean IoU of every candidate.

    Raises:
        ValueError: No candidate, a candidate outside ``[0, 1)``, boxes that do not match their
            images, or no image at all.
    """
    levels = tuple(float(c) for c in candidates)
    if not levels or any(not 0.0 <= c < 1.0 for c in levels):
        raise ValueError(f"candidates must be thresholds in [0, 1), got {tuple(candidates)}")
    if num_images < 1:
        raise ValueError(f"num_images must be positive, got {num_images}")
    device = next(lnet.parameters()).device
    thresholds = torch.tensor(levels, device=device)
    total = torch.zeros(len(levels), dtype=torch.float64, device=device)
    seen = 0
    was_training = lnet.training
    lnet.eval()
    try:
        for images, boxes in batches:
            images, boxes = images[: num_images - seen], boxes[: num_images - seen]
            if boxes.shape != (len(images), 4):
                raise ValueError(
                    f"expected one x1, y1, x2, y2 box per image, got boxes {tuple(boxes.shape)} "
                    f"for {len(images)} images"
                )
            images, boxes = images.to(device), boxes.to(device, torch.float32)
            size = (int(images.shape[-2]), int(images.shape[-1]))
            windows = windows_from_response(lnet.response(images), thresholds, size)
            for index, found in enumerate(windows):
                # torchvision's box_iou is all-pairs: its diagonal pairs each window with its box.
                total[index] += box_iou(found, boxes).diagonal().double().sum()
            seen += len(images)
            if seen >= num_images:
                break
    finally:
        lnet.train(was_training)
    if seen == 0:
        raise ValueError("no images to choose LNet's face-window threshold on")
    mean = (total / seen).tolist()
    best = max(range(len(levels)), key=lambda i: (mean[i], -levels[i]))
    lnet.threshold = levels[best]
    return ThresholdSelection(levels[best], levels, tuple(mean), seen)
