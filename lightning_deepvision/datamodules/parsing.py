"""What the face-parsing data modules share: the joint image + mask pipeline per stage."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, ClassVar

from torch.utils.data import default_collate
from torchvision.transforms import v2

from lightning_deepvision.datamodules.base import DatasetDataModule, KeepKeys
from lightning_deepvision.transforms.faces import FACE_MEAN, FACE_STD
from lightning_deepvision.transforms.parsing import (
    ORIGINAL_MASK_KEY,
    KeepOriginalMask,
    parsing_transforms,
)

__all__ = ["PARSING_KEYS", "ParsingDataModule"]

#: The sample entries a parsing task uses (``index`` traces a prediction to its sample).
PARSING_KEYS: tuple[str, ...] = ("image", "mask", "index")


class ParsingDataModule(DatasetDataModule):
    """A parsing dataset over its official layout: images and label maps, one split per stage.

    Training samples are randomly cropped (scale/translation jitter) and mirrored with the
    left/right classes swapped; evaluation samples are resized to ``input_size``. Subclasses set
    :attr:`dataset_class` and :attr:`class_names`.

    With ``score_at_original_size`` the validation and test batches also carry each label map
    at its image's own size (``original_mask``, a list of ``uint8`` maps, since sizes differ),
    and :class:`~lightning_deepvision.tasks.ParsingTask` scores its prediction resized back to
    that size, as HELEN papers report; the loss stays at ``input_size``. A batch then holds
    every original map: keep ``eval_batch_size`` small for large photographs.

    Args:
        root: Where the dataset lies.
        input_size: ``(height, width)`` of the network input and of the target maps.
        augment: Random crops and mirrors for training.
        scale_jitter: Relative area range of the training crops.
        mean: Normalisation mean per channel.
        std: Normalisation std per channel.
        score_at_original_size: Score validation and test maps at each image's original size.
        **kwargs: Loader options of :class:`~lightning_deepvision.datamodules.BaseDataModule`.

    Attributes:
        class_names: The mask labels in order.
        num_classes: ``len(class_names)``, for the task's classifier.
    """

    class_names: ClassVar[tuple[str, ...]]

    def __init__(
        self,
        root: str,
        input_size: tuple[int, int] = (128, 128),
        augment: bool = True,
        scale_jitter: float = 0.1,
        mean: Sequence[float] = FACE_MEAN,
        std: Sequence[float] = FACE_STD,
        score_at_original_size: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(root, **kwargs)
        self.score_at_original_size = score_at_original_size
        self.input_size = (int(input_size[0]), int(input_size[1]))
        self.augment = augment
        self.scale_jitter = scale_jitter
        self.mean = tuple(mean)
        self.std = tuple(std)

    @property
    def num_classes(self) -> int:
        """Number of mask labels."""
        return len(self.class_names)

    def _keeps_original(self, stage: str) -> bool:
        return self.score_at_original_size and stage in ("val", "test")

    def transforms(self, stage: str) -> Callable[[Any], Any]:
        """Joint crop + mirror for training, a resize otherwise; image, mask and index kept."""
        pipeline: Callable[[Any], Any] = parsing_transforms(
            self.input_size,
            train=stage == "train" and self.augment,
            class_names=self.class_names,
            scale_jitter=self.scale_jitter,
            mean=self.mean,
            std=self.std,
        )
        if self._keeps_original(stage):
            pipeline = v2.Compose([KeepOriginalMask(), pipeline])
        return KeepKeys(PARSING_KEYS, pipeline)

    def collate_fn(self, stage: str) -> Callable[[list[Any]], Any] | None:
        """Torch's default, with the original-size maps (of differing sizes) as a list."""
        if not self._keeps_original(stage):
            return None
        return _collate_keeping_originals


def _collate_keeping_originals(samples: list[dict[str, Any]]) -> dict[str, Any]:
    originals = [sample[ORIGINAL_MASK_KEY] for sample in samples]
    rest = [{k: v for k, v in sample.items() if k != ORIGINAL_MASK_KEY} for sample in samples]
    return {**default_collate(rest), ORIGINAL_MASK_KEY: originals}
