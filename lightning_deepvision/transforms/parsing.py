"""torchvision.transforms.v2 presets for face parsing: the image and its label map together.

A parsing sample is ``{"image": tv_tensors.Image, "mask": tv_tensors.Mask, ...}``; torchvision
v2 resizes and crops the ``Mask`` with nearest-neighbour sampling, so labels are never blended.
A mirror also swaps the left and right face parts (HELEN's left/right brows and eyes):
:class:`~lightning_deepvision.transforms.faces.FaceHorizontalFlip` relabels the mask through
:func:`~lightning_deepvision.datasets.face_parts.hflip_permutation` of the dataset's class
names, so a label set without left/right classes (LFW Part Labels) flips plainly.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torchvision import tv_tensors
from torchvision.transforms import v2

from lightning_deepvision.datasets.face_parts import HELEN_LABELS, hflip_permutation
from lightning_deepvision.transforms._sample import SampleToImage, jittered_crop
from lightning_deepvision.transforms.faces import FACE_MEAN, FACE_STD, FaceHorizontalFlip

__all__ = ["ORIGINAL_MASK_KEY", "KeepOriginalMask", "SampleToMask", "parsing_transforms"]

#: The sample entry holding the label map at the image's own size (scoring at original size).
ORIGINAL_MASK_KEY = "original_mask"


class SampleToMask(v2.Transform):
    """Wrap a sample dict's ``mask`` entry as an int64 ``tv_tensors.Mask``, by its key.

    A plain-tensor mask would be passed through untouched by every geometric v2 transform and
    end up misaligned with its image; wrapping it makes it move with the image.
    """

    def forward(self, *inputs: Any) -> Any:
        """Return the sample with ``mask`` as a ``Mask`` (other inputs unchanged)."""
        sample = inputs[0] if len(inputs) == 1 else inputs
        if isinstance(sample, Mapping) and "mask" in sample:
            mask = sample["mask"]
            if not isinstance(mask, tv_tensors.Mask):
                mask = tv_tensors.Mask(torch.as_tensor(mask, dtype=torch.int64))
            return {**sample, "mask": mask}
        return sample


class KeepOriginalMask:
    """Copy a sample's ``mask`` to ``original_mask``, a plain ``uint8`` tensor, before resizing.

    HELEN papers score label maps at each image's original size, while the network sees a
    resized face. A plain tensor in a sample that holds an ``Image`` is passed through by every
    v2 transform, so the copy keeps the original size; ``uint8`` keeps large maps small in a
    batch.

    Raises:
        ValueError: If the mask holds a label outside ``0..255``.
    """

    def __call__(self, sample: Mapping[str, Any]) -> dict[str, Any]:
        """Return the sample with ``original_mask`` added (unchanged when it has no mask)."""
        if "mask" not in sample:
            return dict(sample)
        mask = torch.as_tensor(sample["mask"]).as_subclass(torch.Tensor)
        if mask.numel() and (int(mask.min()) < 0 or int(mask.max()) > 255):
            raise ValueError(
                f"mask labels {int(mask.min())}..{int(mask.max())} do not fit in uint8 (0..255)"
            )
        return {**sample, ORIGINAL_MASK_KEY: mask.to(torch.uint8)}


def parsing_transforms(
    input_size: Sequence[int] = (64, 56),
    train: bool = False,
    class_names: Sequence[str] = HELEN_LABELS,
    flip: bool = True,
    scale_jitter: float = 0.1,
    mean: Sequence[float] = FACE_MEAN,
    std: Sequence[float] = FACE_STD,
) -> v2.Compose:
    """The pipeline from a parsing sample to the network's input and its target map.

    Evaluation resizes image and mask to ``input_size``; training takes a random crop of
    ``(1 - scale_jitter, 1)`` of the area resized to ``input_size`` and mirrors half the
    samples, swapping left/right classes. Only the image is converted to float and normalised;
    the mask keeps its int64 labels.

    Args:
        input_size: ``(height, width)`` of the network input and of the target map.
        train: Add the training augmentation (random scale/translation crop and mirror).
        class_names: The mask's class names in label order; ``left_*``/``right_*`` pairs swap
            under a mirror.
        flip: Random horizontal mirror during training.
        scale_jitter: Relative area range of the training crop.
        mean: Normalisation mean per channel.
        std: Normalisation std per channel.

    Returns:
        A ``v2.Compose`` over sample dicts.

    Raises:
        ValueError: If ``scale_jitter`` is not in ``[0, 1)``, or a ``left_`` class lacks its
            ``right_`` twin.
    """
    if not 0.0 <= scale_jitter < 1.0:
        raise ValueError(f"scale_jitter must be in [0, 1), got {scale_jitter}")
    size = (int(input_size[0]), int(input_size[1]))
    steps: list[v2.Transform] = [SampleToImage(), SampleToMask()]
    if train:
        steps.append(jittered_crop(size, scale_jitter))
        if flip:
            steps.append(FaceHorizontalFlip(label_permutation=hflip_permutation(list(class_names))))
    else:
        steps.append(v2.Resize(size, antialias=True))
    steps += [v2.ToDtype(torch.float32, scale=True), v2.Normalize(list(mean), list(std))]
    return v2.Compose(steps)
