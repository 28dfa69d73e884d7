"""Caltech Pedestrian: window-classifier training and full-frame evaluation.

Training follows the window classifiers of the era (UDN: Ouyang, Wang, "Joint Deep Learning for
Pedestrian Detection", ICCV 2013): fixed-size windows (84x28 by default) cut around annotated
pedestrians and from the background of the training frames
(:class:`~lightning_deepvision.datasets.caltech.CaltechWindows`), optionally grown with hard
negatives mined from a model's detections. Evaluation runs on whole frames, every 30th frame of
the test videos as the official protocol (Dollár et al., TPAMI 2012), with a ``collate_fn`` that
keeps each frame's own number of boxes.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset, Sampler
from torchvision.transforms import v2

from lightning_deepvision.datamodules.base import BaseDataModule
from lightning_deepvision.datasets.caltech import (
    SPLIT_SETS,
    TEST_STRIDE,
    CaltechPedestrian,
    CaltechWindows,
    FrameGroupedSampler,
)
from lightning_deepvision.transforms import DETECTION_MEAN, DETECTION_STD, detection_transforms

__all__ = ["PER_FRAME_KEYS", "CaltechDataModule", "collate_frames", "frame_transforms"]

#: Sample entries with one row per box: collated as lists, one tensor per frame.
PER_FRAME_KEYS: tuple[str, ...] = ("boxes", "visible_boxes", "labels", "ignore", "occluded")


def collate_frames(samples: list[dict[str, Any]]) -> dict[str, Any]:
    """Batch full-frame detection samples whose box counts differ.

    Per-box entries (:data:`PER_FRAME_KEYS`) become lists with one tensor per frame; images are
    stacked when they share a size (a list otherwise); other tensors are stacked; anything
    else is listed.

    Args:
        samples: :class:`~lightning_deepvision.datasets.caltech.CaltechPedestrian` samples.

    Returns:
        One dict with the keys of the first sample.
    """
    batch: dict[str, Any] = {}
    for key in samples[0]:
        values = [s[key] for s in samples]
        if key in PER_FRAME_KEYS:
            batch[key] = values
        elif all(isinstance(v, Tensor) for v in values) and len({v.shape for v in values}) == 1:
            batch[key] = torch.stack(values)
        else:
            batch[key] = values
    return batch


def frame_transforms(
    mean: Sequence[float] = DETECTION_MEAN, std: Sequence[float] = DETECTION_STD
) -> v2.Compose:
    """Full-frame evaluation preprocessing: ``float32`` image normalised like the windows.

    No geometric change, so boxes stay in frame pixels. The mean and std are those of
    :func:`~lightning_deepvision.transforms.detection_transforms`, so that a window cut from
    a normalised frame and resized equals the training preprocessing of that window.
    """
    return v2.Compose([v2.ToDtype(torch.float32, scale=True), v2.Normalize(list(mean), list(std))])


class CaltechDataModule(BaseDataModule):
    """Caltech Pedestrian from its raw ``.seq``/``.vbb`` files: windows to train, frames to test.

    - ``train``: :class:`~lightning_deepvision.datasets.caltech.CaltechWindows` over the
      training frames (set00-set05 less ``val_sets``, every ``train_stride``-th frame): jittered
      positive windows around the boxes ``train_setting`` counts, random background windows and
      any hard negatives added by :meth:`add_hard_negatives`; ``{"image": float [3, *window_size],
      "label": 1 or 0, "frame_index", "box"}`` after
      :func:`~lightning_deepvision.transforms.detection_transforms` (``train=True``). Batches
      are drawn by a :class:`~lightning_deepvision.datasets.caltech.FrameGroupedSampler`, so a
      batch decodes a few frames rather than one per window.
    - ``val``: full frames of ``val_sets`` (every 30th frame), or of the test split when
      ``val_sets`` is empty (Caltech has no validation split; hold a training set out, e.g.
      ``["set05"]``, for model selection that never sees the test set).
    - ``test`` / ``predict``: the official test frames (set06-set10, every 30th frame).

    Full-frame samples are :class:`~lightning_deepvision.datasets.caltech.CaltechPedestrian`'s
    after :func:`frame_transforms`, batched by :func:`collate_frames`;
    :func:`~lightning_deepvision.datasets.caltech.evaluation_ground_truth` turns one frame of a
    batch into the input of ``metrics.miss_rate``.

    Hard-negative mining: iterate :meth:`mining_dataloader` (the full training frames), run the
    model, then pass its detections per frame (``[k, 5]`` ``x, y, w, h, score``, keyed by the
    batch's ``index``) to :meth:`add_hard_negatives`; the next training loader includes them
    (use ``Trainer(reload_dataloaders_every_n_epochs=1)`` when mining between epochs).

    Args:
        root: The dataset root (``setXX/VYYY.seq``, ``annotations/setXX/VYYY.vbb``).
        annotations: ``"original"`` or ``"new"`` (Zhang et al., CVPR 2016) ground truth.
        train_stride: Frame stride of the training frames (30 as the test frames; 3 gives the
            "10x" set).
        val_sets: Training sets held out for validation; empty validates on the test split.
        window_size: ``(height, width)`` of the training windows (UDN: 84x28).
        context: Margin around a box in a window, as a fraction of its height on each side.
        jitter: Shift and scale jitter of positive windows (fraction of their size).
        negatives_per_frame: Random background windows per training frame and epoch.
        negative_overlap: Largest fraction of a negative window's box inside any annotated box.
        negative_height: Pixel heights of random negative boxes.
        train_setting: Evaluation setting deciding which boxes are positives.
        eval_setting: Setting of the full-frame samples' ``ignore`` flags.
        augment: Training augmentation of
            :func:`~lightning_deepvision.transforms.detection_transforms` (flip, colour and
            scale jitter).
        cache_dir: Where ``.seq`` frame indices are kept across processes (never under
            ``root`` unless you choose so); ``None``: in memory only.
        frame_cache_size: Decoded frames each loader process keeps for the windows.
        batch_size: Training windows per batch (per process).
        eval_batch_size: Full frames per evaluation batch (per process).
        num_workers: Loader workers; ``None`` picks half the usable CPUs (at most 8).
        pin_memory: Pin host memory; ``None`` pins only when CUDA is available.
        persistent_workers: Keep workers alive between epochs.
        streaming_root: Train on a litdata stream of the windows instead (one draw of them,
            written by ``deepvision-optimize --data CaltechDataModule``; see
            :class:`~lightning_deepvision.datamodules.BaseDataModule`).
    """

    def __init__(
        self,
        root: str | Path,
        annotations: Literal["original", "new"] = "original",
        train_stride: int = TEST_STRIDE,
        val_sets: Sequence[str] = (),
        window_size: tuple[int, int] = (84, 28),
        context: float = 0.1,
        jitter: float = 0.05,
        negatives_per_frame: int = 4,
        negative_overlap: float = 0.25,
        negative_height: tuple[float, float] = (50.0, 300.0),
        train_setting: str = "reasonable",
        eval_setting: str = "reasonable",
        augment: bool = True,
        cache_dir: str | Path | None = None,
        frame_cache_size: int = 8,
        batch_size: int = 128,
        eval_batch_size: int = 8,
        num_workers: int | None = None,
        pin_memory: bool | None = None,
        persistent_workers: bool = True,
        streaming_root: str | None = None,
    ) -> None:
        super().__init__(
            batch_size=batch_size,
            eval_batch_size=eval_batch_size,
            num_workers=num_workers,
            pin_memory=pin_memory,
            persistent_workers=persistent_workers,
            streaming_root=streaming_root,
        )
        unknown = [s for s in val_sets if s not in SPLIT_SETS["train"]]
        if unknown:
            raise ValueError(
                f"val_sets {unknown} are not training sets {list(SPLIT_SETS['train'])}"
            )
        self.root = Path(root)
        self.annotations = annotations
        self.train_stride = train_stride
        self.val_sets = tuple(val_sets)
        self.window_size = (int(window_size[0]), int(window_size[1]))
        self.context = context
        self.jitter = jitter
        self.negatives_per_frame = negatives_per_frame
        self.negative_overlap = negative_overlap
        self.negative_height = (float(negative_height[0]), float(negative_height[1]))
        self.train_setting = train_setting
        self.eval_setting = eval_setting
        self.augment = augment
        self.cache_dir = cache_dir
        self.frame_cache_size = frame_cache_size

    # -- datasets ------------------------------------------------------------------------------
    def _frames(
        self,
        split: Literal["train", "test"],
        sets: Sequence[str] | None,
        setting: str,
        transforms: Callable[[Any], Any] | None,
        stride: int = TEST_STRIDE,
    ) -> CaltechPedestrian:
        return CaltechPedestrian(
            self.root,
            split=split,
            transforms=transforms,
            annotations=self.annotations,
            train_stride=stride,
            setting=setting,
            sets=sets,
            cache_dir=self.cache_dir,
        )

    def _train_sets(self) -> list[str] | None:
        if not self.val_sets:
            return None
        present = [s for s in SPLIT_SETS["train"] if (self.root / s).is_dir()]
        kept = [s for s in present if s not in self.val_sets]
        if not kept:
            raise ValueError(
                f"val_sets {list(self.val_sets)} leave no training set under {self.root} "
                f"(present: {present})"
            )
        return kept

    def build_dataset(self, stage: str) -> Dataset[Any]:
        """Training windows, or full frames for ``val``, ``test`` and ``predict``."""
        if stage == "train":
            frames = self._frames(
                "train", self._train_sets(), self.train_setting, None, self.train_stride
            )
            return CaltechWindows(
                frames,
                window_size=self.window_size,
                transforms=self.streaming_transforms(stage),
                context=self.context,
                jitter=self.jitter,
                negatives_per_frame=self.negatives_per_frame,
                negative_overlap=self.negative_overlap,
                negative_height=self.negative_height,
                frame_cache_size=self.frame_cache_size,
            )
        if stage == "val" and self.val_sets:
            return self._frames("train", self.val_sets, self.eval_setting, frame_transforms())
        return self._frames("test", None, self.eval_setting, frame_transforms())

    def streaming_transforms(self, stage: str) -> Callable[[Any], Any]:
        """The windows' transforms: a stream holds one draw of the training windows.

        Written by ``deepvision-optimize --data CaltechDataModule``; hard-negative mining
        needs the frames (:attr:`train_windows`), so it reads the files.
        """
        return detection_transforms(self.window_size, train=self.augment)

    def predict_files_transform(self) -> Callable[[Any], Any]:
        """The full-frame evaluation preprocessing, for the frames of ``predict_root``."""
        return frame_transforms()

    def train_sampler(self, dataset: Dataset[Any]) -> Sampler[int] | None:
        """Windows of one frame together, frames in random order (fewer decodes per batch)."""
        return FrameGroupedSampler(dataset) if isinstance(dataset, CaltechWindows) else None

    def collate_fn(self, stage: str) -> Callable[[list[Any]], Any] | None:
        """Torch's default for windows; :func:`collate_frames` for full frames."""
        return None if stage == "train" else collate_frames

    # -- hard negatives ------------------------------------------------------------------------
    @property
    def train_windows(self) -> CaltechWindows:
        """The training windows (built on first use)."""
        if self.streaming_root is not None:
            raise ValueError(
                "hard-negative mining cuts windows from the training frames: it reads the "
                f"files under {str(self.root)!r}, not the stream {self.streaming_root!r} (leave "
                "streaming_root unset to mine)"
            )
        dataset = self.dataset("train")
        assert isinstance(dataset, CaltechWindows)
        return dataset

    def mining_dataloader(self) -> DataLoader[Any]:
        """The full training frames, in order, for mining hard negatives.

        Batches are those of the evaluation loaders (:func:`frame_transforms`,
        :func:`collate_frames`); a batch's ``index`` entries are the frame keys
        :meth:`add_hard_negatives` expects.
        """
        # The same frames (and frame indices), preprocessed as the evaluation frames.
        mining = copy.copy(self.train_windows.frames)
        mining.transforms = frame_transforms()
        return self.make_loader(mining, batch_size=self.eval_batch_size, collate_fn=collate_frames)

    def add_hard_negatives(
        self,
        detections: Mapping[int, Tensor] | Sequence[Tensor],
        max_per_frame: int = 10,
        score_threshold: float = -math.inf,
    ) -> int:
        """Add a model's false detections on the training frames as negative windows.

        See :meth:`CaltechWindows.add_hard_negatives
        <lightning_deepvision.datasets.caltech.CaltechWindows.add_hard_negatives>` for the
        rule. Loaders created afterwards include them.

        Args:
            detections: ``[k, 5]`` ``x, y, w, h, score`` per training frame (keys: the
                ``index`` of :meth:`mining_dataloader` batches).
            max_per_frame: Largest number added per frame.
            score_threshold: Lowest score considered.

        Returns:
            The number of windows added.
        """
        return self.train_windows.add_hard_negatives(
            detections, max_per_frame=max_per_frame, score_threshold=score_threshold
        )
