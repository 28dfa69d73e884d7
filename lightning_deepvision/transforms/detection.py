"""torchvision.transforms.v2 presets for pedestrian detection windows.

The joint deep pedestrian model (UDN; Ouyang, Wang, "Joint Deep Learning for Pedestrian
Detection", ICCV 2013) classifies 84×28 (height × width) windows, each a candidate box cropped
with some context from a Caltech Pedestrian frame. This preset turns such a sample — the window
``image``, its ``boxes`` (``tv_tensors.BoundingBoxes``) with one ``labels`` entry and,
if present, one ``ignore`` flag per box — into the network input, moving the boxes with the
pixels and keeping the per-box entries aligned with the boxes that survive.

Choices:

- The window is resized to ``window_size`` without keeping the aspect ratio: the crops are
  already taken at the window's 3:1 aspect, and UDN's input is exactly 84×28.
- Training jitters the photometry (brightness, contrast, saturation: Caltech is video from one
  car-mounted camera, lit very differently across sequences), mirrors horizontally (a mirrored
  pedestrian is a pedestrian; the boxes carry no left/right part labels to swap) and jitters the
  scale and position by a random crop of ``(1 - scale_jitter, 1)`` of the window's area at about
  its aspect, resized back to ``window_size``.
- Boxes are clamped to the window and ``v2.SanitizeBoundingBoxes`` then drops those the
  augmentation made smaller than ``min_box_size`` pixels, together with their ``labels`` and
  ``ignore`` entries (a ``labels_getter`` that returns every per-box key present).
- Only the image becomes ``float32`` and is normalised; box coordinates stay in pixels of the
  output window.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import Tensor
from torch.utils._pytree import tree_flatten
from torchvision import tv_tensors
from torchvision.transforms import v2

from lightning_deepvision.transforms._sample import SampleToImage, jittered_crop

__all__ = ["DETECTION_MEAN", "DETECTION_STD", "PER_BOX_KEYS", "detection_transforms"]

#: Per-channel mean/std that maps ``[0, 1]`` pixels to ``[-1, 1]``.
DETECTION_MEAN: tuple[float, float, float] = (0.5, 0.5, 0.5)
DETECTION_STD: tuple[float, float, float] = (0.5, 0.5, 0.5)

#: Sample keys that hold one entry per box and are filtered with the boxes.
PER_BOX_KEYS: tuple[str, ...] = ("labels", "ignore")


class _PerBoxEntries:
    """``labels_getter`` of ``v2.SanitizeBoundingBoxes``: every per-box entry of a sample.

    A class rather than a lambda so that the pipeline pickles into data-loader workers.
    """

    def __init__(self, keys: Sequence[str]) -> None:
        self.keys = tuple(keys)

    def __call__(self, sample: Any) -> tuple[Tensor, ...] | None:
        if not isinstance(sample, Mapping):
            return None
        entries = tuple(sample[key] for key in self.keys if key in sample)
        return entries or None


class _SanitizeBoundingBoxes(v2.SanitizeBoundingBoxes):
    """``v2.SanitizeBoundingBoxes`` that lets a sample without boxes through.

    A bare image, or a window sample with only a window-level ``label``, has nothing to sanitise
    (torchvision's transform raises on it).
    """

    def forward(self, *inputs: Any) -> Any:
        sample = inputs if len(inputs) > 1 else inputs[0]
        flat, _ = tree_flatten(sample)
        if not any(isinstance(inpt, tv_tensors.BoundingBoxes) for inpt in flat):
            return sample
        return super().forward(sample)


def detection_transforms(
    window_size: Sequence[int] = (84, 28),
    train: bool = False,
    scale_jitter: float = 0.1,
    flip: bool = True,
    color_jitter: float = 0.2,
    min_box_size: float = 1.0,
    per_box_keys: Sequence[str] = PER_BOX_KEYS,
    mean: Sequence[float] = DETECTION_MEAN,
    std: Sequence[float] = DETECTION_STD,
) -> v2.Compose:
    """Build the preprocessing pipeline for one pedestrian window (UDN, ICCV 2013).

    Args:
        window_size: ``(height, width)`` of the network input; UDN's is 84×28.
        train: Add the training augmentations (photometric jitter, flip, scale jitter).
        scale_jitter: Relative area range of the training crop, ``(1 - jitter, 1)``;
            ``0`` turns the crop off.
        flip: Random horizontal flip during training; boxes are mirrored with the image.
        color_jitter: Strength of the brightness, contrast and saturation jitter during
            training (``v2.ColorJitter``); ``0`` turns it off.
        min_box_size: Boxes narrower or lower than this (in output pixels) are dropped.
        per_box_keys: Sample keys with one entry per box, dropped with their boxes.
        mean: Normalisation mean per channel.
        std: Normalisation std per channel.

    Returns:
        A ``v2.Compose`` that accepts an image or a sample dict with tv_tensors.

    Raises:
        ValueError: If ``scale_jitter`` is not in ``[0, 1)``.
    """
    if not 0.0 <= scale_jitter < 1.0:
        raise ValueError(f"scale_jitter must be in [0, 1), got {scale_jitter}")
    size = (int(window_size[0]), int(window_size[1]))
    steps: list[v2.Transform] = [SampleToImage()]
    if train and flip:
        steps.append(v2.RandomHorizontalFlip())
    if train and scale_jitter > 0:
        steps.append(jittered_crop(size, scale_jitter))
    else:
        steps.append(v2.Resize(size, antialias=True))
    if train and color_jitter > 0:
        # After the resize: jittering 84×28 pixels costs less than jittering the source crop.
        steps.append(
            v2.ColorJitter(brightness=color_jitter, contrast=color_jitter, saturation=color_jitter)
        )
    steps += [
        v2.ClampBoundingBoxes(),
        _SanitizeBoundingBoxes(min_size=min_box_size, labels_getter=_PerBoxEntries(per_box_keys)),
        v2.ToDtype(torch.float32, scale=True),
        v2.Normalize(list(mean), list(std)),
    ]
    return v2.Compose(steps)
