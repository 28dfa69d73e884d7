"""torchvision.transforms.v2 presets over whole sample dicts.

Every preset accepts a bare image or a whole sample ``dict`` whose ``image`` is a
``tv_tensors.Image`` and whose spatial targets are tv_tensors (``mask``: ``Mask``, ``boxes``:
``BoundingBoxes``, ``landmarks``: ``KeyPoints``), so that one pipeline moves them together;
plain tensors (``label``, ``yaw``, ``attributes``, ...) pass through unless a transform changes
them by key (a face mirror negates ``yaw``).
"""

from lightning_deepvision.transforms.alignment import (
    CELEBA_ALIGNED_TEMPLATE,
    TIGHT_FACE_TEMPLATE,
    FaceAlignment,
    similarity_from_landmarks,
)
from lightning_deepvision.transforms.classification import (
    IMAGENET_EIGENVALUES,
    IMAGENET_EIGENVECTORS,
    IMAGENET_MEAN,
    IMAGENET_STD,
    LightingNormalize,
    PCALighting,
    ResizeSquareCrop,
    classification_transforms,
)
from lightning_deepvision.transforms.classification_batch import DrawLighting, NormalizeBatch
from lightning_deepvision.transforms.detection import (
    DETECTION_MEAN,
    DETECTION_STD,
    PER_BOX_KEYS,
    detection_transforms,
)
from lightning_deepvision.transforms.faces import (
    CELEBA_LANDMARK_HFLIP_PERMUTATION,
    CELEBA_LANDMARKS,
    FACE_MEAN,
    FACE_STD,
    FaceHorizontalFlip,
    face_transforms,
)
from lightning_deepvision.transforms.parsing import SampleToMask, parsing_transforms
from lightning_deepvision.transforms.udn import UDNChannels, udn_channels

__all__ = [
    "CELEBA_ALIGNED_TEMPLATE",
    "CELEBA_LANDMARKS",
    "CELEBA_LANDMARK_HFLIP_PERMUTATION",
    "DETECTION_MEAN",
    "DETECTION_STD",
    "FACE_MEAN",
    "FACE_STD",
    "IMAGENET_EIGENVALUES",
    "IMAGENET_EIGENVECTORS",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "PER_BOX_KEYS",
    "TIGHT_FACE_TEMPLATE",
    "DrawLighting",
    "FaceAlignment",
    "FaceHorizontalFlip",
    "LightingNormalize",
    "NormalizeBatch",
    "PCALighting",
    "ResizeSquareCrop",
    "SampleToMask",
    "UDNChannels",
    "classification_transforms",
    "detection_transforms",
    "face_transforms",
    "parsing_transforms",
    "similarity_from_landmarks",
    "udn_channels",
]
