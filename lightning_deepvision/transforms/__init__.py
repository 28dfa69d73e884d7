"""torchvision.transforms.v2 presets."""

from lightning_deepvision.transforms.faces import FACE_MEAN, FACE_STD, face_transforms

__all__ = ["FACE_MEAN", "FACE_STD", "face_transforms"]
