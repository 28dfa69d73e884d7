"""Store a detector's predictions in the Caltech toolbox's result format."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from lightning.pytorch import LightningModule, Trainer
from lightning.pytorch.callbacks import BasePredictionWriter
from torch import Tensor

from lightning_deepvision.callbacks.pictures import free_path
from lightning_deepvision.datasets.caltech_results import FrameKey, write_caltech_results

__all__ = ["CaltechResultsWriter"]


class CaltechResultsWriter(BasePredictionWriter):
    """Write ``predict`` detections as ``setXX/VYYY.txt`` files the toolbox's ``dbEval`` reads.

    Takes the per-frame entries of ``DetectionTask.predict_step`` (``boxes`` ``x, y, w, h``,
    ``scores``, ``set``, ``video``, ``frame``) and writes them with
    :func:`~lightning_deepvision.datasets.caltech_results.write_caltech_results` when the
    prediction epoch ends (rows ``frame + 1, x, y, w, h, score``). Existing files are never
    overwritten. Under several processes each writes the frames it predicted into
    ``rank<N>/`` of the folder.

    Args:
        output_dir: The algorithm's result folder (``res/<algorithm>``); ``None``:
            ``results/`` in the run's log directory (``results-1/``, ... for later predictions
            of the same run).
    """

    def __init__(self, output_dir: str | None = None) -> None:
        super().__init__(write_interval="epoch")
        self.output_dir = output_dir
        self.written: list[Path] = []

    def write_on_epoch_end(
        self,
        trainer: Trainer,
        pl_module: LightningModule,
        predictions: Sequence[Any],
        batch_indices: Sequence[Any],
    ) -> None:
        """Collect every frame's detections and write the result files."""
        log_dir = trainer.log_dir  # collective under DDP: every process reads it
        if self.output_dir:
            root = Path(self.output_dir)
        else:
            # A second prediction of the same run gets a folder of its own (never overwritten).
            root = free_path(Path(log_dir or trainer.default_root_dir) / "results")
        if trainer.world_size > 1:
            root = root / f"rank{trainer.global_rank}"
        detections: dict[FrameKey, Tensor] = {}
        for batch in predictions:
            for frame in batch:
                key = (int(frame["set"]), int(frame["video"]), int(frame["frame"]))
                rows = torch.cat([frame["boxes"], frame["scores"][:, None]], dim=1)
                detections[key] = rows.detach().cpu().double()
        if detections:
            self.written = write_caltech_results(root, detections)
