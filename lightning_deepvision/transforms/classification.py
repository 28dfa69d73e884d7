"""torchvision.transforms.v2 presets for image classification, as AlexNet was trained.

Krizhevsky, Sutskever, Hinton, "ImageNet Classification with Deep Convolutional Neural
Networks", NIPS 2012: images are rescaled so that the shorter side is 256 and the central
256×256 patch is kept (§2); training takes random 224×224 patches (227×227 in practice, the size
the first layer's stride-4 arithmetic needs) and their horizontal reflections, and adds PCA
colour noise ("lighting", §4.1); testing takes the centre patch.

The presets keep the image ``uint8`` through every geometric step (resizing, crops and the
mirror move a quarter of the bytes a float image has) and end with :class:`LightingNormalize`,
which turns the pixels into the network's input in one arithmetic pass instead of the three of
``ToDtype`` + :class:`PCALighting` + ``Normalize``; ``fused=False`` builds those three steps
(torchvision's own pipeline, the reference the fused one is tested against).
``batch_normalize=True`` stops at the ``uint8`` crop and leaves that pass to the collated
batch (:mod:`~lightning_deepvision.transforms.classification_batch`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor
from torchvision import tv_tensors
from torchvision.transforms import v2
from torchvision.transforms.v2 import functional as F

from lightning_deepvision.transforms._sample import ImageTransform, SampleToImage

__all__ = [
    "IMAGENET_EIGENVALUES",
    "IMAGENET_EIGENVECTORS",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "LightingNormalize",
    "PCALighting",
    "ResizeSquareCrop",
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


class LightingNormalize(ImageTransform):
    """``ToDtype(float32, scale=True)``, :class:`PCALighting` and ``Normalize`` in one pass.

    AlexNet's input (Krizhevsky et al., NIPS 2012, §4.1) is the image in ``[0, 1]`` plus the
    PCA colour shift ``δ``, normalised per channel. Written out, the three steps are one affine
    map per channel, ``y_c = x_c · s / σ_c + (δ_c − μ_c) / σ_c`` (``s`` = 1/255 for ``uint8``,
    1 for a float image), applied here by a single ``torch.addcmul`` that reads the pixels once
    and writes a contiguous ``float32`` image. torchvision's steps make three passes over a
    float image (``Normalize`` also copies it first) and keep the channels-last strides that
    JPEG decoding leaves, so that batching must transpose every image afterwards; torchvision
    has no fused form, hence this transform. The colour shift is drawn exactly as
    :class:`PCALighting` draws it (one ``torch.randn(3)`` per call, only when ``lighting_std``
    is positive), so under the same seed a pipeline draws the same crops, mirrors and colours
    fused or not. Only images are changed (as :class:`PCALighting`); the result is not clamped.

    Args:
        mean: Normalisation mean per channel (of ``[0, 1]`` pixels).
        std: Normalisation standard deviation per channel.
        lighting_std: Standard deviation of the PCA colour noise (0.1 in the paper); ``0``
            leaves the colours as they are (evaluation).
        eigenvalues: ``λ_1..λ_3`` of :class:`PCALighting`.
        eigenvectors: Its ``3×3`` eigenvectors, one per column.

    Raises:
        ValueError: If ``mean`` and ``std`` differ in length, a ``std`` is not positive, or the
            colour noise is asked for other than 3 channels; when called, if the image's
            channels do not match ``mean``.
        TypeError: When called on an image that is neither floating point nor integer.
    """

    _transformed_types = (tv_tensors.Image, _is_plain_tensor)

    def __init__(
        self,
        mean: Sequence[float] = IMAGENET_MEAN,
        std: Sequence[float] = IMAGENET_STD,
        lighting_std: float = 0.0,
        eigenvalues: Sequence[float] = IMAGENET_EIGENVALUES,
        eigenvectors: Sequence[Sequence[float]] = IMAGENET_EIGENVECTORS,
    ) -> None:
        super().__init__()
        self.mean = [float(m) for m in mean]
        self.std = [float(s) for s in std]
        if len(self.mean) != len(self.std) or not self.mean:
            raise ValueError(f"mean {self.mean} and std {self.std} need one value per channel")
        if min(self.std) <= 0:
            raise ValueError(f"std must be positive, got {self.std}")
        self.lighting = PCALighting(lighting_std, eigenvalues, eigenvectors)
        self.lighting_std = self.lighting.std
        if self.lighting_std > 0 and len(self.mean) != 3:
            raise ValueError(f"PCA colour noise needs 3 channels, got mean {self.mean}")
        # The colour shift per unit draw, P diag(std λ), as plain floats: the per-image arithmetic
        # on three numbers costs less in Python than in tensor operations.
        self._colour = (
            self.lighting.eigenvectors * (self.lighting.eigenvalues * self.lighting_std)
        ).tolist()
        self._gains: dict[tuple[torch.dtype, torch.device], Tensor] = {}

    def make_params(self, flat_inputs: list[Any]) -> dict[str, Any]:
        """Draw this call's colour shift as :class:`PCALighting` does (nothing without noise)."""
        if self.lighting_std <= 0:
            return {}
        draw = torch.randn(3).tolist()  # PCALighting's draw: a = std · randn(3)
        return {"rgb": [sum(p * a for p, a in zip(row, draw, strict=True)) for row in self._colour]}

    def _gain(self, dtype: torch.dtype, device: torch.device) -> Tensor:
        """``s / σ`` per channel for images of ``dtype``, made once per dtype and device."""
        key = (dtype, device)
        if key not in self._gains:
            # As ToDtype(scale=True): integers are divided by their largest value (255 -> 1.0).
            scale = 1.0 if dtype.is_floating_point else 1.0 / torch.iinfo(dtype).max
            gain = [scale / s for s in self.std]
            self._gains[key] = torch.tensor(gain, device=device).view(-1, 1, 1)
        return self._gains[key]

    def transform(self, inpt: Any, params: dict[str, Any]) -> Any:
        """Map one image to the normalised ``float32`` network input."""
        if inpt.dtype == torch.bool or inpt.is_complex():
            raise TypeError(f"LightingNormalize needs an integer or float image, got {inpt.dtype}")
        if inpt.ndim < 3 or inpt.shape[-3] != len(self.mean):
            raise ValueError(
                f"LightingNormalize has {len(self.mean)} channel means, got an image of shape "
                f"{tuple(inpt.shape)} (channels first)"
            )
        shift = params.get("rgb", (0.0,) * len(self.mean))
        bias = [(d - m) / s for d, m, s in zip(shift, self.mean, self.std, strict=True)]
        pixels = inpt.as_subclass(Tensor)
        gain = self._gain(pixels.dtype, pixels.device)
        if pixels.is_floating_point() and pixels.dtype != torch.float32:
            pixels = pixels.float()
        # A fresh contiguous output: addcmul reads the (channels-last) pixels in the same pass.
        out = torch.empty(pixels.shape, dtype=torch.float32, device=pixels.device)
        torch.addcmul(
            torch.tensor(bias, device=pixels.device).view(-1, 1, 1), pixels, gain, out=out
        )
        return tv_tensors.wrap(out, like=inpt) if isinstance(inpt, tv_tensors.Image) else out


class ResizeSquareCrop(ImageTransform):
    """AlexNet's crop (Krizhevsky et al., NIPS 2012, §2 and §4.1) as one step.

    The same as ``v2.Resize(square_size)`` (shorter side to ``square_size``, bilinear with
    antialiasing), ``v2.CenterCrop(square_size)`` and then, for training,
    ``v2.RandomCrop(size)`` and ``v2.RandomHorizontalFlip(flip_p)``, or for evaluation
    ``v2.CenterCrop(size)``: the random draws are those steps' own (a ``torch.randint`` for the
    row, one for the column, a ``torch.rand(1)`` for the mirror, in that order), and a ``uint8``
    image comes out bit-identical. It costs less: one resampling call (torchvision's ``uint8``
    kernel), the crop a view of its output and the mirror the only copy, three transform calls
    and two crop copies fewer per sample. (Resampling only the columns the crop keeps, in two
    calls, was measured no faster: each call of the ``uint8`` kernel repacks its input and
    output.) Other tv_tensors of a sample (masks, boxes) go through the torchvision functions
    the separate steps would apply.

    Args:
        size: Side of the final crop (the network input).
        square_size: Side the shorter image side is rescaled to and of the central square.
        random: Take a random crop and mirror (training) instead of the central crop.
        flip_p: Probability of the mirror when ``random``.

    Raises:
        ValueError: If ``size`` exceeds ``square_size`` or ``flip_p`` is not a probability.
    """

    def __init__(
        self, size: int, square_size: int, random: bool = False, flip_p: float = 0.5
    ) -> None:
        super().__init__()
        if size > square_size:
            raise ValueError(f"crop size ({size}) must not exceed square_size ({square_size})")
        if not 0.0 <= flip_p <= 1.0:
            raise ValueError(f"flip_p must be in [0, 1], got {flip_p}")
        self.size, self.square_size = int(size), int(square_size)
        self.random, self.flip_p = bool(random), float(flip_p)

    def make_params(self, flat_inputs: list[Any]) -> dict[str, Any]:
        """The rescaled size and the crop window in it, drawn as the separate steps draw them."""
        first = flat_inputs[0] if len(flat_inputs) == 1 else None
        if isinstance(first, Tensor):  # the image alone (ImageTransform's short path)
            height, width = first.shape[-2:]
        else:
            height, width = v2.query_size(flat_inputs)
        short, long = sorted((height, width))
        # v2.Resize(square_size): the shorter side to square_size, the longer one truncated.
        scaled = (self.square_size, int(self.square_size * long / short))
        resized = scaled if height <= width else scaled[::-1]
        # v2.CenterCrop(square_size) of the rescaled image, then the crop inside the square.
        top = round((resized[0] - self.square_size) / 2.0)  # round half to even, as CenterCrop
        left = round((resized[1] - self.square_size) / 2.0)
        margin = self.square_size - self.size
        flip = False
        if self.random:
            if margin > 0:
                top += int(torch.randint(0, margin + 1, size=()))
                left += int(torch.randint(0, margin + 1, size=()))
            flip = bool(torch.rand(1) < self.flip_p)
        else:
            top += round(margin / 2.0)
            left += round(margin / 2.0)
        return {"resized": resized, "top": top, "left": left, "flip": flip}

    def transform(self, inpt: Any, params: dict[str, Any]) -> Any:
        """Rescale, crop and mirror one image (or other tv_tensor) of the sample."""
        (height, width), top, left = params["resized"], params["top"], params["left"]
        size = self.size
        if not isinstance(inpt, tv_tensors.Image) and not _is_plain_tensor(inpt):
            out = F.crop(F.resize(inpt, [height, width], antialias=True), top, left, size, size)
            return F.horizontal_flip(out) if params["flip"] else out
        image = F.resize(inpt.as_subclass(Tensor), [height, width], antialias=True)
        out = image[..., top : top + size, left : left + size]  # a view: nothing copied
        # The mirror is the one copy; torch.flip lays it out as its input (channels-last after
        # JPEG decoding), so that the next step reads it in memory order.
        out = out.flip(-1) if params["flip"] else out
        return tv_tensors.wrap(out, like=inpt) if isinstance(inpt, tv_tensors.Image) else out


def classification_transforms(
    crop_size: int = 227,
    resize_size: int = 256,
    train: bool = False,
    mean: Sequence[float] = IMAGENET_MEAN,
    std: Sequence[float] = IMAGENET_STD,
    lighting_std: float = 0.1,
    fused: bool = True,
    batch_normalize: bool = False,
) -> v2.Compose:
    """Build AlexNet's preprocessing (Krizhevsky et al., NIPS 2012, §2 and §4.1).

    Both stages rescale the shorter side to ``resize_size`` and keep the central
    ``resize_size`` square (§2). Training then takes a random ``crop_size`` patch, mirrors it
    with probability 0.5 and adds :class:`PCALighting`; evaluation takes the centre patch. The
    image stays ``uint8`` through the geometric steps, which torchvision's transforms apply to
    ``uint8`` tensors directly.

    Args:
        crop_size: Side of the network input (227 for AlexNet).
        resize_size: Side of the rescaled square image the crops come from.
        train: Use the training augmentations.
        mean: Normalisation mean per channel.
        std: Normalisation std per channel.
        lighting_std: Standard deviation of the PCA colour noise; ``0`` turns it off.
        fused: Crop with :class:`ResizeSquareCrop` and end with :class:`LightingNormalize`
            (fewer passes over the pixels, a contiguous output); ``False`` builds torchvision's
            separate steps instead (``Resize``, ``CenterCrop``, ``RandomCrop``,
            ``RandomHorizontalFlip``, ``ToDtype``, :class:`PCALighting`, ``Normalize``): the
            same random draws and the same values within float rounding.
        batch_normalize: Stop at the ``uint8`` crop and leave the colour noise and the
            normalisation to
            :class:`~lightning_deepvision.transforms.classification_batch.NormalizeBatch` on
            the collated batch (a quarter of the bytes through the loader and to the GPU): the
            training colour shift is drawn here, at the same point of the random stream, by
            :class:`~lightning_deepvision.transforms.classification_batch.DrawLighting` into
            ``sample["lighting"]``, so the batch step gives the same input (to float
            rounding). Training then needs sample dicts.

    Returns:
        A ``v2.Compose`` that accepts an image or a sample dict with tv_tensors.

    Raises:
        ValueError: If ``crop_size`` is larger than ``resize_size``.
    """
    if crop_size > resize_size:
        raise ValueError(f"crop_size ({crop_size}) must not exceed resize_size ({resize_size})")
    lighting = lighting_std if train else 0.0
    steps: list[v2.Transform] = [SampleToImage()]
    if fused:
        steps.append(ResizeSquareCrop(crop_size, resize_size, random=train))
    else:
        steps += [v2.Resize(resize_size, antialias=True), v2.CenterCrop(resize_size)]
        if train:
            steps += [v2.RandomCrop(crop_size), v2.RandomHorizontalFlip()]
        else:
            steps.append(v2.CenterCrop(crop_size))
    if batch_normalize:
        # Imported here: the batch module builds on this one's LightingNormalize.
        from lightning_deepvision.transforms.classification_batch import DrawLighting

        if lighting > 0:
            steps.append(DrawLighting(lighting))
    elif fused:
        steps.append(LightingNormalize(mean, std, lighting))
    else:
        steps.append(v2.ToDtype(torch.float32, scale=True))
        if lighting > 0:
            steps.append(PCALighting(lighting))
        steps.append(v2.Normalize(list(mean), list(std)))
    return v2.Compose(steps)
