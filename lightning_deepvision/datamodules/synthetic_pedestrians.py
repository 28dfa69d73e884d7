"""The detection recipes' default data: rendered street frames, no download needed."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal, cast

from torch.utils.data import Dataset, Sampler

from lightning_deepvision.datamodules.base import BaseDataModule
from lightning_deepvision.datamodules.caltech import collate_frames, frame_transforms
from lightning_deepvision.datasets.caltech import (
    CaltechPedestrian,
    CaltechWindows,
    FrameGroupedSampler,
)
from lightning_deepvision.datasets.synthetic.pedestrians import SyntheticPedestrians
from lightning_deepvision.transforms import detection_transforms

__all__ = ["SyntheticPedestriansDataModule"]


class SyntheticPedestriansDataModule(BaseDataModule):
    """Windows of rendered street frames to train, whole frames to validate and test.

    The same pipeline as :class:`~lightning_deepvision.datamodules.caltech.CaltechDataModule`
    (the windows of :class:`~lightning_deepvision.datasets.caltech.CaltechWindows` grouped by
    frame for training, whole frames after ``frame_transforms`` batched by ``collate_frames``
    for evaluation), so a recipe switches between the two data modules without touching the
    task. The three splits draw different scenes: validation and test frames are never seen in
    training.

    Args:
        train_frames: Training frames (windows are cut from them anew each epoch).
        val_frames: Validation frames.
        test_frames: Test (and prediction) frames.
        frame_size: ``(height, width)`` of the frames.
        pedestrians: ``(low, high)`` single figures per frame.
        height_range: Figure heights in pixels.
        occlusion_probability: Chance that a figure is partly hidden.
        seed: Generator seed of the scenes.
        window_size: ``(height, width)`` of the training windows (UDN: 84x28).
        context: Margin around a box in a window, as a fraction of its height on each side.
        jitter: Shift and scale jitter of positive windows.
        negatives_per_frame: Random background windows per training frame and epoch.
        negative_overlap: Largest fraction of a negative window's box inside any annotated box.
        negative_height: Pixel heights of random negative boxes.
        train_setting: Evaluation setting deciding which boxes are positives.
        eval_setting: Setting of the evaluation frames' ``ignore`` flags.
        augment: Training augmentation (flip, colour and scale jitter).
        frame_cache_size: Rendered frames each loader process keeps for the windows.
        **kwargs: Loader options of :class:`~lightning_deepvision.datamodules.BaseDataModule`.
    """

    def __init__(
        self,
        train_frames: int = 300,
        val_frames: int = 10,
        test_frames: int = 40,
        frame_size: tuple[int, int] = (240, 320),
        pedestrians: tuple[int, int] = (1, 4),
        height_range: tuple[float, float] = (30.0, 150.0),
        occlusion_probability: float = 0.3,
        seed: int = 0,
        window_size: tuple[int, int] = (84, 28),
        context: float = 0.1,
        jitter: float = 0.05,
        negatives_per_frame: int = 6,
        negative_overlap: float = 0.25,
        negative_height: tuple[float, float] = (40.0, 200.0),
        train_setting: str = "reasonable",
        eval_setting: str = "reasonable",
        augment: bool = True,
        frame_cache_size: int = 8,
        batch_size: int = 64,
        eval_batch_size: int = 4,
        **kwargs: Any,
    ) -> None:
        super().__init__(batch_size=batch_size, eval_batch_size=eval_batch_size, **kwargs)
        self.frames = {"train": train_frames, "val": val_frames, "test": test_frames}
        self.scene_options: dict[str, Any] = {
            "frame_size": (int(frame_size[0]), int(frame_size[1])),
            "pedestrians": (int(pedestrians[0]), int(pedestrians[1])),
            "height_range": (float(height_range[0]), float(height_range[1])),
            "occlusion_probability": occlusion_probability,
            "seed": seed,
        }
        self.window_size = (int(window_size[0]), int(window_size[1]))
        self.context = context
        self.jitter = jitter
        self.negatives_per_frame = negatives_per_frame
        self.negative_overlap = negative_overlap
        self.negative_height = (float(negative_height[0]), float(negative_height[1]))
        self.train_setting = train_setting
        self.eval_setting = eval_setting
        self.augment = augment
        self.frame_cache_size = frame_cache_size

    def build_dataset(self, stage: str) -> Dataset[Any]:
        """Training windows, or full frames for ``val``, ``test`` and ``predict``."""
        if stage == "train":
            frames = SyntheticPedestrians(
                "train",
                self.frames["train"],
                setting=self.train_setting,
                **self.scene_options,
            )
            # CaltechWindows reads frames through frame_boxes/read_image, which the
            # synthetic frames provide with the same meaning as CaltechPedestrian's.
            return CaltechWindows(
                cast(CaltechPedestrian, frames),
                window_size=self.window_size,
                transforms=detection_transforms(self.window_size, train=self.augment),
                context=self.context,
                jitter=self.jitter,
                negatives_per_frame=self.negatives_per_frame,
                negative_overlap=self.negative_overlap,
                negative_height=self.negative_height,
                frame_cache_size=self.frame_cache_size,
            )
        split: Literal["val", "test"] = "val" if stage == "val" else "test"
        return SyntheticPedestrians(
            split,
            self.frames[split],
            setting=self.eval_setting,
            transforms=frame_transforms(),
            **self.scene_options,
        )

    def train_sampler(self, dataset: Dataset[Any]) -> Sampler[int] | None:
        """Windows of one frame together, frames in random order (fewer renders per batch)."""
        return FrameGroupedSampler(dataset) if isinstance(dataset, CaltechWindows) else None

    def collate_fn(self, stage: str) -> Callable[[list[Any]], Any] | None:
        """Torch's default for windows; ``collate_frames`` for full frames."""
        return None if stage == "train" else collate_frames

    def predict_files_transform(self) -> Callable[[Any], Any]:
        """The full-frame evaluation preprocessing, for the frames of ``predict_root``."""
        return frame_transforms()
