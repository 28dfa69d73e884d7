"""Detection pictures: frames with their detections and ground truth, and the miss-rate curve."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from lightning.pytorch import Callback, LightningModule, Trainer
from torch import Tensor
from torchmetrics import MetricCollection
from torchvision.ops import box_convert
from torchvision.utils import draw_bounding_boxes, make_grid

from lightning_deepvision.callbacks.miss_rate_curve import plot_miss_rate_curves
from lightning_deepvision.callbacks.pictures import log_figure, log_image
from lightning_deepvision.metrics.miss_rate import LogAverageMissRate, MissRateCurve
from lightning_deepvision.transforms import DETECTION_MEAN, DETECTION_STD

__all__ = ["DetectionFramesLogger", "MissRateCurveLogger"]

# Counted ground truth, ignore regions, detections.
_COLOURS = ("lime", "yellow", "red")


class DetectionFramesLogger(Callback):
    """Draw the first evaluation frames with their detections and ground truth; log the grid.

    Ground truth the evaluation counts is drawn in green, ignore regions in yellow, detections
    scoring at least ``score_threshold`` in red (best ``max_boxes`` per frame). Reads the
    ``detections`` a step returns (``DetectionTask``'s validation and test steps) and the
    batch's ``image``, ``boxes`` and ``ignore`` (``collate_frames`` batches); logged as
    ``{stage}/detections`` each epoch, on rank zero.

    Args:
        num_frames: Frames drawn.
        score_threshold: Lowest detection score drawn (a logit: 0 is probability 1/2).
        max_boxes: Most detections drawn per frame.
        mean: Normalisation mean of the frames (undone for drawing).
        std: Normalisation std of the frames.
    """

    def __init__(
        self,
        num_frames: int = 4,
        score_threshold: float = 0.0,
        max_boxes: int = 10,
        mean: Sequence[float] = DETECTION_MEAN,
        std: Sequence[float] = DETECTION_STD,
    ) -> None:
        super().__init__()
        self.num_frames = num_frames
        self.score_threshold = score_threshold
        self.max_boxes = max_boxes
        self.mean = torch.tensor(list(mean))[:, None, None]
        self.std = torch.tensor(list(std))[:, None, None]
        self._drawn: list[Tensor] = []

    def _start(self) -> None:
        self._drawn = []

    def on_validation_epoch_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        """Start a new picture."""
        self._start()

    def on_test_epoch_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        """Start a new picture."""
        self._start()

    def draw(self, image: Tensor, truth: Tensor, ignore: Tensor, detections: Tensor) -> Tensor:
        """A normalised frame ``[3, H, W]`` with ``truth`` (XYXY) and ``detections`` drawn."""
        pixels = (image.detach().float().cpu() * self.std + self.mean).clamp(0, 1)
        canvas = (pixels * 255).round().to(torch.uint8)
        truth = torch.as_tensor(truth).detach().float().cpu().reshape(-1, 4)
        ignore = torch.as_tensor(ignore).detach().cpu().bool().reshape(-1)
        dets = detections.detach().float().cpu()
        dets = dets[dets[:, 4] >= self.score_threshold][: self.max_boxes]
        boxes = torch.cat([truth, box_convert(dets[:, :4], "xywh", "xyxy")])
        colours = [_COLOURS[int(flag)] for flag in ignore.tolist()] + [_COLOURS[2]] * len(dets)
        if len(boxes) == 0:
            return canvas
        return draw_bounding_boxes(canvas, boxes, colors=colours, width=2)

    def _collect(self, outputs: Any, batch: Mapping[str, Any]) -> None:
        if len(self._drawn) >= self.num_frames or not isinstance(outputs, Mapping):
            return
        detections = outputs.get("detections")
        if detections is None:
            return
        for i, found in enumerate(detections):
            if len(self._drawn) >= self.num_frames:
                break
            self._drawn.append(
                self.draw(batch["image"][i], batch["boxes"][i], batch["ignore"][i], found)
            )

    def on_validation_batch_end(
        self,
        trainer: Trainer,
        pl_module: LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
        dataloader_idx: int = 0,
    ) -> None:
        """Draw the batch's frames until there are ``num_frames``."""
        self._collect(outputs, batch)

    def on_test_batch_end(
        self,
        trainer: Trainer,
        pl_module: LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
        dataloader_idx: int = 0,
    ) -> None:
        """Draw the batch's frames until there are ``num_frames``."""
        self._collect(outputs, batch)

    def _log(self, trainer: Trainer, stage: str) -> None:
        log_dir = trainer.log_dir  # collective: read on every process
        if not self._drawn or not trainer.is_global_zero or trainer.sanity_checking:
            return
        size = self._drawn[0].shape[-2:]
        same = [d for d in self._drawn if d.shape[-2:] == size]
        grid = make_grid(same, nrow=min(2, len(same)), padding=4)
        log_image(trainer, f"{stage}/detections", grid, directory=log_dir, keep_existing=True)
        self._drawn = []

    def on_validation_epoch_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        """Log the validation frames."""
        self._log(trainer, "val")

    def on_test_epoch_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        """Log the test frames."""
        self._log(trainer, "test")


class MissRateCurveLogger(Callback):
    """Log the miss-rate/FPPI curves of every evaluation setting, as the toolbox draws them.

    Reads the task's ``LogAverageMissRate`` metrics of the stage (``val_metrics`` /
    ``test_metrics``: ``lamr`` is the reasonable setting, ``lamr_<setting>`` the others) before
    they are reset, and logs one figure ``{stage}/miss_rate`` with a curve per setting
    (:func:`~lightning_deepvision.callbacks.plot_miss_rate_curves`). The curves are
    synchronised across processes; the figure is drawn on rank zero.

    Args:
        stages: The stages drawn (``"val"``, ``"test"``).
    """

    def __init__(self, stages: Sequence[str] = ("val", "test")) -> None:
        super().__init__()
        self.stages = tuple(stages)

    @staticmethod
    def curves(pl_module: LightningModule, stage: str) -> dict[str, MissRateCurve]:
        """The curve of each miss-rate metric of ``stage`` that has seen a frame, by setting."""
        metrics = getattr(pl_module, f"{stage}_metrics", None)
        if not isinstance(metrics, MetricCollection):
            return {}
        out: dict[str, MissRateCurve] = {}
        for name, metric in metrics.items(keep_base=True):
            if isinstance(metric, LogAverageMissRate) and metric.update_called:
                setting = name.split("lamr_", 1)[1] if "lamr_" in name else "reasonable"
                out[setting] = metric.curve()
        return out

    def _log(self, trainer: Trainer, pl_module: LightningModule, stage: str) -> None:
        if stage not in self.stages or trainer.sanity_checking:
            return
        curves = self.curves(pl_module, stage)  # collective under DDP: every process
        log_dir = trainer.log_dir
        if not curves or not trainer.is_global_zero:
            return
        figure = plot_miss_rate_curves(curves, title=f"{stage}: miss rate against FPPI")
        log_figure(trainer, f"{stage}/miss_rate", figure, directory=log_dir, keep_existing=True)

    def on_validation_epoch_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        """Log the validation curves."""
        self._log(trainer, pl_module, "val")

    def on_test_epoch_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        """Log the test curves."""
        self._log(trainer, pl_module, "test")
