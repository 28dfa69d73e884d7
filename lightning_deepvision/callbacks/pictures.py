"""Hand a picture to every logger of a run and keep it as a PNG in the run directory.

Lightning's loggers each take images their own way (``WandbLogger.log_image``, TensorBoard's
``add_image``, nothing for CSV), and none of them leaves a file a user can open after a run.
Every picture callback of the library (filter grids, retrieval grids, ROC curves, neuron
analyses, miss-rate curves, overlays) goes through these two functions so that a picture reaches
W&B, TensorBoard and the run directory in the same way.

``trainer.log_dir`` is a collective call under DDP (it broadcasts rank zero's directory): a
callback that draws on rank zero only reads it on every process first and passes it as
``directory``.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
from lightning.pytorch import Trainer
from lightning.pytorch.loggers import TensorBoardLogger, WandbLogger
from PIL import Image
from torch import Tensor

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["free_path", "log_figure", "log_image", "png_path"]


class _Unset:
    """Marks ``directory`` not given (``None`` means: write no file)."""


_UNSET = _Unset()


def png_path(
    directory: str | Path | None,
    key: str,
    png_name: str | None = None,
    *,
    keep_existing: bool = False,
) -> Path | None:
    """Where the PNG of ``key`` goes in ``directory``: ``/`` in ``key`` → ``_``, ``.png``.

    ``None`` when there is no directory. With ``keep_existing`` an existing file is never
    replaced (:func:`free_path` picks ``<stem>-<N>.png`` beside it).
    """
    if directory is None:
        return None
    path = Path(directory) / (png_name or f"{key.replace('/', '_')}.png")
    return free_path(path) if keep_existing else path


def log_image(
    trainer: Trainer,
    key: str,
    image: Tensor | np.ndarray,
    png_name: str | None = None,
    *,
    directory: str | Path | _Unset | None = _UNSET,
    keep_existing: bool = False,
) -> Path | None:
    """Hand a ``uint8`` picture to every logger and write it as a PNG; return the PNG's path.

    Args:
        trainer: The running trainer (its loggers and log directory).
        key: Name of the picture in the loggers (``"val/filters_conv1"``).
        image: ``uint8`` pixels, a ``(3, H, W)`` tensor or an ``H × W × 3`` array.
        png_name: File name in the log directory (default: ``key`` with ``/`` → ``_``, ``.png``).
        directory: Where the PNG goes (``None``: no file); default ``trainer.log_dir``, which
            is a collective call: pass it when drawing on rank zero only.
        keep_existing: Never replace an existing PNG (a second ``test`` of one run keeps both).
    """
    if isinstance(image, Tensor):
        pixels = np.ascontiguousarray(image.detach().cpu().permute(1, 2, 0).numpy())
    else:
        pixels = np.ascontiguousarray(image)
    for logger in trainer.loggers:
        if isinstance(logger, WandbLogger):
            logger.log_image(key=key, images=[pixels])
        elif isinstance(logger, TensorBoardLogger):
            logger.experiment.add_image(
                key, torch.from_numpy(pixels), global_step=trainer.global_step, dataformats="HWC"
            )
    if isinstance(directory, _Unset):
        directory = trainer.log_dir
    path = png_path(directory, key, png_name, keep_existing=keep_existing)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(pixels).save(path, format="PNG")
    return path


def log_figure(
    trainer: Trainer,
    key: str,
    figure: Figure,
    png_name: str | None = None,
    *,
    directory: str | Path | _Unset | None = _UNSET,
    keep_existing: bool = False,
) -> Path | None:
    """:func:`log_image` of a matplotlib figure, rendered once (the PNG holds the same pixels)."""
    from lightning_deepvision.analysis.figures import figure_to_array

    return log_image(
        trainer,
        key,
        figure_to_array(figure),
        png_name,
        directory=directory,
        keep_existing=keep_existing,
    )


def free_path(path: Path) -> Path:
    """``path``, or ``<stem>-<N><suffix>`` beside it when taken (never overwrite a picture).

    Each run has a directory of its own; a directory shared by runs (no logger) or a second
    ``trainer.test`` of one run keeps every earlier picture.
    """
    candidate, number = path, 1
    while candidate.exists():
        candidate = path.with_name(f"{path.stem}-{number}{path.suffix}")
        number += 1
    return candidate
