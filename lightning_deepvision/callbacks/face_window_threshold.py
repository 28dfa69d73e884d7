"""Choose LNet's face-window threshold on held-out images when training starts.

LNets+ANet (Liu, Luo, Wang, Tang, ICCV 2015, §2.1) threshold LNet's averaged C5 response to
propose the face window, "the threshold chosen on 2,000 images". With an ``lnet_anet`` backbone
(LNet trained beforehand, e.g. ``lnet_checkpoint``), add this callback and the threshold is
chosen on the data module's held-out images before the first step:

    --trainer.callbacks+=lightning_deepvision.callbacks.FaceWindowThreshold
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, cast

import torch
from lightning.pytorch import Callback, LightningModule, Trainer
from lightning.pytorch.utilities import rank_zero_info
from torch import Tensor, nn
from torch.utils.data import DataLoader, Subset

from lightning_deepvision.models.anet import LNet
from lightning_deepvision.models.lnet_threshold import (
    DEFAULT_THRESHOLDS,
    ThresholdSelection,
    select_face_window_threshold,
)

__all__ = ["FaceWindowThreshold", "find_lnet"]


def find_lnet(module: nn.Module) -> LNet:
    """The :class:`~lightning_deepvision.models.anet.LNet` inside ``module`` (the first one).

    Raises:
        ValueError: ``module`` holds no LNet.
    """
    found = next((m for m in module.modules() if isinstance(m, LNet)), None)
    if found is None:
        raise ValueError(
            f"FaceWindowThreshold needs a backbone with LNet's face window (backbone: lnet_anet),"
            f" got {type(module).__name__}"
        )
    return found


class FaceWindowThreshold(Callback):
    """At the start of ``fit``, set LNet's face-window threshold by its IoU with face boxes.

    Reads ``datamodule.face_window_dataset(split)`` (samples with ``image`` as the network reads
    it and ``boxes``, the annotated face box ``x1, y1, x2, y2``: CelebADataModule from
    ``list_bbox_celeba.txt`` or the landmarks, SyntheticAttributesDataModule from the parsing
    mask), takes its first ``num_images`` images and keeps the candidate threshold whose windows
    have the highest mean IoU with the boxes
    (:func:`~lightning_deepvision.models.lnet_threshold.select_face_window_threshold`). The
    threshold is a buffer of LNet, so checkpoints keep it; :attr:`selection` holds the outcome.
    Every process computes the same choice from the same images and weights.

    Args:
        num_images: Held-out images the threshold is chosen on (2,000 in the paper).
        split: The data module's split they come from.
        candidates: Thresholds tried (fractions of the peak response).
        batch_size: Images per forward pass of LNet.
    """

    def __init__(
        self,
        num_images: int = 2000,
        split: str = "val",
        candidates: Sequence[float] = DEFAULT_THRESHOLDS,
        batch_size: int = 64,
    ) -> None:
        if num_images < 1 or batch_size < 1:
            raise ValueError(
                f"num_images and batch_size must be positive, got {num_images}, {batch_size}"
            )
        self.num_images = int(num_images)
        self.split = split
        self.candidates = tuple(float(c) for c in candidates)
        self.batch_size = int(batch_size)
        self.selection: ThresholdSelection | None = None

    def on_fit_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        """Choose the threshold before the first training step."""
        lnet = find_lnet(cast(nn.Module, pl_module.backbone))
        datamodule = trainer.datamodule  # type: ignore[attr-defined]
        dataset_of = getattr(datamodule, "face_window_dataset", None)
        if not callable(dataset_of):
            raise ValueError(
                f"FaceWindowThreshold needs a data module with face_window_dataset(split) "
                f"(images with their face boxes), got {type(datamodule).__name__}"
            )
        dataset = dataset_of(self.split)
        count = min(self.num_images, len(dataset))
        loader = DataLoader(Subset(dataset, range(count)), batch_size=self.batch_size)
        self.selection = select_face_window_threshold(
            lnet, _pairs(loader, pl_module), self.candidates, count
        )
        rank_zero_info(self.selection.summary())

    def state_dict(self) -> dict[str, Any]:
        """The chosen threshold (also saved in the model's state)."""
        return {"threshold": None if self.selection is None else self.selection.threshold}


def _pairs(loader: DataLoader[Any], pl_module: LightningModule) -> Iterator[tuple[Tensor, Tensor]]:
    prepare = getattr(pl_module, "prepare_images", None)
    for batch in loader:
        images = batch["image"].to(pl_module.device)
        # The backbone reads what the task's forward gives it (memory format included).
        images = prepare(images) if callable(prepare) else images
        yield images, torch.as_tensor(batch["boxes"])
