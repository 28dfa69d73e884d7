"""torchvision.transforms.v2 presets for aligned face crops.

The DeepID family (Sun, Wang, Tang, CVPR 2014 / NIPS 2014 / CVPR 2015) feeds small aligned face
patches (55×47 for rectangular regions, 47×47 for square ones) to each ConvNet, with horizontal
flips of every patch used as training data and as a second test view. These presets turn a
dataset sample (a ``uint8`` image, or a whole sample ``dict`` of tv_tensors) into that input:
the image, its parsing ``mask``, its ``boxes`` and its ``landmarks`` are cropped, resized and
mirrored together (masks with nearest-neighbour resampling, as torchvision v2 does for
``tv_tensors.Mask``), while plain tensors (``label``, ``attributes``, ...) pass through.

A mirror changes more than pixels: left and right parts trade places. :class:`FaceHorizontalFlip`
relabels the mask through :data:`~lightning_deepvision.datasets.face_parts.HFLIP_LABEL_PERMUTATION`
(so a parsing network is never taught that the left eye is on the right), reorders left/right
landmarks and negates the head ``yaw``. See :mod:`lightning_deepvision.transforms._sample` for
the sample convention.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

import torch
from torch import Tensor
from torchvision import tv_tensors
from torchvision.transforms import v2

from lightning_deepvision.datasets.face_parts import HFLIP_LABEL_PERMUTATION
from lightning_deepvision.transforms._sample import SampleToImage, jittered_crop

__all__ = [
    "CELEBA_LANDMARKS",
    "CELEBA_LANDMARK_HFLIP_PERMUTATION",
    "FACE_MEAN",
    "FACE_STD",
    "FaceAugment",
    "FaceHorizontalFlip",
    "face_augmentations",
    "face_transforms",
]

FaceAugment = Literal["jitter", "strong"]
"""Training presets of :func:`face_transforms`: the small crop jitter, or the preset for few
identities (:func:`face_augmentations`)."""

#: Per-channel mean/std that maps ``[0, 1]`` pixels to ``[-1, 1]``.
FACE_MEAN: tuple[float, float, float] = (0.5, 0.5, 0.5)
FACE_STD: tuple[float, float, float] = (0.5, 0.5, 0.5)

CELEBA_LANDMARKS: tuple[str, ...] = ("lefteye", "righteye", "nose", "leftmouth", "rightmouth")
"""CelebA's five landmarks, in the column order of ``list_landmarks_celeba.txt``."""

CELEBA_LANDMARK_HFLIP_PERMUTATION: tuple[int, ...] = (1, 0, 2, 4, 3)
"""Mirrored CelebA landmarks must be reordered ``landmarks[perm]``: the eyes and the mouth
corners swap, the nose stays."""

#: The sample key negated by a horizontal mirror (a plain tensor, so found by key).
_YAW_KEY = "yaw"


class FaceHorizontalFlip(v2.RandomHorizontalFlip):
    """Mirror a face sample with probability ``p``, swapping what a mirror swaps.

    The image, ``tv_tensors.Mask``, ``tv_tensors.BoundingBoxes`` and ``tv_tensors.KeyPoints``
    are mirrored by torchvision's ``v2.functional.horizontal_flip``. Then:

    - every ``Mask`` is relabelled through ``label_permutation`` (left and right face parts swap);
    - every ``KeyPoints`` is reordered through ``landmark_permutation`` (left and right landmarks
      swap), when one is given;
    - the top-level ``yaw`` entry of a sample dict is negated (a plain tensor, so it is found by
      its key: torchvision would otherwise pass it through, or, in a sample without a
      ``tv_tensors.Image``, take it for the image);
    - every other entry is left alone.

    The decision to flip draws ``torch.rand(1)`` once per call, exactly as
    ``v2.RandomHorizontalFlip`` does, so a pipeline gives the same augmentations with either.
    Applying the flip twice (``p=1``) returns the sample unchanged.

    Args:
        p: Probability of mirroring.
        label_permutation: ``perm`` such that a mirrored mask is relabelled ``perm[mask]``;
            HELEN's 11 labels by default. ``None`` leaves mask labels as they are (label sets
            without left/right classes).
        landmark_permutation: ``perm`` such that mirrored landmarks are ``landmarks[..., perm,
            :]``, e.g. :data:`CELEBA_LANDMARK_HFLIP_PERMUTATION`; ``None`` keeps their order.

    Raises:
        ValueError: If a permutation is not a permutation of ``0..n-1``; when called, if a mask
            holds a label outside ``label_permutation`` or the landmarks' count differs from
            ``landmark_permutation``'s.
    """

    def __init__(
        self,
        p: float = 0.5,
        label_permutation: Sequence[int] | None = HFLIP_LABEL_PERMUTATION,
        landmark_permutation: Sequence[int] | None = None,
    ) -> None:
        super().__init__(p=p)
        self.label_permutation = _check_permutation(label_permutation, "label_permutation")
        self.landmark_permutation = _check_permutation(landmark_permutation, "landmark_permutation")

    def forward(self, *inputs: Any) -> Any:
        """Mirror the input with probability ``p`` (one ``torch.rand(1)`` draw, as v2's flip)."""
        sample = inputs if len(inputs) > 1 else inputs[0]
        if torch.rand(1) >= self.p:
            return sample
        if isinstance(sample, Mapping) and _YAW_KEY in sample:
            # Take yaw out before torchvision sees the sample, so that the pure-tensor heuristic
            # can never treat it as the image, and put it back negated in its place.
            rest = v2.Transform.forward(self, {k: v for k, v in sample.items() if k != _YAW_KEY})
            return {k: (-v if k == _YAW_KEY else rest[k]) for k, v in sample.items()}
        return v2.Transform.forward(self, sample)

    def transform(self, inpt: Any, params: dict[str, Any]) -> Any:
        """Mirror one entry, then swap left/right mask labels and landmarks."""
        out = super().transform(inpt, params)
        if isinstance(out, tv_tensors.Mask) and self.label_permutation is not None:
            return _relabel(out, self.label_permutation)
        if isinstance(out, tv_tensors.KeyPoints) and self.landmark_permutation is not None:
            return _reorder(out, self.landmark_permutation)
        return out


def _check_permutation(perm: Sequence[int] | None, name: str) -> tuple[int, ...] | None:
    if perm is None:
        return None
    table = tuple(int(i) for i in perm)
    if sorted(table) != list(range(len(table))):
        raise ValueError(f"{name} must be a permutation of 0..{len(table) - 1}, got {table}")
    return table


def _relabel(mask: tv_tensors.Mask, perm: tuple[int, ...]) -> tv_tensors.Mask:
    labels = mask.as_subclass(Tensor).long()
    if labels.numel() and (int(labels.min()) < 0 or int(labels.max()) >= len(perm)):
        raise ValueError(
            f"mask holds labels {int(labels.min())}..{int(labels.max())}, but label_permutation "
            f"covers 0..{len(perm) - 1}; pass the mirror table of this label set "
            "(datasets.face_parts.hflip_permutation) or label_permutation=None"
        )
    table = torch.tensor(perm, dtype=torch.long, device=labels.device)
    return tv_tensors.wrap(table[labels].to(mask.dtype), like=mask)


def _reorder(points: tv_tensors.KeyPoints, perm: tuple[int, ...]) -> tv_tensors.KeyPoints:
    if points.ndim < 2 or points.shape[-2] != len(perm):
        raise ValueError(
            f"landmark_permutation orders {len(perm)} landmarks, got keypoints of shape "
            f"{tuple(points.shape)}"
        )
    return tv_tensors.wrap(points.as_subclass(Tensor)[..., list(perm), :], like=points)


def face_augmentations(
    size: tuple[int, int],
    crop_scale: tuple[float, float] = (0.7, 1.0),
    brightness: float = 0.4,
    contrast: float = 0.4,
    jitter_probability: float = 0.8,
    blur_probability: float = 0.3,
    blur_sigma: tuple[float, float] = (0.1, 1.0),
) -> list[v2.Transform]:
    """The training augmentation for few identities: crops around the alignment, colour, blur.

    With a few hundred images of a few dozen people (AT&T's 40 × 10), a network memorises the
    training images within a few epochs; what generalises to new people is what stays under
    the variation real photographs have: the face box of a detector (scale and position), the
    exposure and the focus. The preset therefore draws a random crop of ``crop_scale`` of the
    aligned face's area (at about the output's aspect, so the crop stays around the alignment
    rather than sliding off the face), resizes it to ``size``, then with
    ``jitter_probability`` changes brightness and contrast (``v2.ColorJitter``, images only:
    masks keep their labels) and with ``blur_probability`` blurs (``v2.GaussianBlur``). The
    mirror is added by :func:`face_transforms`. All steps are torchvision v2, applied to the
    whole sample so that masks, boxes and landmarks follow the crop.

    Args:
        size: ``(height, width)`` of the output.
        crop_scale: Range of the crop's area, as a fraction of the face's.
        brightness: ``v2.ColorJitter`` brightness factor range ``1 ± brightness``.
        contrast: ``v2.ColorJitter`` contrast factor range ``1 ± contrast``.
        jitter_probability: Probability of the colour/brightness jitter.
        blur_probability: Probability of the Gaussian blur.
        blur_sigma: Range of the blur's standard deviation, in pixels of the output.

    Returns:
        The steps, to be placed after the image conversion and before the dtype conversion.
    """
    ratio = size[1] / size[0]
    return [
        v2.RandomResizedCrop(
            size, scale=crop_scale, ratio=(ratio * 0.9, ratio / 0.9), antialias=True
        ),
        v2.RandomApply(
            [v2.ColorJitter(brightness=brightness, contrast=contrast)], jitter_probability
        ),
        v2.RandomApply([v2.GaussianBlur(3, sigma=blur_sigma)], blur_probability),
    ]


def face_transforms(
    input_size: Sequence[int] = (55, 47),
    train: bool = False,
    center_crop_fraction: float = 1.0,
    scale_jitter: float = 0.1,
    flip: bool = True,
    grayscale: bool = False,
    mean: Sequence[float] = FACE_MEAN,
    std: Sequence[float] = FACE_STD,
    augment: FaceAugment = "jitter",
) -> v2.Compose:
    """Build the preprocessing pipeline for one face crop.

    The pipeline accepts a bare image or a whole sample dict; in a dict, the image, ``mask``,
    ``boxes`` and ``landmarks`` move together and the flip swaps left/right parts (see
    :class:`FaceHorizontalFlip`). Only the image is converted to float and normalised.

    Args:
        input_size: ``(height, width)`` the network expects, e.g. ``(55, 47)`` for DeepID2.
        train: Add the training augmentations (random flip and a small scale/translation jitter).
        center_crop_fraction: Fraction of the image side kept by a centre crop before resizing.
            ``1.0`` for tight, aligned crops (SyntheticFaces, CelebA aligned); about ``0.45``
            for 250×250 LFW images, whose Viola-Jones box was enlarged 2.2 times.
        scale_jitter: Relative scale range of the training crop, ``(1 - jitter, 1)`` of the area.
        flip: Random horizontal flip during training (the papers train on each patch and its
            mirror).
        grayscale: Convert to one channel (DeepID's grey-patch nets, AT&T-style data).
        mean: Normalisation mean per channel.
        std: Normalisation std per channel.
        augment: The training preset: ``"jitter"`` (the ``scale_jitter`` crop) or
            ``"strong"`` (:func:`face_augmentations`: crops around the alignment, brightness
            and contrast jitter, blur; for few training identities).

    Returns:
        A ``v2.Compose`` that accepts an image or a sample dict with tv_tensors.

    Raises:
        ValueError: If ``center_crop_fraction`` is not in ``(0, 1]``.
    """
    if not 0.0 < center_crop_fraction <= 1.0:
        raise ValueError(f"center_crop_fraction must be in (0, 1], got {center_crop_fraction}")
    size = (int(input_size[0]), int(input_size[1]))
    steps: list[v2.Transform] = [SampleToImage()]
    if center_crop_fraction < 1.0:
        steps.append(_CenterCropFraction(center_crop_fraction))
    if augment not in ("jitter", "strong"):
        raise ValueError(f"augment must be 'jitter' or 'strong', got {augment!r}")
    if train:
        if augment == "strong":
            steps += face_augmentations(size)
        else:
            steps.append(jittered_crop(size, scale_jitter))
        if flip:
            steps.append(FaceHorizontalFlip())
    else:
        steps.append(v2.Resize(size, antialias=True))
    if grayscale:
        steps.append(v2.Grayscale(num_output_channels=1))
        mean, std = mean[:1], std[:1]
    # With a torch.dtype (not a dict), ToDtype converts only images: masks keep their labels.
    steps += [v2.ToDtype(torch.float32, scale=True), v2.Normalize(list(mean), list(std))]
    return v2.Compose(steps)


class _CenterCropFraction(v2.Transform):
    """Centre-crop a fixed fraction of each side (the crop size follows the input size).

    The size is read once per call, so the image and its mask, boxes and landmarks share the
    same crop.
    """

    def __init__(self, fraction: float) -> None:
        super().__init__()
        self.fraction = fraction

    def make_params(self, flat_inputs: list[Any]) -> dict[str, Any]:
        sizes = {tuple(v2.functional.get_size(inpt)) for inpt in flat_inputs}
        if len(sizes) != 1:
            raise ValueError(f"the image and its targets have different sizes: {sorted(sizes)}")
        height, width = sizes.pop()
        crop = [max(1, round(height * self.fraction)), max(1, round(width * self.fraction))]
        return {"crop": crop}

    def transform(self, inpt: Any, params: dict[str, Any]) -> Any:
        return self._call_kernel(v2.functional.center_crop, inpt, params["crop"])
