"""Picture face-parsing results: each image beside its predicted and its true label map."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from lightning.pytorch import Callback, LightningModule, Trainer
from torch import Tensor
from torch.nn import functional as F
from torchvision.utils import draw_segmentation_masks, make_grid

from lightning_deepvision.callbacks.pictures import log_image
from lightning_deepvision.transforms.faces import FACE_MEAN, FACE_STD

__all__ = ["PARSING_PALETTE", "ParsingOverlayLogger", "parsing_overlay"]

#: One colour per label (background first, left unpainted), cycled beyond twelve.
PARSING_PALETTE: tuple[tuple[int, int, int], ...] = (
    (0, 0, 0),
    (255, 200, 150),
    (0, 200, 0),
    (0, 120, 255),
    (255, 255, 0),
    (255, 0, 255),
    (0, 255, 255),
    (255, 80, 0),
    (130, 0, 200),
    (200, 0, 60),
    (120, 60, 0),
    (255, 255, 255),
)


def parsing_overlay(
    images: Tensor, predictions: Tensor, targets: Tensor, num_classes: int, alpha: float = 0.55
) -> Tensor:
    """Rows of (image, prediction over it, truth over it), ``uint8`` ``(3, H, W)``.

    Args:
        images: ``uint8`` ``(N, 3, h, w)``.
        predictions: Label maps ``(N, h, w)``.
        targets: True label maps ``(N, h, w)``.
        num_classes: Labels; label 0 (background) is left unpainted.
        alpha: Opacity of the painted labels.
    """
    colours = [PARSING_PALETTE[k % len(PARSING_PALETTE)] for k in range(1, num_classes)]
    labels = torch.arange(1, num_classes).view(-1, 1, 1)
    cells = []
    for image, prediction, target in zip(images, predictions, targets, strict=True):
        cells.append(image)
        for labelled in (prediction, target):
            masks = labelled.cpu()[None] == labels
            cells.append(draw_segmentation_masks(image, masks, alpha=alpha, colors=colours))
    return make_grid(torch.stack(cells), nrow=3, padding=2, pad_value=255)


class ParsingOverlayLogger(Callback):
    """After each validation epoch (and a test), picture the first images of the first batch.

    Each row is the image, its predicted label map painted over it, and its true label map
    painted over it (:func:`parsing_overlay`). The task's ``validation_step``/``test_step``
    must return ``prediction`` and ``mask`` (as
    :class:`~lightning_deepvision.tasks.ParsingTask` does); the image is the batch's, its
    normalisation undone by ``mean``/``std``. The picture goes to every logger under
    ``<stage>/parsing_overlay`` and to ``<log dir>/<stage>_parsing_overlay/epoch=<N>.png``.
    Nothing is drawn during the sanity check or on processes other than rank zero.

    Args:
        num_images: Rows of the picture (at most the batch size).
        upscale: Pixels per label-map pixel (small faces are hard to see otherwise).
        mean: Normalisation mean of the evaluation transform.
        std: Normalisation std of the evaluation transform.
        alpha: Opacity of the painted labels.
    """

    def __init__(
        self,
        num_images: int = 6,
        upscale: int = 2,
        mean: Sequence[float] = FACE_MEAN,
        std: Sequence[float] = FACE_STD,
        alpha: float = 0.55,
    ) -> None:
        super().__init__()
        if num_images < 1 or upscale < 1:
            raise ValueError(
                f"num_images and upscale must be positive, got {num_images}, {upscale}"
            )
        self.num_images = num_images
        self.upscale = upscale
        self.mean = torch.tensor(list(mean)).view(1, -1, 1, 1)
        self.std = torch.tensor(list(std)).view(1, -1, 1, 1)
        self.alpha = alpha

    def _draw(
        self,
        trainer: Trainer,
        stage: str,
        outputs: Any,
        batch: Any,
        classes: int,
        directory: str | None,
    ) -> None:
        n = self.num_images
        images = batch["image"][:n].detach().float().cpu()
        if images.shape[1] == self.mean.shape[1]:
            images = images * self.std + self.mean
        images = images[:, :3] if images.shape[1] >= 3 else images.expand(-1, 3, -1, -1)
        size = outputs["mask"].shape[-2:]
        scale = self.upscale
        images = F.interpolate(images, size=tuple(s * scale for s in size), mode="bilinear")
        pixels = (images.clamp(0, 1) * 255).round().to(torch.uint8)

        def grow(maps: Tensor) -> Tensor:
            return maps[:n].detach().cpu().repeat_interleave(scale, -2).repeat_interleave(scale, -1)

        grid = parsing_overlay(
            pixels, grow(outputs["prediction"]), grow(outputs["mask"]), classes, self.alpha
        )
        key = f"{stage}/parsing_overlay"
        log_image(
            trainer,
            key,
            grid,
            png_name=f"{stage}_parsing_overlay/epoch={trainer.current_epoch}.png",
            directory=directory,
        )

    def _on_batch_end(
        self,
        trainer: Trainer,
        pl_module: LightningModule,
        stage: str,
        outputs: Any,
        batch: Any,
        batch_idx: int,
    ) -> None:
        if batch_idx != 0 or trainer.sanity_checking:
            return
        directory = trainer.log_dir  # a collective call: every process makes it
        if not trainer.is_global_zero:
            return
        if not isinstance(outputs, dict) or not {"prediction", "mask"} <= outputs.keys():
            return
        classes = int(getattr(pl_module.hparams, "num_classes", 0) or 0)
        classes = max(classes, int(outputs["mask"].max()) + 1, int(outputs["prediction"].max()) + 1)
        self._draw(trainer, stage, outputs, batch, classes, directory)

    def on_validation_batch_end(
        self,
        trainer: Trainer,
        pl_module: LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
        dataloader_idx: int = 0,
    ) -> None:
        """Draw the first validation batch."""
        self._on_batch_end(trainer, pl_module, "val", outputs, batch, batch_idx)

    def on_test_batch_end(
        self,
        trainer: Trainer,
        pl_module: LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
        dataloader_idx: int = 0,
    ) -> None:
        """Draw the first test batch."""
        self._on_batch_end(trainer, pl_module, "test", outputs, batch, batch_idx)
