"""Pieces every preset shares: the sample convention and its first step.

The rule the presets follow (and a user's own v2 pipeline should follow too): a sample is a
``dict`` whose ``image`` is a :class:`~torchvision.tv_tensors.Image` and whose spatial targets
are tv_tensors (``mask``: ``Mask``, ``boxes``: ``BoundingBoxes``, ``landmarks``: ``KeyPoints``).
torchvision v2 transforms every tv_tensor of a sample with the same parameters and passes plain
tensors (``label``, ``yaw``, ``attributes``, ...) through untouched, *but only while the sample
holds an* ``Image``: without one, it treats the first plain tensor it meets (in dict order) as the
image. :class:`SampleToImage` therefore starts every preset by turning ``sample["image"]`` (a
plain tensor, PIL image or array) into an ``Image``, whatever its position in the dict. A value
that a geometric transform changes without being spatial (the head ``yaw`` under a mirror) is
handled by the transform that changes it, by key.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import PIL.Image
from torchvision import tv_tensors
from torchvision.transforms import v2


class SampleToImage(v2.ToImage):
    """``v2.ToImage`` that converts a sample dict's ``image`` entry by its key.

    A bare input (tensor, PIL image, array) is converted as ``v2.ToImage`` does. In a sample
    dict, only ``sample["image"]`` is converted, so a plain tensor placed before it (``label``,
    ``yaw``) can never be mistaken for the image. Other keys are returned as they are.
    """

    def forward(self, *inputs: Any) -> Any:
        """Convert the image of a bare input or of a sample dict."""
        sample = inputs[0] if len(inputs) == 1 else None
        if isinstance(sample, Mapping) and "image" in sample:
            image = sample["image"]
            if isinstance(image, tv_tensors.Image):
                return sample
            return {**sample, "image": v2.functional.to_image(image)}
        return super().forward(*inputs)


def _only_the_image(sample: Mapping[str, Any]) -> bool:
    """Whether ``sample["image"]`` is an ``Image`` and nothing else in it is transformable."""
    if not isinstance(sample.get("image"), tv_tensors.Image):
        return False
    return not any(
        isinstance(value, (tv_tensors.TVTensor, PIL.Image.Image))
        for key, value in sample.items()
        if key != "image"
    )


class ImageTransform(v2.Transform):
    """A ``v2.Transform`` with a short path for an ``Image`` alone or in a classification sample.

    For a bare ``tv_tensors.Image``, or a sample dict whose only tv_tensor is its ``image``
    (``{"image", "label"}``), the result is what ``v2.Transform.forward`` returns: torchvision
    leaves plain tensors alone while the sample has an ``Image``, so only the image is
    transformed. The short path skips flattening the sample into a pytree and checking the type
    of every leaf, which costs as much as cropping a small image. Every other input (masks,
    boxes, PIL images, plain tensors, tuples) goes through ``v2.Transform.forward``.
    """

    def forward(self, *inputs: Any) -> Any:
        """Transform the image directly when it is the sample's only tv_tensor."""
        if len(inputs) == 1:
            sample = inputs[0]
            if isinstance(sample, tv_tensors.Image):
                return self.transform(sample, self.make_params([sample]))
            if isinstance(sample, dict) and _only_the_image(sample):
                image = sample["image"]
                return {**sample, "image": self.transform(image, self.make_params([image]))}
        return super().forward(*inputs)


def jittered_crop(size: tuple[int, int], scale_jitter: float) -> v2.RandomResizedCrop:
    """The small scale/translation jitter of the face and window presets.

    A random crop of ``(1 - scale_jitter, 1)`` of the area at about the output's aspect,
    resized to ``size``. The aspect ratio may vary by 5 % either way, so crops do not always
    share the exact shape.
    """
    ratio = size[1] / size[0]
    return v2.RandomResizedCrop(
        size, scale=(1.0 - scale_jitter, 1.0), ratio=(ratio * 0.95, ratio / 0.95), antialias=True
    )
