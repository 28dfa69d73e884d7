"""Window-classifier training samples cut from Caltech Pedestrian frames.

The joint deep pedestrian model (UDN; Ouyang, Wang, "Joint Deep Learning for Pedestrian
Detection", ICCV 2013) and its predecessors classify fixed-size windows (84x28, height x width)
as pedestrian or background; detection slides the classifier over an image pyramid. Training
therefore needs windows, not frames: :class:`CaltechWindows` cuts

- **positives** around every annotated box that the frames' evaluation setting counts (not
  ``ignore``; with ``"reasonable"``: ``person`` boxes at least 50 pixels high and at least 65 %
  visible), with a random shift and scale each time;
- **random negatives**: pedestrian-shaped boxes drawn anywhere in a frame, at heights drawn
  log-uniformly in ``negative_height``, that overlap no annotated box of any label;
- **hard negatives** (optional, :meth:`CaltechWindows.add_hard_negatives`): a model's false
  detections on the training frames.

Every window is cut the same way from a box ``(x, y, w, h)``: a crop centred on the box, of
height ``h * (1 + 2 * context)`` and of the output's aspect ratio, resized to ``window_size``
(parts outside the frame are zero). A box counts as *free* of an annotated box when their
intersection is below ``negative_overlap`` of the candidate's own area; random and hard
negatives must be free of every annotated box (``person``, ``person?``, ``people`` and
``ignore`` alike, so that windows inside crowds and ambiguous regions are never taught as
background).
"""

from __future__ import annotations

import io
import math
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch import Tensor
from torch.utils.data import Sampler
from torchvision import tv_tensors
from torchvision.transforms.v2 import functional as F

from lightning_deepvision.datasets.bad_samples import OnBadSample, SkipsBadSamples
from lightning_deepvision.datasets.caltech.dataset import CaltechPedestrian

__all__ = ["CaltechWindows", "FrameGroupedSampler", "free_of"]

# Caltech pedestrians are about 0.41 times as wide as they are high (the evaluation's
# standard aspect ratio); random negative boxes take the same shape.
_PEDESTRIAN_ASPECT = 0.41
# Random negative boxes drawn per try in one vectorised batch.
_TRIES = 16
POSITIVE, RANDOM_NEGATIVE, HARD_NEGATIVE = 0, 1, 2


def free_of(candidates: np.ndarray, annotated: np.ndarray, overlap: float) -> np.ndarray:
    """Which candidate boxes overlap no annotated box by ``overlap`` of their own area or more.

    Args:
        candidates: ``[k, 4]`` boxes ``x, y, w, h``.
        annotated: ``[n, 4]`` boxes ``x, y, w, h``.
        overlap: Largest allowed fraction of a candidate's area inside one annotated box.

    Returns:
        ``bool`` ``[k]``.
    """
    if len(annotated) == 0 or len(candidates) == 0:
        return np.ones(len(candidates), dtype=bool)
    c, a = candidates[:, None, :], annotated[None, :, :]
    iw = np.minimum(c[..., 0] + c[..., 2], a[..., 0] + a[..., 2]) - np.maximum(c[..., 0], a[..., 0])
    ih = np.minimum(c[..., 1] + c[..., 3], a[..., 1] + a[..., 3]) - np.maximum(c[..., 1], a[..., 1])
    inter = np.clip(iw, 0, None) * np.clip(ih, 0, None)
    area = np.maximum(candidates[:, 2] * candidates[:, 3], 1e-12)
    return np.asarray((inter / area[:, None] < overlap).all(axis=1), dtype=bool)


class CaltechWindows(SkipsBadSamples):
    """Positive and negative windows of fixed size from Caltech frames, for a window classifier.

    See the module docstring for how windows are chosen and cut. Samples are ``{"image":
    tv_tensors.Image uint8 [3, *window_size], "label": int64 (1 pedestrian, 0 background),
    "frame_index": int64 (the sample of ``frames`` it was cut from), "box": float64 [4] (the box
    ``x, y, w, h`` the window was cut around, in frame pixels)}`` before ``transforms``
    (e.g. :func:`~lightning_deepvision.transforms.detection_transforms` with ``train=True``).
    Positive jitter and random negatives are drawn from torch's global generator at each
    access, so every epoch sees new windows and ``seed_everything`` makes them reproducible.

    The last few decoded frames are kept (``frame_cache_size``), so windows of one frame read
    together (:class:`FrameGroupedSampler`) cost one decode.

    Args:
        frames: The training frames; its ``ignore`` flags decide which boxes are positives.
        window_size: ``(height, width)`` of the windows; UDN's is 84x28.
        transforms: Applied to each sample dict.
        context: Margin around a box, as a fraction of its height on each side.
        jitter: Positive windows move by up to ``jitter`` of their size and scale by up to
            ``1 + jitter`` either way; ``0`` cuts them exactly.
        negatives_per_frame: Random negatives per frame (new positions each access).
        negative_overlap: Largest fraction of a negative box's area allowed inside any
            annotated box.
        negative_height: ``(low, high)`` pixel heights of random negative boxes (clipped to the
            frame).
        frame_cache_size: Decoded frames kept per process.
        on_bad_sample: ``"raise"`` (default) or ``"skip"``: what an unreadable image file does
            (see :mod:`~lightning_deepvision.datasets.bad_samples`).

    Raises:
        ValueError: Invalid sizes or fractions.
    """

    def __init__(
        self,
        frames: CaltechPedestrian,
        window_size: Sequence[int] = (84, 28),
        transforms: Callable[[dict[str, Any]], Any] | None = None,
        context: float = 0.1,
        jitter: float = 0.05,
        negatives_per_frame: int = 4,
        negative_overlap: float = 0.25,
        negative_height: tuple[float, float] = (50.0, 300.0),
        frame_cache_size: int = 8,
        on_bad_sample: OnBadSample = "raise",
    ) -> None:
        if len(window_size) != 2 or min(window_size) < 1:
            raise ValueError(f"window_size must be (height, width) >= 1, got {window_size}")
        if context < 0 or not 0 <= jitter < 1:
            raise ValueError(f"need context >= 0 and 0 <= jitter < 1, got {context}, {jitter}")
        if negatives_per_frame < 0 or not 0 < negative_overlap <= 1:
            raise ValueError(
                "need negatives_per_frame >= 0 and 0 < negative_overlap <= 1, got "
                f"{negatives_per_frame}, {negative_overlap}"
            )
        low, high = negative_height
        if not 1 <= low <= high:
            raise ValueError(f"negative_height must be 1 <= low <= high, got {negative_height}")
        self.frames = frames
        self.window_size = (int(window_size[0]), int(window_size[1]))
        self.transforms = transforms
        self.context = float(context)
        self.jitter = float(jitter)
        self.negatives_per_frame = int(negatives_per_frame)
        self.negative_overlap = float(negative_overlap)
        self.negative_height = (float(low), float(high))
        self.frame_cache_size = int(frame_cache_size)
        positives = []
        self._annotated: list[np.ndarray] = []
        for index in range(len(frames)):
            boxes, ignore = frames.frame_boxes(index)
            self._annotated.append(boxes)
            positives += [(index, b) for b in np.flatnonzero(~ignore)]
        self._positives = np.asarray(positives, dtype=np.int64).reshape(-1, 2)
        self._hard_frames = np.zeros(0, dtype=np.int64)
        self._hard_boxes = np.zeros((0, 4), dtype=np.float64)
        self._cache: OrderedDict[int, Tensor] = OrderedDict()
        self.on_bad_sample = on_bad_sample

    # -- composition ---------------------------------------------------------------------------
    @property
    def num_positives(self) -> int:
        """Positive windows (one per counted box)."""
        return len(self._positives)

    @property
    def num_random_negatives(self) -> int:
        """Random negative windows (``negatives_per_frame`` per frame)."""
        return len(self.frames) * self.negatives_per_frame

    @property
    def num_hard_negatives(self) -> int:
        """Hard negatives added so far."""
        return len(self._hard_frames)

    def __len__(self) -> int:
        return self.num_positives + self.num_random_negatives + self.num_hard_negatives

    def item(self, index: int) -> tuple[int, int]:
        """``(kind, frame)`` of window ``index``: kind 0 positive, 1 random, 2 hard negative."""
        if not 0 <= index < len(self):
            raise IndexError(f"window {index} out of range ({len(self)} windows)")
        if index < self.num_positives:
            return POSITIVE, int(self._positives[index, 0])
        index -= self.num_positives
        if index < self.num_random_negatives:
            return RANDOM_NEGATIVE, index // self.negatives_per_frame
        return HARD_NEGATIVE, int(self._hard_frames[index - self.num_random_negatives])

    def item_frames(self) -> np.ndarray:
        """The frame of every window, in index order (for :class:`FrameGroupedSampler`)."""
        random = np.repeat(np.arange(len(self.frames), dtype=np.int64), self.negatives_per_frame)
        return np.concatenate([self._positives[:, 0], random, self._hard_frames])

    # -- hard negatives ------------------------------------------------------------------------
    def add_hard_negatives(
        self,
        detections: Mapping[int, Tensor] | Sequence[Tensor],
        max_per_frame: int = 10,
        score_threshold: float = -math.inf,
    ) -> int:
        """Add a model's false detections on the training frames as fixed negative windows.

        The mining method: run the current model over the full training frames (``frames``,
        e.g. through ``CaltechDataModule.mining_dataloader``), pass its detections here, train
        on the grown set, and repeat if wanted. For each frame, the detections scoring at least
        ``score_threshold`` whose box is free of every annotated box (less than
        ``negative_overlap`` of the detection's area inside it, the rule of random negatives)
        are false positives; the ``max_per_frame`` highest-scoring ones are kept, cut like
        positives (the box with ``context``), without jitter.

        Args:
            detections: Per frame (an index of ``frames``), a ``[k, 5]`` tensor of ``x, y, w, h,
                score``; a sequence covers frames ``0..len-1``, a mapping only the frames it
                names.
            max_per_frame: Largest number of hard negatives added per frame and call.
            score_threshold: Lowest score considered.

        Returns:
            The number of windows added.

        Raises:
            ValueError: A frame index out of range or a detection tensor not ``[k, 5]``.
        """
        items = detections.items() if isinstance(detections, Mapping) else enumerate(detections)
        new_frames: list[np.ndarray] = []
        new_boxes: list[np.ndarray] = []
        for frame, dets in items:
            if not 0 <= int(frame) < len(self.frames):
                raise ValueError(f"frame {frame} out of range ({len(self.frames)} frames)")
            d = torch.as_tensor(dets).detach().to("cpu", torch.float64)
            if d.ndim != 2 or d.shape[1] != 5:
                raise ValueError(f"detections of frame {frame} must be [k, 5], got {list(d.shape)}")
            d = d[(d[:, 4] >= score_threshold) & (d[:, 2] > 1) & (d[:, 3] > 1)]
            boxes = d[torch.argsort(d[:, 4], descending=True, stable=True)][:, :4].numpy()
            boxes = boxes[free_of(boxes, self._annotated[int(frame)], self.negative_overlap)]
            boxes = boxes[:max_per_frame]
            new_frames.append(np.full(len(boxes), int(frame), dtype=np.int64))
            new_boxes.append(boxes)
        if new_frames:
            self._hard_frames = np.concatenate([self._hard_frames, *new_frames])
            self._hard_boxes = np.concatenate([self._hard_boxes, *new_boxes])
        return sum(len(f) for f in new_frames)

    def clear_hard_negatives(self) -> None:
        """Forget every hard negative added."""
        self._hard_frames = np.zeros(0, dtype=np.int64)
        self._hard_boxes = np.zeros((0, 4), dtype=np.float64)

    # -- windows -------------------------------------------------------------------------------
    def _frame(self, index: int) -> Tensor:
        cached = self._cache.get(index)
        if cached is not None:
            self._cache.move_to_end(index)
            return cached
        image = self.frames.read_image(index).as_subclass(Tensor)
        if self.frame_cache_size > 0:
            self._cache[index] = image
            while len(self._cache) > self.frame_cache_size:
                self._cache.popitem(last=False)
        return image

    def window(self, image: Tensor, box: Sequence[float]) -> Tensor:
        """Cut the window of ``box`` (``x, y, w, h``) from ``image`` (``[3, H, W]``)."""
        x, y, w, h = (float(v) for v in box)
        out_h, out_w = self.window_size
        crop_h = max(h * (1 + 2 * self.context), 1.0)
        crop_w = max(crop_h * out_w / out_h, 1.0)
        top = round(y + h / 2 - crop_h / 2)
        left = round(x + w / 2 - crop_w / 2)
        return F.resized_crop(
            image,
            top,
            left,
            max(round(crop_h), 1),
            max(round(crop_w), 1),
            [out_h, out_w],
            antialias=True,
        )

    def _jittered(self, box: np.ndarray) -> list[float]:
        if self.jitter == 0:
            return [float(v) for v in box]
        x, y, w, h = (float(v) for v in box)
        shift = (torch.rand(2, dtype=torch.float64) * 2 - 1) * self.jitter
        scale = math.exp(
            float(torch.rand((), dtype=torch.float64) * 2 - 1) * math.log1p(self.jitter)
        )
        cx, cy = x + w / 2 + float(shift[0]) * w, y + h / 2 + float(shift[1]) * h
        w, h = w * scale, h * scale
        return [cx - w / 2, cy - h / 2, w, h]

    def _random_negative(self, frame: int, height: int, width: int) -> list[float]:
        low, high = self.negative_height
        high = min(high, float(height))
        low = min(low, high)
        u = torch.rand(_TRIES, 3, dtype=torch.float64)
        h = torch.exp(math.log(low) + u[:, 0] * (math.log(high) - math.log(low)))
        w = h * _PEDESTRIAN_ASPECT
        x = u[:, 1] * (width - w).clamp(min=0)
        y = u[:, 2] * (height - h).clamp(min=0)
        candidates = torch.stack([x, y, w, h], dim=1).numpy()
        free = free_of(candidates, self._annotated[frame], self.negative_overlap)
        # A frame crowded enough to leave no free box gives its first draw (rare).
        chosen = int(np.argmax(free)) if free.any() else 0
        return [float(v) for v in candidates[chosen]]

    def get_sample(self, index: int) -> dict[str, Any]:
        """Sample ``index``, transforms applied (``__getitem__`` applies ``on_bad_sample``)."""
        sample = self.load_sample(index)
        if self.transforms is not None:
            sample = self.transforms(sample)
        return sample

    def raw_sample(self, index: int) -> dict[str, Any]:
        """:meth:`load_sample` with the window PNG-encoded, for streaming formats.

        A window is cut afresh at each access (jitter, random negatives), so a stream holds one
        draw of every window; PNG is lossless, so decoding gives the cut pixels exactly.
        """
        from lightning_deepvision.datasets.encoded_image import EncodedImage

        sample = self.load_sample(index)
        pixels = sample["image"].permute(1, 2, 0).contiguous().numpy()
        buffer = io.BytesIO()
        # Level 1: windows are small and read many times; smaller files gain little.
        Image.fromarray(pixels).save(buffer, format="PNG", compress_level=1)
        sample["image"] = EncodedImage(buffer.getvalue(), f"window_{index}.png", "torchvision")
        return sample

    def load_sample(self, index: int) -> dict[str, Any]:
        """Window ``index`` before transforms (a new draw of jitter and negatives each call)."""
        kind, frame = self.item(index)
        image = self._frame(frame)
        if kind == POSITIVE:
            box = self._jittered(self._annotated[frame][self._positives[index, 1]])
        elif kind == RANDOM_NEGATIVE:
            box = self._random_negative(frame, image.shape[-2], image.shape[-1])
        else:
            box = list(self._hard_boxes[index - self.num_positives - self.num_random_negatives])
        sample: dict[str, Any] = {
            "image": tv_tensors.Image(self.window(image, box)),
            "label": torch.tensor(int(kind == POSITIVE), dtype=torch.int64),
            "frame_index": torch.tensor(frame, dtype=torch.int64),
            "box": torch.tensor(box, dtype=torch.float64),
        }
        return sample

    def __getstate__(self) -> dict[str, Any]:
        # Decoded frames stay in the process that decoded them (loader workers start empty).
        state = self.__dict__.copy()
        state["_cache"] = OrderedDict()
        return state


class FrameGroupedSampler(Sampler[int]):
    """Random order in which the windows of one frame come one after another.

    Frames are shuffled, and the windows of each frame shuffled among themselves, so a batch
    needs a few frame decodes instead of one per window (:class:`CaltechWindows` keeps the last
    decoded frames). The order is drawn from torch's global generator at each epoch, as
    ``RandomSampler`` does. Under a distributed strategy Lightning wraps this sampler and
    splits its order between processes, which keeps it random but loses most of the grouping.

    Args:
        windows: The dataset; its current windows are read at each epoch, so hard negatives
            added between epochs are included.
    """

    def __init__(self, windows: CaltechWindows) -> None:
        self.windows = windows

    def __len__(self) -> int:
        return len(self.windows)

    def __iter__(self) -> Iterator[int]:
        seed = int(torch.empty((), dtype=torch.int64).random_().item())
        generator = torch.Generator().manual_seed(seed)
        frames = torch.from_numpy(self.windows.item_frames())
        # Sort by (random key of the frame, random key of the window): frames in random order,
        # windows of a frame together and in random order.
        frame_key = torch.randperm(len(self.windows.frames), generator=generator)[frames]
        window_key = torch.rand(len(frames), generator=generator, dtype=torch.float64)
        order = np.lexsort((window_key.numpy(), frame_key.numpy()))
        return iter(order.tolist())
