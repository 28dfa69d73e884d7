"""Pedestrian detection with a window classifier (UDN by default), scored by Caltech's LAMR."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar, Literal, cast

import torch
from torch import Tensor, nn
from torchmetrics import Metric, MetricCollection

from lightning_deepvision.datasets.caltech import CALTECH_LABELS, evaluation_ground_truth
from lightning_deepvision.datasets.caltech_results import FrameKey, read_caltech_results
from lightning_deepvision.metrics.miss_rate import CALTECH_SETTINGS, LogAverageMissRate
from lightning_deepvision.models.registry import model_accepts
from lightning_deepvision.tasks.base import BaseTask, SchedulerName
from lightning_deepvision.tasks.sliding_window import (
    box_windows,
    pyramid_scales,
    resize_even,
    suppress,
    window_boxes,
    windowed_scores,
)
from lightning_deepvision.transforms.udn import UDN_LAYOUTS, udn_channels

__all__ = ["DetectionTask"]

Preprocessing = Literal["stacked", "tiled", "none"]
# The frame keys a prediction carries back, to trace it to its video frame.
_FRAME_KEYS = ("set", "video", "frame", "index")


class DetectionTask(BaseTask):
    """Train a pedestrian window classifier; detect on whole frames; report Caltech's LAMR.

    **Training** classifies windows (``image`` ``[B, 3, h, w]``, ``label`` 1 pedestrian / 0
    background, e.g. from :class:`~lightning_deepvision.datasets.caltech.CaltechWindows`) with
    a log loss, as UDN is trained (Ouyang, Wang, "Joint Deep Learning for Pedestrian
    Detection", ICCV 2013). The window classifier is the backbone itself when it has a
    ``score_map`` (:class:`~lightning_deepvision.models.udn.UDN`), else a backbone without
    classifier and a linear head with one output. ``preprocessing`` turns the RGB windows and
    frames into the network's input on the device
    (:func:`~lightning_deepvision.transforms.udn.udn_channels`: UDN's channels, ``"stacked"``
    or the paper's ``"tiled"``; ``"none"`` passes RGB).

    **Detection** (validation, test, predict) runs on whole frames (``collate_frames``
    batches): an image pyramid whose scales make pedestrians from ``min_height`` to
    ``max_height`` pixels fill the window, every window of a scale scored in one fully
    convolutional pass (``score_map``; with the ``"tiled"`` input or a backbone without
    ``score_map``, the windows are cropped and scored a batch at a time), a box per window
    and non-maximum suppression (``torchvision.ops.nms``). With ``proposals`` (a toolbox
    result folder ``setXX/VYYY.txt``, e.g. a first-stage detector's output, as the paper
    pruned windows with HOG+CSS) the candidate boxes are re-scored instead.

    **Metrics**: the Caltech log-average miss rate (Dollár et al., TPAMI 2012), exactly as the
    toolbox computes it, logged as ``{stage}/lamr`` (the ``reasonable`` setting) and
    ``{stage}/lamr_<setting>`` for each of ``settings``. ``predict_step`` returns, per frame,
    ``boxes`` (``x, y, w, h``), ``scores`` and the frame's ``set``, ``video``, ``frame`` and
    ``index`` (:class:`~lightning_deepvision.callbacks.CaltechResultsWriter` stores them in the
    toolbox's text format).

    Args:
        backbone: Registry name (``"udn"``, ``"udn_tiny"``, any timm model) or an
            ``nn.Module`` window classifier.
        preprocessing: Input channels made from RGB: ``"stacked"`` (default), ``"tiled"`` or
            ``"none"``.
        window_size: ``(height, width)`` of the windows (UDN: 84x28).
        context: Margin a window leaves around its pedestrian, as a fraction of the
            pedestrian's height on each side (the training windows' ``context``).
        aspect_ratio: Width / height of the detected boxes (Caltech's 0.41).
        min_height: Smallest pedestrian height (pixels) the pyramid looks for.
        max_height: Largest; ``None``: the frame height.
        scales_per_octave: Pyramid scales per halving of the size.
        window_stride: Stride of cropped windows for a classifier without ``score_map``
            (``None``: the model's ``stride`` or 8).
        window_batch_size: Windows scored at once when cropping.
        nms_threshold: Intersection over union above which a lower-scoring box is suppressed.
        max_detections: Boxes kept per frame.
        proposals: Toolbox result folder of candidate boxes to re-score (``None``: sliding
            window).
        settings: Further evaluation settings of ``metrics.miss_rate.CALTECH_SETTINGS``.
        lr_schedule: As in :class:`~lightning_deepvision.tasks.BaseTask`.
        **kwargs: The shared options of :class:`~lightning_deepvision.tasks.BaseTask`.
    """

    monitor: ClassVar[str] = "val/lamr"
    mode: ClassVar[Literal["min", "max"]] = "min"
    metric_stages: ClassVar[tuple[str, ...]] = ("val", "test")
    head: nn.Module | None

    def __init__(
        self,
        backbone: str | nn.Module = "udn",
        preprocessing: Preprocessing = "stacked",
        window_size: tuple[int, int] = (84, 28),
        context: float = 0.1,
        aspect_ratio: float = 0.41,
        min_height: float = 50.0,
        max_height: float | None = None,
        scales_per_octave: int = 4,
        window_stride: int | None = None,
        window_batch_size: int = 512,
        nms_threshold: float = 0.5,
        max_detections: int = 100,
        proposals: str | None = None,
        settings: Sequence[str] = ("all", "none", "partial", "heavy"),
        lr_schedule: SchedulerName = "cosine",
        **kwargs: Any,
    ) -> None:
        if preprocessing not in (*UDN_LAYOUTS, "none"):
            raise ValueError(
                f"preprocessing must be 'stacked', 'tiled' or 'none', got {preprocessing!r}"
            )
        unknown = [s for s in settings if s not in CALTECH_SETTINGS]
        if unknown:
            raise ValueError(f"unknown settings {unknown}; known: {sorted(CALTECH_SETTINGS)}")
        if min_height <= 0 or scales_per_octave < 1 or not 0 < nms_threshold <= 1:
            raise ValueError(
                "need min_height > 0, scales_per_octave >= 1 and 0 < nms_threshold <= 1, got "
                f"{min_height}, {scales_per_octave}, {nms_threshold}"
            )
        super().__init__(backbone=backbone, lr_schedule=lr_schedule, **kwargs)
        self._proposals: dict[FrameKey, Tensor] | None = None

    # -- construction --------------------------------------------------------------------------
    @property
    def in_chans(self) -> int:
        """Channels of the network input made by ``preprocessing``."""
        return UDN_LAYOUTS.get(str(self.hp.preprocessing), 3)

    def build_backbone(self, name: str, **kwargs: Any) -> nn.Module:
        """A registry window classifier sized for the input channels and the window."""
        if model_accepts(name, "in_chans"):
            kwargs.setdefault("in_chans", self.in_chans)
        if model_accepts(name, "window_size"):
            kwargs.setdefault("window_size", tuple(self.hp.window_size))
        elif model_accepts(name, "num_classes"):
            kwargs.setdefault("num_classes", 0)  # a feature extractor under a binary head
        return super().build_backbone(name, **kwargs)

    def configure_models(self) -> None:
        """The backbone is the classifier when it scores windows itself, else add a head."""
        if callable(getattr(self.backbone, "score_map", None)):
            self.head = None
            return
        width = getattr(self.backbone, "num_features", None)
        if not isinstance(width, int) or width <= 0:
            with torch.no_grad():
                probe = torch.zeros(1, self.in_chans, *self.hp.window_size)
                width = int(self.backbone.eval()(probe).flatten(1).shape[1])
            self.backbone.train()
        self.head = nn.Linear(width, 1)

    def configure_losses(self) -> None:
        """The log loss of UDN: binary cross-entropy of the pedestrian logit."""
        self.criterion = nn.BCEWithLogitsLoss()

    def configure_metrics(self) -> MetricCollection:
        """``lamr`` (reasonable) and ``lamr_<setting>`` for each further setting."""
        metrics: dict[str, Metric | MetricCollection] = {"lamr": LogAverageMissRate("reasonable")}
        for setting in self.hp.settings:
            metrics[f"lamr_{setting}"] = LogAverageMissRate(str(setting))
        return MetricCollection(metrics, compute_groups=False)

    # -- window scores -------------------------------------------------------------------------
    def preprocess(self, images: Tensor) -> Tensor:
        """The network input of RGB windows or frames ``[B, 3, H, W]``."""
        layout = self.hp.preprocessing
        out = images if layout == "none" else udn_channels(images, layout)
        return self.prepare_images(out)

    def classify(self, inputs: Tensor) -> Tensor:
        """Pedestrian logits ``[B]`` of preprocessed windows."""
        out = self.backbone(inputs)
        if self.head is not None:
            out = self.head(out.flatten(1))
        return cast(Tensor, out).reshape(-1)

    def forward(self, images: Tensor) -> Tensor:
        """Pedestrian logits ``[B]`` of RGB windows ``[B, 3, *window_size]``."""
        return self.classify(self.preprocess(images))

    @property
    def fully_convolutional(self) -> bool:
        """Whether a frame's windows are scored in one pass (``score_map``, untiled input)."""
        return self.head is None and self.hp.preprocessing != "tiled"

    def score_windows(self, level: Tensor) -> tuple[Tensor, int]:
        """Logits of every window of one RGB pyramid level ``[1, 3, H, W]`` and their stride."""
        # A fully convolutional model's windows lie at its own stride; cropped windows at
        # ``window_stride`` (default the model's, else 8 pixels).
        own = int(getattr(self.backbone, "stride", 0) or 0)
        stride = own if self.fully_convolutional else int(self.hp.window_stride or own or 8)
        if self.fully_convolutional:
            score_map = cast(Callable[[Tensor], Tensor], self.backbone.score_map)
            return score_map(self.preprocess(level))[0], stride
        scores = windowed_scores(
            self, level[0], self.hp.window_size, stride, int(self.hp.window_batch_size)
        )
        return scores, stride

    # -- detection -----------------------------------------------------------------------------
    def detect(self, image: Tensor, key: FrameKey | None = None) -> Tensor:
        """Detections ``[k, 5]`` ``x, y, w, h, score`` of one normalised RGB frame ``[3, H, W]``.

        Args:
            image: The frame, preprocessed as the evaluation frames (``frame_transforms``).
            key: ``(set, video, frame)`` of the frame, needed with ``proposals``.
        """
        hp = self.hp
        if hp.proposals:
            return self._rescore(image, key)
        scales = pyramid_scales(
            image.shape[-2:],
            hp.window_size,
            float(hp.context),
            float(hp.min_height),
            hp.max_height,
            int(hp.scales_per_octave),
        )
        found = []
        for scale in scales:
            level, actual = resize_even(image[None], scale)
            if level.shape[-2] < hp.window_size[0] or level.shape[-1] < hp.window_size[1]:
                continue
            scores, stride = self.score_windows(level)
            found.append(
                window_boxes(
                    scores, actual, stride, hp.window_size, float(hp.context), hp.aspect_ratio
                )
            )
        if not found:
            return image.new_zeros(0, 5)
        return suppress(torch.cat(found), float(hp.nms_threshold), int(hp.max_detections))

    def _rescore(self, image: Tensor, key: FrameKey | None) -> Tensor:
        if self._proposals is None:
            self._proposals = read_caltech_results(str(self.hp.proposals))
        if key is None:
            raise ValueError("re-scoring proposals needs the frame's (set, video, frame)")
        candidates = self._proposals.get(key)
        if candidates is None or len(candidates) == 0:
            return image.new_zeros(0, 5)
        boxes = candidates[:, :4].to(image)
        windows = box_windows(image, boxes, self.hp.window_size, float(self.hp.context))
        scores = torch.cat([self(windows[k : k + 512]) for k in range(0, len(windows), 512)])
        detections = torch.cat([boxes, scores[:, None]], dim=1)
        return suppress(detections, float(self.hp.nms_threshold), int(self.hp.max_detections))

    def detect_batch(self, batch: Mapping[str, Any]) -> list[Tensor]:
        """Detections of every frame of a ``collate_frames`` batch."""
        images = batch["image"]
        if not all(k in batch for k in ("set", "video", "frame")):  # frames read from files
            return [self.detect(image) for image in images]
        keys = [
            tuple(int(batch[k][i]) for k in ("set", "video", "frame")) for i in range(len(images))
        ]
        return [
            self.detect(image, cast(FrameKey, key)) for image, key in zip(images, keys, strict=True)
        ]

    # -- steps ---------------------------------------------------------------------------------
    def training_step(self, batch: Mapping[str, Tensor], batch_idx: int) -> Tensor:
        """Log loss of the window batch."""
        labels = batch["label"]
        logits = self(batch["image"])
        loss = cast(Tensor, self.criterion(logits, labels.to(logits.dtype)))
        self.log("train/loss", loss, prog_bar=True, batch_size=labels.shape[0])
        return loss

    def _evaluate(self, stage: str, batch: Mapping[str, Any]) -> dict[str, Any]:
        detections = self.detect_batch(batch)
        frames = len(detections)
        truth = [
            evaluation_ground_truth(
                {k: batch[k][i] for k in ("boxes", "visible_boxes", "occluded", "labels")},
                CALTECH_LABELS,
            )
            for i in range(frames)
        ]
        metrics = cast(MetricCollection, getattr(self, f"{stage}_metrics"))
        metrics.update([d.double() for d in detections], truth, batch["index"])
        self.log_dict(metrics, batch_size=frames, prog_bar=stage == "val")
        return {"detections": detections}

    def validation_step(self, batch: Mapping[str, Any], batch_idx: int) -> dict[str, Any]:
        """Detect on the validation frames and accumulate the miss rates."""
        return self._evaluate("val", batch)

    def test_step(self, batch: Mapping[str, Any], batch_idx: int) -> dict[str, Any]:
        """Detect on the test frames and accumulate the miss rates."""
        return self._evaluate("test", batch)

    def predict_step(self, batch: Mapping[str, Any], batch_idx: int) -> list[dict[str, Any]]:
        """Per frame: ``boxes`` ``[k, 4]`` ``x, y, w, h``, ``scores`` ``[k]``, frame ids, path."""
        out: list[dict[str, Any]] = []
        for i, detections in enumerate(self.detect_batch(batch)):
            entry = {"boxes": detections[:, :4], "scores": detections[:, 4]}
            entry.update({k: torch.as_tensor(batch[k][i]) for k in _FRAME_KEYS if k in batch})
            if "path" in batch:  # frames read from files (``predict_root``)
                entry["path"] = batch["path"][i]
            out.append(entry)
        return out

    def result_summary(self, metrics: Mapping[str, Any]) -> str | None:
        """The reasonable-setting LAMR of the run's last evaluation, in percent."""
        for stage in ("test", "val"):
            key = f"{stage}/lamr"
            if key in metrics and not math.isnan(float(metrics[key])):
                rest = ", ".join(
                    f"{s} {100 * float(metrics[f'{stage}/lamr_{s}']):.1f}%"
                    for s in self.hp.settings
                    if f"{stage}/lamr_{s}" in metrics
                )
                line = f"{key} = {100 * float(metrics[key]):.2f}% (reasonable)"
                return f"{line}; {rest}" if rest else line
        return None
