"""Face alignment from five landmarks: the similarity that maps them to canonical positions.

DeepID2 (Sun, Wang, Tang, NIPS 2014, §3) aligns every face by a similarity transform from its
landmarks before cutting the 55×47 patches; CelebA (Liu et al., ICCV 2015) provides five
landmarks per image (eyes, nose, mouth corners) for both its aligned and its in-the-wild
images. :class:`FaceAlignment` estimates the least-squares similarity (Umeyama, "Least-squares
estimation of transformation parameters between two point patterns", TPAMI 1991) from a
sample's ``landmarks`` to a template, then warps every spatial entry of the sample with
torchvision's own ``v2.functional.affine`` and crops the output canvas, so the image, its mask,
boxes and landmarks stay together (a landmark lands where the template puts it).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import Tensor
from torchvision import tv_tensors
from torchvision.transforms import v2
from torchvision.transforms.v2 import functional as F

__all__ = [
    "CELEBA_ALIGNED_TEMPLATE",
    "TIGHT_FACE_TEMPLATE",
    "FaceAlignment",
    "similarity_from_landmarks",
]

CELEBA_ALIGNED_TEMPLATE: tuple[tuple[float, float], ...] = (
    (0.388, 0.509),
    (0.607, 0.509),
    (0.500, 0.615),
    (0.404, 0.702),
    (0.596, 0.702),
)
"""Mean landmarks of CelebA's aligned 178×218 crops (left eye, right eye, nose, left and right
mouth corner) as fractions of width and height: aligning to it reproduces CelebA's framing."""

TIGHT_FACE_TEMPLATE: tuple[tuple[float, float], ...] = (
    (0.30, 0.36),
    (0.70, 0.36),
    (0.50, 0.58),
    (0.34, 0.78),
    (0.66, 0.78),
)
"""A tight face framing (eyes to mouth filling the crop), for DeepID-style 55×47 / 47×47 crops."""


def similarity_from_landmarks(source: Tensor, target: Tensor) -> tuple[float, float, Tensor]:
    """Least-squares similarity ``target ≈ scale · R(angle) · source + translation``.

    Umeyama (TPAMI 1991) without reflection, for ``(N, 2)`` point sets in ``x, y`` pixels.

    Returns:
        ``(scale, angle_radians, translation (2,))``; the angle turns +x towards +y (clockwise
        on screen, where y points down).

    Raises:
        ValueError: Fewer than two points, different counts, or all source points equal.
    """
    src, dst = source.double(), target.double()
    if src.shape != dst.shape or src.ndim != 2 or src.shape[1] != 2 or len(src) < 2:
        raise ValueError(
            f"landmarks and template must both be (N >= 2, 2), got {tuple(source.shape)} and "
            f"{tuple(target.shape)}"
        )
    mu_s, mu_d = src.mean(0), dst.mean(0)
    s0, d0 = src - mu_s, dst - mu_d
    var = (s0**2).sum() / len(src)
    if var <= 0:
        raise ValueError("all landmarks coincide: no similarity can be estimated")
    # In complex form the 2-D similarity is d = a·s with a = scale·e^{i angle}: least squares
    # a = Σ conj(s)·d / Σ |s|², which is Umeyama's solution restricted to rotations.
    s_c = torch.complex(s0[:, 0], s0[:, 1])
    d_c = torch.complex(d0[:, 0], d0[:, 1])
    a = (s_c.conj() * d_c).sum() / (s_c.abs() ** 2).sum()
    scale, angle = float(a.abs()), float(torch.angle(a))
    rotation = torch.tensor(
        [[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]],
        dtype=torch.float64,
    )
    translation = mu_d - scale * rotation @ mu_s
    return scale, angle, translation.float()


class FaceAlignment(v2.Transform):
    """Warp a face sample so that its five landmarks land on a template, at ``output_size``.

    The sample dict must hold ``landmarks`` (``tv_tensors.KeyPoints`` ``(5, 2)``, CelebA's
    order). The similarity is estimated from them (:func:`similarity_from_landmarks`), every
    tv_tensor (``Image``, ``Mask``, ``BoundingBoxes``, ``KeyPoints``) goes through
    ``v2.functional.affine`` with it, and the canvas is cropped (zero-padded where needed) to
    ``output_size``; plain tensors pass through.

    Args:
        output_size: ``(height, width)`` of the aligned face.
        template: Target landmark positions as fractions ``(x / width, y / height)`` of the
            output (:data:`CELEBA_ALIGNED_TEMPLATE` by default; :data:`TIGHT_FACE_TEMPLATE`
            for DeepID-style crops).

    Raises:
        ValueError: When called on a sample without ``landmarks``, or with a landmark count that
            differs from the template's.
    """

    def __init__(
        self,
        output_size: Sequence[int] = (218, 178),
        template: Sequence[Sequence[float]] = CELEBA_ALIGNED_TEMPLATE,
    ) -> None:
        super().__init__()
        self.output_size = (int(output_size[0]), int(output_size[1]))
        height, width = self.output_size
        self.template = torch.tensor([[x * width, y * height] for x, y in template])

    def forward(self, *inputs: Any) -> Any:
        """Align a sample dict (its ``landmarks`` define the warp)."""
        sample = inputs[0] if len(inputs) == 1 else None
        if not isinstance(sample, Mapping) or "landmarks" not in sample:
            raise ValueError(
                "FaceAlignment needs a sample dict with 'landmarks' (tv_tensors.KeyPoints), e.g. "
                "CelebA(..., target=['attributes', 'landmarks'])"
            )
        return super().forward(sample)

    def make_params(self, flat_inputs: list[Any]) -> dict[str, Any]:
        """The similarity (torchvision's affine arguments) of the sample's landmarks."""
        points = next(p for p in flat_inputs if isinstance(p, tv_tensors.KeyPoints))
        source = points.as_subclass(Tensor).reshape(-1, 2)
        if len(source) != len(self.template):
            raise ValueError(
                f"FaceAlignment's template has {len(self.template)} points, the landmarks "
                f"{len(source)}"
            )
        scale, angle, translation = similarity_from_landmarks(source, self.template)
        # torchvision's affine about the centre (0, 0) maps p to scale·R(angle)·p + translate,
        # with the angle in degrees turning +x towards +y, as the estimate's.
        return {
            "angle": math.degrees(angle),
            "translate": [float(translation[0]), float(translation[1])],
            "scale": scale,
        }

    def transform(self, inpt: Any, params: dict[str, Any]) -> Any:
        """Warp one tv_tensor onto the output canvas; plain tensors pass through."""
        if not isinstance(inpt, tv_tensors.TVTensor):
            return inpt
        height, width = self.output_size
        in_h, in_w = F.get_size(inpt)
        # A canvas large enough for the output, so nothing is clipped before the crop.
        canvas = F.pad(inpt, [0, 0, max(0, width - in_w), max(0, height - in_h)])
        warped = F.affine(
            canvas,
            angle=params["angle"],
            translate=params["translate"],
            scale=params["scale"],
            shear=[0.0, 0.0],
            center=[0.0, 0.0],
            interpolation=(
                v2.InterpolationMode.NEAREST
                if isinstance(inpt, tv_tensors.Mask)
                else v2.InterpolationMode.BILINEAR
            ),
        )
        return F.crop(warped, 0, 0, height, width)
