"""torchvision.transforms.v2 presets for image classification, as AlexNet was trained.

Krizhevsky, Sutskever, Hinton, "ImageNet Classification with Deep Convolutional Neural
Networks", NIPS 2012: images are rescaled so that the shorter side is 256 and the central
256×256 patch is kept (§2); training takes random 224×224 patches (227×227 in practice, the size
the first layer's stride-4 arithmetic needs) and their horizontal reflections, and adds PCA
colour noise ("lighting", §4.1); testing takes the centre patch.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor
from torchvision import tv_tensors
from torchvision.transforms import v2

from lightning_deepvision.transforms._sample import SampleToImage

__all__ = [
    "IMAGENET_EIGENVALUES",
    "IMAGENET_EIGENVECTORS",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "PCALighting",
    "classification_transforms",
]

#: Per-channel mean and std of ImageNet training pixels in ``[0, 1]`` (torchvision's).
IMAGENET_MEAN: tuple[float, float, float] = (0.485, 0.456, 0.406)
IMAGENET_STD: tuple[float, float, float] = (0.229, 0.224, 0.225)

IMAGENET_EIGENVALUES: tuple[float, float, float] = (0.2175, 0.0188, 0.0045)
"""Eigenvalues of the RGB covariance of ImageNet training pixels in ``[0, 1]``, largest first,
as computed for and used by Facebook's ``fb.resnet.torch`` (the paper does not publish its own)."""

IMAGENET_EIGENVECTORS: tuple[tuple[float, ...], ...] = (
    (-0.5675, 0.7192, 0.4009),
    (-0.5808, -0.0045, -0.8140),
    (-0.5836, -0.6948, 0.4203),
)
"""The matching eigenvectors, one per column (rows are R, G, B)."""


def _is_plain_tensor(inpt: Any) -> bool:
    return isinstance(inpt, Tensor) and not isinstance(inpt, tv_tensors.TVTensor)


class PCALighting(v2.Transform):
    """AlexNet's PCA colour augmentation (Krizhevsky et al., NIPS 2012, §4.1).

    To each image it adds ``[p1, p2, p3] @ [a1 λ1, a2 λ2, a3 λ3]``, where ``p_i`` and ``λ_i``
    are the eigenvectors and eigenvalues of the RGB covariance of the training pixels and
    ``a_i ~ N(0, std²)`` is drawn once per image (one ``torch.randn(3)``), so the same colour
    shift is added to every pixel: "object identity is invariant to changes in the intensity
    and color of the illumination". Only images are changed (a ``tv_tensors.Image``, or a plain
    tensor where the sample has no ``Image``); masks, boxes and plain tensors pass through. The
    result is not clamped, as in the paper.

    Args:
        std: Standard deviation of the ``a_i`` (0.1 in the paper).
        eigenvalues: ``λ_1..λ_3``.
        eigenvectors: ``3×3``, eigenvector ``i`` in column ``i``.

    Raises:
        ValueError: If the eigen-decomposition is not of a 3×3 RGB covariance; when called, if
            the image does not have 3 channels.
        TypeError: When called on an image that is not floating point (apply it after
            ``v2.ToDtype(torch.float32, scale=True)``: the eigenvalues are for ``[0, 1]``
            pixels).
    """

    _transformed_types = (tv_tensors.Image, _is_plain_tensor)

    def __init__(
        self,
        std: float = 0.1,
        eigenvalues: Sequence[float] = IMAGENET_EIGENVALUES,
        eigenvectors: Sequence[Sequence[float]] = IMAGENET_EIGENVECTORS,
    ) -> None:
        super().__init__()
        self.std = float(std)
        values = torch.tensor(eigenvalues, dtype=torch.float32)
        vectors = torch.tensor(eigenvectors, dtype=torch.float32)
        if values.shape != (3,) or vectors.shape != (3, 3):
            raise ValueError(
                f"expected 3 eigenvalues and 3×3 eigenvectors, got {tuple(values.shape)} and "
                f"{tuple(vectors.shape)}"
            )
        self.eigenvalues = values
        self.eigenvectors = vectors

    def make_params(self, flat_inputs: list[Any]) -> dict[str, Any]:
        """Draw this call's colour shift ``P (a * λ)``, shared by every image of the sample."""
        alpha = torch.randn(3) * self.std
        return {"rgb": self.eigenvectors @ (alpha * self.eigenvalues)}

    def transform(self, inpt: Any, params: dict[str, Any]) -> Any:
        """Add the colour shift to every pixel of one image."""
        if not inpt.is_floating_point():
            raise TypeError(
                f"PCALighting needs a floating-point image in [0, 1], got {inpt.dtype}; "
                "apply v2.ToDtype(torch.float32, scale=True) first"
            )
        if inpt.shape[-3] != 3:
            raise ValueError(f"PCALighting needs RGB images, got {inpt.shape[-3]} channels")
        shift = params["rgb"].to(device=inpt.device, dtype=inpt.dtype).view(3, 1, 1)
        out = inpt.as_subclass(Tensor) + shift
        return tv_tensors.wrap(out, like=inpt) if isinstance(inpt, tv_tensors.Image) else out


def classification_transforms(
    crop_size: int = 227,
    resize_size: int = 256,
    train: bool = False,
    mean: Sequence[float] = IMAGENET_MEAN,
    std: Sequence[float] = IMAGENET_STD,
    lighting_std: float = 0.1,
) -> v2.Compose:
    """Build AlexNet's preprocessing (Krizhevsky et al., NIPS 2012, §2 and §4.1).

    Both stages rescale the shorter side to ``resize_size`` and keep the central
    ``resize_size`` square (§2). Training then takes a random ``crop_size`` patch, mirrors it
    with probability 0.5 and adds :class:`PCALighting`; evaluation takes the centre patch.

    Args:
        crop_size: Side of the network input (227 for AlexNet).
        resize_size: Side of the rescaled square image the crops come from.
        train: Use the training augmentations.
        mean: Normalisation mean per channel.
        std: Normalisation std per channel.
        lighting_std: Standard deviation of the PCA colour noise; ``0`` turns it off.

    Returns:
        A ``v2.Compose`` that accepts an image or a sample dict with tv_tensors.

    Raises:
        ValueError: If ``crop_size`` is larger than ``resize_size``.
    """
    if crop_size > resize_size:
        raise ValueError(f"crop_size ({crop_size}) must not exceed resize_size ({resize_size})")
    steps: list[v2.Transform] = [
        SampleToImage(),
        v2.Resize(resize_size, antialias=True),
        v2.CenterCrop(resize_size),
    ]
    if train:
        steps += [v2.RandomCrop(crop_size), v2.RandomHorizontalFlip()]
    else:
        steps.append(v2.CenterCrop(crop_size))
    steps.append(v2.ToDtype(torch.float32, scale=True))
    if train and lighting_std > 0:
        steps.append(PCALighting(lighting_std))
    steps.append(v2.Normalize(list(mean), list(std)))
    return v2.Compose(steps)
