"""Torch datasets over the official on-disk formats (never imports Lightning).

Readers validate list files at construction and decode images lazily; every problem with the
data on disk raises one of the errors below, naming the file (and line).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from lightning_deepvision._lazy import lazy_exports
from lightning_deepvision.datasets.errors import (
    CorruptImageError,
    DatasetNotFoundError,
    MalformedAnnotationError,
    MissingImageError,
)
from lightning_deepvision.datasets.identity_folder import IdentityFolder, split_identities
from lightning_deepvision.datasets.image_io import read_image
from lightning_deepvision.datasets.image_list import LabelledImageList
from lightning_deepvision.datasets.lfw import (
    LFWPairs,
    LFWPeople,
    read_lfw_pairs_file,
    read_lfw_people_file,
)

if TYPE_CHECKING:
    from lightning_deepvision.datasets.bad_samples import SkipsBadSamples, set_bad_sample_policy
    from lightning_deepvision.datasets.caltech import (
        CaltechPedestrian,
        CaltechWindows,
        SeqFile,
        evaluation_ground_truth,
        read_bbgt,
        read_vbb,
    )
    from lightning_deepvision.datasets.celeba import CelebA
    from lightning_deepvision.datasets.digits import MNIST, Digits
    from lightning_deepvision.datasets.encoded_image import EncodedImage
    from lightning_deepvision.datasets.helen import HelenParsing
    from lightning_deepvision.datasets.identity_pairs import IdentityPairs, balanced_pairs
    from lightning_deepvision.datasets.image_files import ImageFiles
    from lightning_deepvision.datasets.image_folder import (
        ClassSetMismatchError,
        ImageFolderDataset,
        decode_image_file,
    )
    from lightning_deepvision.datasets.imagenet import ImageNet
    from lightning_deepvision.datasets.lfw_attributes import LFWAttributes
    from lightning_deepvision.datasets.lfw_parts import LFWParts
    from lightning_deepvision.datasets.multipie import MultiPIE, MultiPIEFileNameError
    from lightning_deepvision.datasets.parsing_masks import InvalidMaskError, MaskedImages
    from lightning_deepvision.datasets.samplers import IdentityBalancedSampler
    from lightning_deepvision.datasets.synthetic import (
        RenderedFaces,
        SyntheticFacePairs,
        SyntheticFaces,
        SyntheticObjects,
    )
    from lightning_deepvision.datasets.synthetic.multiview import SyntheticMultiView
    from lightning_deepvision.datasets.synthetic.pedestrians import SyntheticPedestrians

__all__ = [
    "MNIST",
    "CaltechPedestrian",
    "CaltechWindows",
    "CelebA",
    "ClassSetMismatchError",
    "CorruptImageError",
    "DatasetNotFoundError",
    "Digits",
    "EncodedImage",
    "HelenParsing",
    "IdentityBalancedSampler",
    "IdentityFolder",
    "IdentityPairs",
    "ImageFiles",
    "ImageFolderDataset",
    "ImageNet",
    "InvalidMaskError",
    "LFWAttributes",
    "LFWPairs",
    "LFWParts",
    "LFWPeople",
    "LabelledImageList",
    "MalformedAnnotationError",
    "MaskedImages",
    "MissingImageError",
    "MultiPIE",
    "MultiPIEFileNameError",
    "RenderedFaces",
    "SeqFile",
    "SkipsBadSamples",
    "SyntheticFacePairs",
    "SyntheticFaces",
    "SyntheticMultiView",
    "SyntheticObjects",
    "SyntheticPedestrians",
    "balanced_pairs",
    "decode_image_file",
    "evaluation_ground_truth",
    "read_bbgt",
    "read_image",
    "read_lfw_pairs_file",
    "read_lfw_people_file",
    "read_vbb",
    "set_bad_sample_policy",
    "split_identities",
]

# Imported on first access so that importing this package never depends on them (and stays
# cheap): name -> sub-module.
_LAZY = {
    "SkipsBadSamples": "bad_samples",
    "set_bad_sample_policy": "bad_samples",
    "CaltechPedestrian": "caltech",
    "CaltechWindows": "caltech",
    "SeqFile": "caltech",
    "evaluation_ground_truth": "caltech",
    "read_bbgt": "caltech",
    "read_vbb": "caltech",
    "CelebA": "celeba",
    "LFWAttributes": "lfw_attributes",
    "ClassSetMismatchError": "image_folder",
    "ImageFolderDataset": "image_folder",
    "ImageFiles": "image_files",
    "EncodedImage": "encoded_image",
    "ImageNet": "imagenet",
    "Digits": "digits",
    "MNIST": "digits",
    "HelenParsing": "helen",
    "LFWParts": "lfw_parts",
    "InvalidMaskError": "parsing_masks",
    "MaskedImages": "parsing_masks",
    "decode_image_file": "image_folder",
    "RenderedFaces": "synthetic",
    "SyntheticFaces": "synthetic",
    "SyntheticFacePairs": "synthetic",
    "SyntheticObjects": "synthetic",
    "SyntheticPedestrians": "synthetic.pedestrians",
    "IdentityBalancedSampler": "samplers",
    "IdentityPairs": "identity_pairs",
    "balanced_pairs": "identity_pairs",
    "MultiPIE": "multipie",
    "MultiPIEFileNameError": "multipie",
    "SyntheticMultiView": "synthetic.multiview",
}


__getattr__, __dir__ = lazy_exports(__name__, _LAZY, __all__)
