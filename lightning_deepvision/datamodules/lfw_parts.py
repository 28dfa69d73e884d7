"""LFW Part Labels (Kae et al., CVPR 2013): background / skin / hair on funneled LFW."""

from __future__ import annotations

from typing import Any

from lightning_deepvision.datamodules.parsing import ParsingDataModule
from lightning_deepvision.datasets.lfw_parts import LFW_PARTS_LABELS, LFWParts

__all__ = ["LFWPartsDataModule"]


class LFWPartsDataModule(ParsingDataModule):
    """:class:`~lightning_deepvision.datasets.LFWParts` with the parsing pipeline.

    ``train`` reads ``parts_train.txt`` (1,500 images), ``val`` ``parts_validation.txt``
    (500), ``test`` and ``predict`` ``parts_test.txt`` (927); the 250x250 images and masks are
    resized to ``input_size`` (default 128x128). A mirror needs no relabelling (no left/right
    classes).

    Args:
        root: Directory with the lists, ``parts_lfw_funneled_gt_images/`` and ``lfw_funneled/``.
        image_set: The LFW image folder read (``"funneled"``, on which the labels were drawn).
        **kwargs: The options of
            :class:`~lightning_deepvision.datamodules.parsing.ParsingDataModule` and the loader
            options.
    """

    dataset_class = LFWParts
    class_names = LFW_PARTS_LABELS

    def __init__(self, root: str, image_set: str = "funneled", **kwargs: Any) -> None:
        super().__init__(root, **kwargs)
        self.image_set = image_set

    def dataset_options(self) -> dict[str, Any]:
        """The LFW image folder."""
        return {"image_set": self.image_set}
