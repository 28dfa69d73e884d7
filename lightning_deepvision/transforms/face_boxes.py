"""The annotated face box of a sample, as the reference LNet's face window is scored against.

LNets+ANet (Liu, Luo, Wang, Tang, ICCV 2015, §2.1) choose the threshold of LNet's face window
on held-out images
(:func:`~lightning_deepvision.models.lnet_threshold.select_face_window_threshold`).
:class:`FaceBox` gives each sample the box to compare with, from what its dataset annotates:
CelebA's ``list_bbox_celeba.txt`` box (``boxes``, in-the-wild images), the extent of the five
landmarks enlarged to the face (``landmarks``, aligned images), or the face parts of a parsing
mask (``mask``, SyntheticFaces / HELEN labels). Run it after the preprocessing (the geometric
transforms have moved the box, landmarks or mask with the image).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import Tensor
from torchvision.ops import box_convert, clip_boxes_to_image, masks_to_boxes

from lightning_deepvision.datasets.face_parts import HELEN_LABELS

__all__ = ["FACE_PART_LABELS", "FaceBox"]

#: The HELEN labels that make up the face (skin through lower lip; not hair, not background).
FACE_PART_LABELS: tuple[int, ...] = tuple(
    i for i, name in enumerate(HELEN_LABELS) if name not in ("background", "hair")
)


class FaceBox:
    """Replace a sample's annotation by ``boxes``: its face box ``(4,)`` ``x1, y1, x2, y2``.

    The first of ``boxes`` (a ``BoundingBoxes`` of one box), ``landmarks`` (five points; their
    extent, scaled by ``landmark_scale`` about its centre: the eyes-to-mouth box covers about
    the middle of the face) or ``mask`` (the extent of the ``face_labels`` pixels) found in the
    sample gives the box, clipped to the image. The output holds ``image`` and ``boxes`` only.

    Args:
        landmark_scale: Width and height of the face over those of the landmarks' extent.
        face_labels: Mask labels that belong to the face.

    Raises:
        ValueError: On a sample with none of ``boxes``, ``landmarks``, ``mask``, or with no face
            pixel in its mask.
    """

    def __init__(
        self, landmark_scale: float = 2.0, face_labels: Sequence[int] = FACE_PART_LABELS
    ) -> None:
        if landmark_scale <= 0:
            raise ValueError(f"landmark_scale must be positive, got {landmark_scale}")
        self.landmark_scale = float(landmark_scale)
        self.face_labels = tuple(int(label) for label in face_labels)

    def __call__(self, sample: Mapping[str, Any]) -> dict[str, Any]:
        """``{"image": ..., "boxes": (4,) float}``."""
        image = sample["image"]
        size = (int(image.shape[-2]), int(image.shape[-1]))
        if "boxes" in sample:
            boxes = sample["boxes"]
            fmt = str(getattr(boxes, "format", "XYXY")).rsplit(".", 1)[-1].lower()
            box = box_convert(torch.as_tensor(boxes).float().reshape(-1, 4)[:1], fmt, "xyxy")
        elif "landmarks" in sample:
            points = torch.as_tensor(sample["landmarks"]).float().reshape(-1, 2)
            low, high = points.amin(dim=0), points.amax(dim=0)
            centre, half = (low + high) / 2, (high - low) * self.landmark_scale / 2
            box = torch.cat((centre - half, centre + half)).view(1, 4)
        elif "mask" in sample:
            mask = torch.as_tensor(sample["mask"]).reshape(size)
            face = torch.isin(mask, torch.tensor(self.face_labels, dtype=mask.dtype))
            if not face.any():
                raise ValueError(f"the mask has no face pixel (labels {self.face_labels})")
            box = masks_to_boxes(face[None]).float()
        else:
            raise ValueError(
                f"a face box needs 'boxes', 'landmarks' or 'mask' in the sample, got {list(sample)}"
            )
        clipped: Tensor = clip_boxes_to_image(box, size)[0]
        return {"image": image, "boxes": clipped}

    def __repr__(self) -> str:
        return f"{type(self).__name__}(landmark_scale={self.landmark_scale})"
