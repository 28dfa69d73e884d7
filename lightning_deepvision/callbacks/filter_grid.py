"""Log the first convolution's filters as a picture, each validation epoch.

Krizhevsky, Sutskever, Hinton ("ImageNet Classification with Deep Convolutional Neural
Networks", NIPS 2012, Fig. 3) show the 96 11×11×3 kernels that AlexNet's first layer learns:
oriented edges, frequency patterns and colour blobs. Watching them form is the quickest check
that a network is learning low-level features at all (filters that stay noise, or die, show at
once).
"""

from __future__ import annotations

import math
from typing import Literal

import torch
from lightning.pytorch import Callback, LightningModule, Trainer
from torch import Tensor, nn
from torch.nn import functional as F
from torchvision.utils import make_grid

from lightning_deepvision.callbacks.pictures import log_image

__all__ = ["FilterGridLogger", "filter_grid", "find_first_conv", "log_image"]

Normalize = Literal["filter", "layer"]


def find_first_conv(module: nn.Module, name: str | None = None) -> nn.Conv2d:
    """The convolution named ``name`` (a dotted path in ``module``), else the first one.

    Raises:
        ValueError: If ``module`` has no ``Conv2d`` (or ``name`` is not one).
    """
    if name is not None:
        layer = module.get_submodule(name)
        if not isinstance(layer, nn.Conv2d):
            raise ValueError(f"{name!r} is a {type(layer).__name__}, not a Conv2d")
        return layer
    backbone = getattr(module, "backbone", module)
    for layer in backbone.modules():
        if isinstance(layer, nn.Conv2d):
            return layer
    raise ValueError(f"{type(module).__name__} has no Conv2d layer to show the filters of")


def _columns(count: int) -> int:
    """Columns of the grid: the smallest divisor of ``count`` that is at least its square root.

    96 filters make 8 rows of 12, 128 make 8 of 16, 20 make 4 of 5: a full rectangle about as
    wide as it is high.
    """
    root = math.isqrt(count - 1) + 1 if count > 1 else 1
    return next(c for c in range(root, count + 1) if count % c == 0)


def filter_grid(
    weight: Tensor,
    normalize: Normalize = "filter",
    columns: int | None = None,
    upscale: int = 4,
    padding: int = 1,
) -> Tensor:
    """The filters of a convolution weight as one ``uint8`` RGB picture ``(3, H, W)``.

    Args:
        weight: ``(out_channels, in_channels, kh, kw)``. Three input channels are shown in
            colour (as RGB), other counts as grey images of their mean over the input channels.
        normalize: ``"filter"`` stretches each filter to the full range on its own (every
            pattern visible, as the paper's figure); ``"layer"`` uses one range for all (relative
            strengths visible).
        columns: Filters per row; ``None`` picks a full rectangle (see :func:`_columns`).
        upscale: Pixels per weight (nearest neighbour), so 11×11 kernels are large enough to
            see.
        padding: Pixels between filters (white).

    Returns:
        The grid, ``uint8`` ``(3, H, W)``.
    """
    filters = weight.detach().float().cpu()
    if filters.ndim != 4:
        raise ValueError(f"expected a (out, in, kh, kw) weight, got shape {tuple(filters.shape)}")
    if filters.shape[1] != 3:
        filters = filters.mean(dim=1, keepdim=True).expand(-1, 3, -1, -1)
    dims = (1, 2, 3) if normalize == "filter" else (0, 1, 2, 3)
    low = filters.amin(dim=dims, keepdim=True)
    high = filters.amax(dim=dims, keepdim=True)
    filters = (filters - low) / (high - low).clamp_min(1e-12)
    if upscale > 1:
        filters = F.interpolate(filters, scale_factor=upscale, mode="nearest")
    count = filters.shape[0]
    grid = make_grid(
        filters, nrow=columns or _columns(count), padding=padding, pad_value=1.0, normalize=False
    )
    return (grid * 255.0).round().clamp(0, 255).to(torch.uint8)


class FilterGridLogger(Callback):
    """Picture the first convolution's filters after every validation epoch.

    The grid (see :func:`filter_grid`) goes to every logger under ``key`` and to
    ``<log dir>/<key>/epoch=<N>.png`` (``/`` in the key replaced by ``_``), so the PNGs of a run
    show the filters forming. Nothing is drawn during the sanity check or on other processes
    than rank zero; no matplotlib is involved.

    A short run from a random initialisation changes the filters by a fraction of their initial
    noise (a 12-epoch run of the AlexNet recipe: 18 %), so the learned structure (colour blobs,
    oriented edges) is hidden in the weights themselves; ``log_change`` also pictures the change
    since the fit started, under ``<key>_change``, where it shows at once.

    Args:
        layer: Dotted path of the convolution in the task (e.g.
            ``"backbone.features.conv1"``); ``None`` takes the backbone's first ``Conv2d``.
        key: Name of the logged image.
        normalize: ``"filter"`` (each filter stretched on its own) or ``"layer"``.
        upscale: Pixels per weight.
        log_change: Also picture ``weight - weight when fit started``.
    """

    def __init__(
        self,
        layer: str | None = None,
        key: str = "filters/conv1",
        normalize: Normalize = "filter",
        upscale: int = 4,
        log_change: bool = False,
    ) -> None:
        super().__init__()
        if normalize not in ("filter", "layer"):
            raise ValueError(f"normalize must be 'filter' or 'layer', got {normalize!r}")
        self.layer = layer
        self.key = key
        self.normalize: Normalize = normalize
        self.upscale = upscale
        self.log_change = log_change
        self._start: Tensor | None = None

    def on_fit_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        """Remember the filters the fit starts from (after ``init_from`` or a resume)."""
        if self.log_change:
            self._start = find_first_conv(pl_module, self.layer).weight.detach().cpu().clone()

    def on_validation_epoch_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        """Draw the current filters (and their change) and log them."""
        if trainer.sanity_checking:
            return
        directory = trainer.log_dir  # a collective call: every process makes it
        if not trainer.is_global_zero:
            return
        weight = find_first_conv(pl_module, self.layer).weight.detach().cpu()
        pictures = [(self.key, weight)]
        if self._start is not None and self._start.shape == weight.shape:
            pictures.append((f"{self.key}_change", weight - self._start))
        for key, filters in pictures:
            grid = filter_grid(filters, normalize=self.normalize, upscale=self.upscale)
            name = f"{key.replace('/', '_')}/epoch={trainer.current_epoch:03d}.png"
            log_image(trainer, key, grid, png_name=name, directory=directory)
