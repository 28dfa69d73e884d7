"""Picture view reconstructions: inputs, reconstructions and ground truth; MVP's view strip.

FIP (Zhu, Luo, Wang, Tang, ICCV 2013, Fig. 1 and 5) shows faces from several poses beside the
canonical views the network reconstructs; MVP (NIPS 2014, Fig. 4) renders one face across the
whole range of views. This callback draws both from a validation (or test) run of
:class:`~lightning_deepvision.tasks.ReconstructionTask`.
"""

from __future__ import annotations

from typing import Any, cast

import torch
from lightning.pytorch import Callback, LightningModule, Trainer
from torch import Tensor
from torch.nn import functional as F
from torchvision.utils import make_grid

from lightning_deepvision.callbacks.pictures import log_image

__all__ = ["ReconstructionGridLogger", "reconstruction_grid", "view_strip"]


def _cells(images: Tensor, size: int) -> Tensor:
    """``(N, C, H, W)`` floats → ``(N, 3, size, size)`` in ``[0, 1]``."""
    images = images.detach().float().cpu().clamp(0, 1)
    images = images.expand(-1, 3, -1, -1) if images.shape[1] == 1 else images[:, :3]
    return F.interpolate(images, size=(size, size), mode="bilinear", antialias=True)


def _to_uint8(grid: Tensor) -> Tensor:
    return (grid * 255.0).round().clamp(0, 255).to(torch.uint8)


def reconstruction_grid(
    inputs: Tensor, reconstructions: Tensor, targets: Tensor, size: int = 64
) -> Tensor:
    """One row per image: input view, reconstruction, ground-truth target; ``uint8 (3, H, W)``."""
    rows = torch.stack(
        (_cells(inputs, size), _cells(reconstructions, size), _cells(targets, size)), 1
    )
    return _to_uint8(make_grid(rows.flatten(0, 1), nrow=3, padding=2, pad_value=1.0))


def view_strip(inputs: Tensor, renderings: Tensor, size: int = 64) -> Tensor:
    """One row per face: its input, then its renderings ``(N, V, C, H, W)`` at every view."""
    views = renderings.shape[1]
    cells = torch.cat(
        (
            _cells(inputs, size)[:, None],
            _cells(renderings.flatten(0, 1), size).unflatten(0, (-1, views)),
        ),
        1,
    )
    return _to_uint8(make_grid(cells.flatten(0, 1), nrow=views + 1, padding=2, pad_value=1.0))


class ReconstructionGridLogger(Callback):
    """After each validation (and test) epoch, picture the first batch's reconstructions.

    The ``num_images`` pictured rows are spread evenly over the batch (different people).

    ``<key>`` (``val/reconstructions``): rows of input view | reconstruction | ground-truth
    target. For a multi-view backbone (``num_views > 0``, MVP) also ``<key>_views``: each face's
    input, then the network's renderings of it at every view of the backbone's ``yaws``. Both
    go to every logger and to ``<log dir>/<key>.png``; nothing is drawn during the sanity check
    or on processes other than rank zero.

    Args:
        num_images: Faces pictured (rows).
        size: Side of a picture cell in pixels.
        key: Logged name in the validation run (the test uses ``test/...``).
    """

    def __init__(
        self, num_images: int = 8, size: int = 64, key: str = "val/reconstructions"
    ) -> None:
        super().__init__()
        if num_images < 1 or size < 8:
            raise ValueError(f"num_images must be >= 1 and size >= 8, got {num_images}, {size}")
        self.num_images = num_images
        self.size = size
        self.key = key
        self._kept: dict[str, Tensor] | None = None

    def _keep(self, outputs: Any, batch_idx: int) -> None:
        if batch_idx != 0 or not isinstance(outputs, dict) or "reconstruction" not in outputs:
            return
        rows = ~outputs["reference"].bool() if "reference" in outputs else None
        kept = {k: outputs[k] for k in ("image", "reconstruction", "target")}
        if rows is not None:
            kept = {k: v[rows] for k, v in kept.items()}
        # Rows spread evenly over the batch: evaluation sets list a person's images together,
        # so the first rows would all picture one person.
        count = len(kept["image"])
        spread = torch.linspace(0, max(count - 1, 0), min(self.num_images, count)).round().long()
        self._kept = {k: v[spread.to(v.device)].detach() for k, v in kept.items()}

    def on_validation_batch_end(
        self,
        trainer: Trainer,
        pl_module: LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
        dataloader_idx: int = 0,
    ) -> None:
        """Keep the first batch's images, reconstructions and targets."""
        if not trainer.sanity_checking:
            self._keep(outputs, batch_idx)

    def on_test_batch_end(
        self,
        trainer: Trainer,
        pl_module: LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
        dataloader_idx: int = 0,
    ) -> None:
        """Keep the first batch's images, reconstructions and targets."""
        self._keep(outputs, batch_idx)

    def on_validation_epoch_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        """Draw the validation pictures."""
        if not trainer.sanity_checking:
            self._draw(trainer, pl_module, self.key)

    def on_test_epoch_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        """Draw the test pictures."""
        self._draw(trainer, pl_module, "test/" + self.key.split("/", 1)[-1])

    @torch.no_grad()
    def _draw(self, trainer: Trainer, pl_module: LightningModule, key: str) -> None:
        kept, self._kept = self._kept, None
        directory = trainer.log_dir  # a collective call: every process makes it
        if kept is None or not len(kept["image"]) or not trainer.is_global_zero:
            return
        log_image(
            trainer,
            key,
            reconstruction_grid(kept["image"], kept["reconstruction"], kept["target"], self.size),
            directory=directory,
        )
        backbone = cast(Any, getattr(pl_module, "backbone", None))
        views = int(getattr(backbone, "num_views", 0) or 0)
        if not views:
            return
        features = backbone.forward_features(kept["image"])
        renderings = torch.stack(
            [
                backbone.forward_head(
                    features,
                    torch.full((features.shape[0],), v, dtype=torch.long, device=features.device),
                )
                for v in range(views)
            ],
            dim=1,
        )
        strip = view_strip(kept["image"], renderings, self.size)
        log_image(trainer, f"{key}_views", strip, directory=directory)
