"""HELEN face parsing (Smith et al., CVPR 2013): exemplars to train, tuning to validate."""

from __future__ import annotations

from lightning_deepvision.datamodules.parsing import ParsingDataModule
from lightning_deepvision.datasets.face_parts import HELEN_LABELS
from lightning_deepvision.datasets.helen import HelenParsing

__all__ = ["HelenDataModule"]


class HelenDataModule(ParsingDataModule):
    """:class:`~lightning_deepvision.datasets.HelenParsing` with the parsing pipeline.

    ``train`` reads ``exemplars.txt`` (2,000 images), ``val`` ``tuning.txt`` (230), ``test``
    and ``predict`` ``testing.txt`` (100). HELEN images differ in size; every image and its
    mask are resized to ``input_size`` (default 128x128), where the metrics are computed.

    Args:
        root: The HELEN directory.
        **kwargs: The options of
            :class:`~lightning_deepvision.datamodules.parsing.ParsingDataModule` (``input_size``,
            ``augment``, ``scale_jitter``, ``mean``, ``std``) and the loader options.
    """

    dataset_class = HelenParsing
    class_names = HELEN_LABELS
