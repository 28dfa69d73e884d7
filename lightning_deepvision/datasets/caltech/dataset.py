"""Caltech Pedestrian frames with their boxes, read from the raw ``.seq`` / ``.vbb`` files.

Dollár, Wojek, Schiele, Perona, "Pedestrian Detection: A Benchmark", CVPR 2009, and "Pedestrian
Detection: An Evaluation of the State of the Art", TPAMI 2012 (the evaluation protocol).

On-disk layout (the official download: ``setXX.tar`` and ``annotations.zip``)::

    ROOT/set00/V000.seq ...                    videos, 640x480 JPEG frames at 30 fps
    ROOT/annotations/set00/V000.vbb ...        one annotation file per video
    ROOT/anno_test_1xnew/set06_V000_I00029.jpg.txt ...      optional: the improved annotations
    ROOT/anno_train_1xnew/... or ROOT/anno_train10x_alignedby_RotatedFilters/...
                                               (Zhang et al., CVPR 2016), also accepted under
                                               ROOT/annotations/

Train is set00-set05, test set06-set10. The evaluated frames are every 30th, 0-based 29, 59, ...
(``f = skip-1:skip:nFrame-1`` in ``dbEval``); the training stride is configurable with the same
convention (3 gives the "10x" training set of later work).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from torch import Tensor
from torchvision import tv_tensors
from torchvision.ops import box_convert

from lightning_deepvision.datasets.bad_samples import OnBadSample, SkipsBadSamples
from lightning_deepvision.datasets.caltech.bbgt import read_bbgt
from lightning_deepvision.datasets.caltech.evaluation import (
    CALTECH_LABELS,
    _evaluation_label,
    caltech_ignore,
    evaluation_ground_truth,
)
from lightning_deepvision.datasets.caltech.layout import (
    CALTECH_URL,
    NEW_ANNOTATION_DIRS,
    SPLIT_SETS,
    TEST_STRIDE,
    Split,
    _how_to_obtain,
    _how_to_obtain_new,
    new_annotation_names,
)
from lightning_deepvision.datasets.caltech.seq import SeqFile, SeqHeader, read_seq_header
from lightning_deepvision.datasets.caltech.vbb import CaltechObject, read_vbb
from lightning_deepvision.datasets.errors import DatasetNotFoundError
from lightning_deepvision.metrics.miss_rate import (
    CALTECH_BOUNDS,
    CALTECH_SETTINGS,
    EvaluationSetting,
)

__all__ = [
    "CALTECH_LABELS",
    "CALTECH_URL",
    "NEW_ANNOTATION_DIRS",
    "SPLIT_SETS",
    "TEST_STRIDE",
    "CaltechPedestrian",
    "caltech_ignore",
    "evaluation_ground_truth",
    "new_annotation_names",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class _Video:
    set_name: str
    name: str
    seq: Path
    annotation: Path | None


@dataclass(frozen=True)
class _Frame:
    video: int
    frame: int
    boxes: np.ndarray  # float64 [n, 4] x, y, w, h
    visible: np.ndarray  # float64 [n, 4] x, y, w, h; zeros when not occluded
    labels: np.ndarray  # int64 [n] codes
    ignore: np.ndarray  # bool [n]


class CaltechPedestrian(SkipsBadSamples):
    """Caltech Pedestrian frames and boxes from the raw videos (Dollár et al., CVPR 2009).

    Each sample is one frame::

        image          tv_tensors.Image uint8 [3, H, W]
        boxes          tv_tensors.BoundingBoxes XYXY [n, 4], full extent
        visible_boxes  tv_tensors.BoundingBoxes XYXY [n, 4], visible part (the full box when
                       the object is not occluded)
        labels         int64 [n], indices into label_names
        ignore         bool [n], by the evaluation setting's rules (see below)
        occluded       bool [n], the object has a visible-part box the evaluation uses
        set, video, frame, index   int64 scalars (frame 0-based, as the toolbox's I%05d)

    ``ignore`` follows ``dbEval``'s ground-truth filter for ``setting`` (default
    ``"reasonable"``: label ``person``, height >= 50, visible fraction >= 0.65, inside
    ``metrics.miss_rate.CALTECH_BOUNDS``; see :func:`caltech_ignore`). Boxes stay as
    annotated: the 0.41 aspect-ratio standardisation belongs to the evaluation.
    :func:`evaluation_ground_truth` turns a sample into the metric's input.

    Annotations are read at construction (nothing is decoded); a video's frame index is built
    the first time one of its frames is read (see :class:`~.seq.SeqFile`; pass ``cache_dir`` to
    keep it across processes).

    Args:
        root: The dataset root (see the module docstring for the layout).
        split: ``"train"`` (set00-set05) or ``"test"`` (set06-set10).
        transforms: Applied to the whole sample dict (torchvision v2 moves ``boxes`` and
            ``visible_boxes`` with the image).
        annotations: ``"original"`` (the ``.vbb`` files) or ``"new"`` (the improved
            annotations of Zhang et al., "How Far are We from Solving Pedestrian Detection?",
            CVPR 2016: bbGt text files per frame; rows flagged ignore become ``ignore``
            regions).
        train_stride: Frame stride of the training split (frames ``s-1, 2s-1, ...``). The test
            split always uses the official every 30th frame.
        setting: Evaluation setting of ``ignore`` (a key of ``metrics.miss_rate.CALTECH_SETTINGS``
            or an ``EvaluationSetting``), or
            ``None`` to ignore by label only.
        labels: Labels kept (others are dropped, as the evaluation drops them); ``labels``
            codes index this tuple.
        sets: A subset of the split's sets (e.g. ``["set05"]`` to hold one out); ``None`` takes
            every set of the split present under ``root``.
        new_annotations_dir: The folder of the improved annotations; ``None`` searches
            :data:`NEW_ANNOTATION_DIRS` under ``root`` and ``root/annotations``.
        cache_dir: Where frame indices are kept between processes (never under ``root``
            unless you choose so); ``None`` keeps them in memory only.
        bounds: Evaluation bounds of ``ignore`` (the toolbox's, for 640x480 frames).
        on_bad_sample: ``"raise"`` (default) or ``"skip"``: what an unreadable image file does
            (see :mod:`~lightning_deepvision.datasets.bad_samples`).

    Attributes:
        label_names: The label of each code.
        videos: ``(set, video)`` names per video, e.g. ``("set06", "V000")``.
        num_boxes: Total boxes over the samples.

    Raises:
        DatasetNotFoundError: ``root``, every set of the split, a video's ``.vbb`` or a frame's
            improved-annotation file is missing (names what was looked for).
        MalformedVbbError: A ``.vbb`` file is not the toolbox's struct (names file and frame).
        MalformedAnnotationError: A bbGt text file is malformed (names file and line).
    """

    def __init__(
        self,
        root: str | os.PathLike[str],
        split: Split = "train",
        transforms: Callable[[dict[str, Any]], Any] | None = None,
        annotations: Literal["original", "new"] = "original",
        train_stride: int = TEST_STRIDE,
        setting: str | EvaluationSetting | None = "reasonable",
        labels: Sequence[str] = CALTECH_LABELS,
        sets: Sequence[str] | None = None,
        new_annotations_dir: str | os.PathLike[str] | None = None,
        cache_dir: str | os.PathLike[str] | None = None,
        bounds: Sequence[float] = CALTECH_BOUNDS,
        on_bad_sample: OnBadSample = "raise",
    ) -> None:
        if split not in SPLIT_SETS:
            raise ValueError(f"split must be one of {list(SPLIT_SETS)}, got {split!r}")
        if annotations not in ("original", "new"):
            raise ValueError(f"annotations must be 'original' or 'new', got {annotations!r}")
        if train_stride < 1:
            raise ValueError(f"train_stride must be >= 1, got {train_stride}")
        if isinstance(setting, str) and setting not in CALTECH_SETTINGS:
            raise ValueError(
                f"setting must be one of {sorted(CALTECH_SETTINGS)}, an EvaluationSetting or "
                f"None, got {setting!r}"
            )
        if len(bounds) != 4:
            raise ValueError(f"bounds must be (x0, y0, x1, y1), got {bounds!r}")
        self.root = Path(root)
        self.split = split
        self.transforms = transforms
        self.annotations = annotations
        self.stride = TEST_STRIDE if split == "test" else int(train_stride)
        self.setting = setting
        self.label_names: tuple[str, ...] = tuple(labels)
        self.cache_dir = None if cache_dir is None else Path(cache_dir)
        self.bounds = tuple(float(b) for b in bounds)
        if not self.root.is_dir():
            raise DatasetNotFoundError("Caltech Pedestrian", self.root, self.root, _how_to_obtain())

        self._seq_files: dict[int, SeqFile] = {}
        self._headers: dict[int, SeqHeader] = {}
        self._videos = self._find_videos(sets)
        new_dir = self._new_annotations_dir(new_annotations_dir) if annotations == "new" else None
        listing = frozenset(os.listdir(new_dir)) if new_dir is not None else frozenset()
        objects: list[tuple[int, int, list[CaltechObject]]] = []
        for index, video in enumerate(self._videos):
            objects.extend(self._video_objects(index, video, new_dir, listing))
        self._frames = self._index_frames(objects)
        self.on_bad_sample = on_bad_sample

    # -- construction --------------------------------------------------------------------------
    def _find_videos(self, sets: Sequence[str] | None) -> list[_Video]:
        allowed = SPLIT_SETS[self.split]
        if sets is not None:
            unknown = [s for s in sets if s not in allowed]
            if unknown:
                raise ValueError(
                    f"sets {unknown} are not in the {self.split} split {list(allowed)}"
                )
        wanted = list(allowed if sets is None else dict.fromkeys(sets))
        videos: list[_Video] = []
        for set_name in wanted:
            set_dir = self.root / set_name
            seqs = sorted(set_dir.glob("V[0-9][0-9][0-9].seq")) if set_dir.is_dir() else []
            if not seqs and sets is not None:
                raise DatasetNotFoundError(
                    "Caltech Pedestrian", self.root, set_dir / "V000.seq", _how_to_obtain()
                )
            for seq in seqs:
                vbb = self.root / "annotations" / set_name / f"{seq.stem}.vbb"
                videos.append(_Video(set_name, seq.stem, seq, vbb if vbb.is_file() else None))
        if not videos:
            raise DatasetNotFoundError(
                "Caltech Pedestrian",
                self.root,
                self.root / allowed[0] / "V000.seq",
                f"none of the {self.split} sets {list(allowed)} has a video. {_how_to_obtain()}",
            )
        present = sorted({v.set_name for v in videos})
        if len(present) < len(wanted):
            log.info(
                "Caltech %s: using the sets present under %s: %s", self.split, self.root, present
            )
        return videos

    def _new_annotations_dir(self, given: str | os.PathLike[str] | None) -> Path:
        if given is not None:
            path = Path(given)
            if not path.is_dir():
                raise DatasetNotFoundError(
                    "Caltech Pedestrian (new annotations)", self.root, path, _how_to_obtain_new()
                )
            return path
        candidates = [
            base / name
            for name in NEW_ANNOTATION_DIRS[self.split]
            for base in (self.root, self.root / "annotations")
        ]
        found = next((c for c in candidates if c.is_dir()), None)
        if found is None:
            raise DatasetNotFoundError(
                "Caltech Pedestrian (new annotations)",
                self.root,
                candidates[0],
                f"also looked for {[str(c) for c in candidates[1:]]}. {_how_to_obtain_new()}",
            )
        return found

    def _num_frames(self, index: int) -> int:
        # The header's count; a file that records none is indexed to count its frames.
        count = self.header(index).num_frames
        return count if count else len(self.seq_file(index))

    def _video_objects(
        self, index: int, video: _Video, new_dir: Path | None, listing: frozenset[str]
    ) -> list[tuple[int, int, list[CaltechObject]]]:
        """``(video, frame, objects)`` for the frames of ``video`` this dataset samples."""
        per_frame: list[list[CaltechObject]] | None = None
        if new_dir is None:
            if video.annotation is None:
                raise DatasetNotFoundError(
                    "Caltech Pedestrian",
                    self.root,
                    self.root / "annotations" / video.set_name / f"{video.name}.vbb",
                    _how_to_obtain(),
                )
            per_frame = read_vbb(video.annotation)
        num_frames = len(per_frame) if per_frame is not None else self._num_frames(index)
        frames = []
        for frame in range(self.stride - 1, num_frames, self.stride):
            if new_dir is not None:
                names = new_annotation_names(video.set_name, video.name, frame)
                name = next((n for n in names if n in listing), None)
                if name is None:
                    raise DatasetNotFoundError(
                        "Caltech Pedestrian (new annotations)",
                        self.root,
                        new_dir / names[0],
                        f"(or {names[1]}) for frame {frame} of {video.set_name}/{video.name}: "
                        "the improved annotations cover every 3rd training frame "
                        "(anno_train10x_alignedby_RotatedFilters) and every 30th test frame. "
                        + _how_to_obtain_new(),
                    )
                frames.append((index, frame, read_bbgt(new_dir / name)))
            else:
                assert per_frame is not None
                frames.append((index, frame, per_frame[frame]))
        return frames

    def _index_frames(self, frames: list[tuple[int, int, list[CaltechObject]]]) -> list[_Frame]:
        """Per-frame arrays of the kept objects, ``ignore`` decided for all boxes at once."""
        code_of = {name: i for i, name in enumerate(self.label_names)}
        kept = [[o for o in objects if _evaluation_label(o) in code_of] for _, _, objects in frames]
        # The rule is per box: one call over every box of the dataset.
        truth = evaluation_ground_truth([o for objects in kept for o in objects])
        ignore = caltech_ignore(
            truth["boxes"], truth["visible"], truth["labels"], self.setting, self.bounds
        ).numpy()
        boxes, visible = truth["boxes"].numpy(), truth["visible"].numpy()
        codes = np.asarray([code_of[label] for label in truth["labels"]], dtype=np.int64)
        entries, start = [], 0
        for (video, frame, _), objects in zip(frames, kept, strict=True):
            end = start + len(objects)
            entries.append(
                _Frame(
                    video=video,
                    frame=frame,
                    boxes=boxes[start:end],
                    visible=visible[start:end],
                    labels=codes[start:end],
                    ignore=ignore[start:end],
                )
            )
            start = end
        return entries

    # -- access --------------------------------------------------------------------------------
    @property
    def videos(self) -> list[tuple[str, str]]:
        """``(set, video)`` per video, e.g. ``("set06", "V000")``."""
        return [(v.set_name, v.name) for v in self._videos]

    @property
    def num_boxes(self) -> int:
        """Total boxes over all samples."""
        return sum(len(f.labels) for f in self._frames)

    def __len__(self) -> int:
        return len(self._frames)

    def seq_file(self, video: int) -> SeqFile:
        """The :class:`~.seq.SeqFile` of video ``video`` (an index of :attr:`videos`)."""
        if video not in self._seq_files:
            self._seq_files[video] = SeqFile(self._videos[video].seq, cache_dir=self.cache_dir)
        return self._seq_files[video]

    def header(self, video: int) -> SeqHeader:
        """The ``.seq`` header of video ``video`` (read once, without indexing the frames)."""
        if video not in self._headers:
            seq = self._seq_files.get(video)
            self._headers[video] = seq.header if seq else read_seq_header(self._videos[video].seq)
        return self._headers[video]

    def frame_boxes(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        """Boxes of sample ``index``, without building tensors.

        Returns:
            ``x, y, w, h`` ``float64`` ``[n, 4]`` and the ``ignore`` flags ``bool`` ``[n]``
            (the dataset's own arrays: do not modify them).
        """
        entry = self._frames[index]
        return entry.boxes, entry.ignore

    def frame_id(self, index: int) -> tuple[str, str, int]:
        """``(set, video, frame)`` of sample ``index``, e.g. ``("set06", "V000", 29)``."""
        entry = self._frames[index]
        video = self._videos[entry.video]
        return video.set_name, video.name, entry.frame

    def path(self, index: int) -> str:
        """Where sample ``index`` lies: ``<.seq file>:<frame>`` (predictions are traced to it)."""
        entry = self._frames[index]
        return f"{self._videos[entry.video].seq}:{entry.frame}"

    def read_image(self, index: int) -> tv_tensors.Image:
        """The decoded frame of sample ``index`` (``uint8`` ``[3, H, W]``), no transforms."""
        entry = self._frames[index]
        return tv_tensors.Image(self.seq_file(entry.video)[entry.frame])

    def annotation(self, index: int, canvas_size: tuple[int, int] | None = None) -> dict[str, Any]:
        """Sample ``index`` without its image (nothing is decoded).

        Args:
            index: The sample.
            canvas_size: ``(H, W)`` of the boxes; ``None`` reads the video's header.

        Returns:
            Every key of a sample except ``image``, before ``transforms``.
        """
        entry = self._frames[index]
        video = self._videos[entry.video]
        if canvas_size is None:
            header = self.header(entry.video)
            canvas_size = (header.height, header.width)
        boxes = torch.from_numpy(entry.boxes)
        visible = torch.from_numpy(entry.visible)
        occluded = ~(visible == 0).all(dim=1)
        visible = torch.where(occluded[:, None], visible, boxes)
        return {
            "boxes": _bounding_boxes(boxes, canvas_size),
            "visible_boxes": _bounding_boxes(visible, canvas_size),
            "labels": torch.from_numpy(entry.labels.copy()),
            "ignore": torch.from_numpy(entry.ignore.copy()),
            "occluded": occluded,
            "set": torch.tensor(int(video.set_name[3:]), dtype=torch.int64),
            "video": torch.tensor(int(video.name[1:]), dtype=torch.int64),
            "frame": torch.tensor(entry.frame, dtype=torch.int64),
            "index": torch.tensor(index, dtype=torch.int64),
        }

    def raw_sample(self, index: int) -> dict[str, Any]:
        """Sample ``index`` before transforms with the frame un-decoded, for streaming formats.

        ``image`` is an :class:`~lightning_deepvision.datasets.encoded_image.EncodedImage` of
        the frame's bytes as the ``.seq`` holds them (JPEG or PNG, never re-encoded).
        """
        from lightning_deepvision.datasets.caltech.seq import JPEG_FORMATS
        from lightning_deepvision.datasets.encoded_image import EncodedImage

        entry = self._frames[index]
        seq = self.seq_file(entry.video)
        extension = "jpg" if seq.image_format in JPEG_FORMATS else "png"
        name = f"{seq.path}:{entry.frame}.{extension}"  # the extension picks the decoder
        encoded = EncodedImage(seq.read_bytes(entry.frame), name, "torchvision")
        return {"image": encoded, **self.annotation(index)}

    def get_sample(self, index: int) -> dict[str, Any]:
        """Sample ``index``, transforms applied (``__getitem__`` applies ``on_bad_sample``)."""
        image = self.read_image(index)
        sample: dict[str, Any] = {"image": image}
        sample.update(self.annotation(index, canvas_size=(image.shape[-2], image.shape[-1])))
        if self.transforms is not None:
            sample = self.transforms(sample)
        return sample

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(root={str(self.root)!r}, split={self.split!r}, "
            f"annotations={self.annotations!r}, {len(self)} frames of {len(self._videos)} videos, "
            f"{self.num_boxes} boxes)"
        )


def _bounding_boxes(xywh: Tensor, canvas_size: tuple[int, int]) -> tv_tensors.BoundingBoxes:
    xyxy = box_convert(xywh.to(torch.float32).reshape(-1, 4), in_fmt="xywh", out_fmt="xyxy")
    return tv_tensors.BoundingBoxes(xyxy, format="XYXY", canvas_size=canvas_size)
