"""The shared shape of datasets that are a list of image files with an integer label each.

``IdentityFolder`` (one folder per identity) and ``LFWPeople`` (LFW's people files) differ only in
how they find their images; once the list is built, reading a sample is the same: decode the
file, attach its label, apply the transforms to the whole sample dict.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from lightning_deepvision.datasets.bad_samples import SkipsBadSamples
from lightning_deepvision.datasets.encoded_image import EncodedImage
from lightning_deepvision.datasets.image_io import read_image

__all__ = ["LabelledImageList"]


class LabelledImageList(SkipsBadSamples):
    """Base of datasets over a list of image files, each labelled by an index into ``classes``.

    A subclass builds :attr:`classes`, :attr:`samples` and :attr:`targets` in its ``__init__``
    (listing files only: nothing is decoded before ``__getitem__``) and sets :attr:`transforms`.
    It adds keys to the sample by extending :meth:`load_sample`.

    Attributes:
        classes: Class (identity) names, in label order.
        samples: Image paths, in dataset order.
        targets: The label of each sample (no decoding; for identity-balanced samplers).
        transforms: Applied to the whole sample dict, or ``None``.
        referenced_by: Where the image list came from (e.g. a list file), named by the
            :class:`~lightning_deepvision.datasets.errors.MissingImageError` raised when a listed
            image has disappeared; ``None`` raises a plain :class:`FileNotFoundError`.
    """

    classes: list[str]
    samples: list[Path]
    targets: list[int]
    transforms: Callable[[dict[str, Any]], Any] | None
    referenced_by: str | None = None

    @property
    def num_classes(self) -> int:
        """Number of classes (identities)."""
        return len(self.classes)

    def __len__(self) -> int:
        return len(self.samples)

    def load_sample(self, index: int) -> dict[str, Any]:
        """The sample before transforms: ``{"image", "label"}``.

        Args:
            index: Position in :attr:`samples`.

        Returns:
            ``image``, a ``uint8`` 3xHxW ``tv_tensors.Image``, and ``label``, the ``int64``
            index of its class in :attr:`classes`.
        """
        return {
            "image": read_image(self.samples[index], referenced_by=self.referenced_by),
            "label": torch.tensor(self.targets[index], dtype=torch.int64),
        }

    def raw_sample(self, index: int) -> dict[str, Any]:
        """:meth:`load_sample` with the image un-decoded, for streaming formats.

        A subclass that extends :meth:`load_sample` with more keys extends this one alike.

        Returns:
            ``image``, an :class:`~lightning_deepvision.datasets.encoded_image.EncodedImage`
            of the file's bytes (its ``decode()`` is :func:`read_image`'s), and ``label``.
        """
        return {
            "image": EncodedImage.from_file(
                self.samples[index], decoder="pil", referenced_by=self.referenced_by
            ),
            "label": torch.tensor(self.targets[index], dtype=torch.int64),
        }

    def get_sample(self, index: int) -> dict[str, Any]:
        """Sample ``index``, transforms applied (``__getitem__`` applies ``on_bad_sample``)."""
        sample = self.load_sample(index)
        if self.transforms is not None:
            sample = self.transforms(sample)
        return sample
