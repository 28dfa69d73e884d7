"""Procedural street scenes with pedestrians: the detection recipes' built-in data.

Each frame is a street: sky, ground and buildings under a smooth random illumination field,
background clutter (poles, trees, bushes, boxes, signs: upright shapes a detector must learn to
reject), and upright figures (head, hair, torso, two arms and two legs in a walking pose) of
varied sizes, proportions and colours. Some figures stand behind a scene object (a car, a wall
or a bush) that hides the lower part of their body, so that their visible box differs from the
full box; some walk in groups annotated as one ``people`` box (an ignore region, as in
Caltech). Small figures keep the label ``person`` and are ignored by the evaluation setting's
height rule, as the real ones are.

A frame's scene is drawn from its own generator (seed, split, index), so frames render lazily
and in any order, and its boxes come from the scene's parameters without rendering.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset
from torchvision import tv_tensors
from torchvision.ops import box_convert

from lightning_deepvision.datasets.caltech.dataset import CALTECH_LABELS, caltech_ignore
from lightning_deepvision.datasets.caltech.vbb import CaltechObject
from lightning_deepvision.datasets.synthetic._checks import (
    check_index,
    check_item,
    check_positive,
    check_size,
    check_split,
    check_transforms,
)
from lightning_deepvision.datasets.synthetic.drawing import (
    Shapes,
    apply_camera,
    composite,
    coverage,
    field_canvas,
    frame_coordinates,
)
from lightning_deepvision.metrics.miss_rate import CALTECH_BOUNDS

__all__ = ["PEDESTRIAN_SPLITS", "SPLIT_SET_IDS", "Scene", "SyntheticPedestrians", "render_scene"]

PEDESTRIAN_SPLITS: tuple[str, ...] = ("train", "val", "test")
#: The Caltech set number each split's samples carry (a training set, a held-out training set
#: and a test set), so that results can be written in the toolbox's format.
SPLIT_SET_IDS: dict[str, int] = {"train": 0, "val": 5, "test": 6}
#: Frames are numbered as every 30th frame of one video (29, 59, ...), as Caltech's evaluation.
FRAME_STRIDE = 30

Split = Literal["train", "val", "test"]
RGBArray = np.ndarray


@dataclass
class _Figure:
    box: list[float]  # x, y, w, h of the whole figure
    visible: list[float]  # zeros when not occluded
    label: str
    parts: list[tuple[float, ...]] = field(default_factory=list)  # drawing commands


@dataclass
class Scene:
    """One frame's parameters: what is drawn where, and the annotated objects.

    Attributes:
        objects: The annotations (``id``, ``label``, ``box``, ``visible``, ``occluded``), as
            :func:`~lightning_deepvision.datasets.caltech.read_vbb` gives them for one frame.
    """

    height: int
    width: int
    seed: tuple[int, ...]
    horizon: float
    figures: list[_Figure]
    occluders: list[tuple[float, ...]]
    objects: list[CaltechObject]


def _figure(rng: np.random.Generator, foot_x: float, foot_y: float, h: float) -> _Figure:
    """A walking figure ``h`` pixels high standing at ``(foot_x, foot_y)``."""
    stride = rng.uniform(0.0, 0.42)  # leg angle of the walking pose
    side = 1.0 if rng.random() < 0.5 else -1.0
    build = rng.uniform(0.85, 1.2)  # shoulder width factor
    skin = rng.uniform([170, 120, 90], [240, 200, 170])
    hair = rng.uniform(10, 90, 3)
    shirt = rng.uniform(20, 240, 3)
    trousers = rng.uniform(15, 160, 3)
    top = foot_y - h
    head_r = 0.065 * h
    shoulder = 0.13 * h * build
    hip_y, leg_len = top + 0.5 * h, 0.5 * h
    leg_w = 0.055 * h
    arm_len, arm_w = 0.36 * h, 0.04 * h
    arm_angle = -0.7 * stride * side
    reach = max(
        shoulder + 0.3 * leg_w,
        0.7 * shoulder + arm_len * abs(math.sin(arm_angle)) + arm_w,
        0.05 * h + leg_len * math.sin(stride) + leg_w,
    )
    parts: list[tuple[float, ...]] = [
        # ("limb", x, y, length, half width, angle, r, g, b) back limbs first
        (0, foot_x - 0.04 * h, hip_y, leg_len, leg_w, -stride * side, *(0.8 * trousers)),
        (0, foot_x - 0.7 * shoulder, top + 0.17 * h, arm_len, arm_w, arm_angle, *(0.8 * shirt)),
        # ("ellipse", cx, cy, a, b, boxu, r, g, b): torso, neck, head, hair
        (1, foot_x, top + 0.33 * h, shoulder, 0.2 * h, shoulder, *shirt),
        (1, foot_x, top + 0.13 * h, 0.03 * h, 0.03 * h, 1e3, *skin),
        (1, foot_x, top + head_r, 0.8 * head_r, head_r, 1e3, *skin),
        (1, foot_x, top + 0.55 * head_r, 0.85 * head_r, 0.6 * head_r, 1e3, *hair),
        (0, foot_x + 0.04 * h, hip_y, leg_len, leg_w, stride * side, *trousers),
        (0, foot_x + 0.7 * shoulder, top + 0.17 * h, arm_len, arm_w, -arm_angle, *shirt),
    ]
    box = [foot_x - reach, top, 2 * reach, h]
    return _Figure(box=box, visible=[0.0, 0.0, 0.0, 0.0], label="person", parts=parts)


def _rect(shapes: Shapes, cx: float, cy: float, half_w: float, half_h: float, rgb: Any) -> None:
    # An ellipse twice the box's size, cut to the box: a rectangle with soft edges.
    shapes.add(cx, cy, 2 * half_w, 2 * half_h, 0, rgb, boxu=half_w, vlo=-half_h, vhi=half_h)


_Clutter = list[tuple[Shapes, tuple[float, float, float, float]]]


def _clutter(rng: np.random.Generator, height: int, width: int, horizon: float) -> _Clutter:
    """Buildings, poles, trees, bushes, boxes and signs behind the figures, each with its box."""
    items: _Clutter = []
    for _ in range(rng.integers(2, 6)):  # buildings standing on the horizon
        shapes = Shapes()
        w, h = rng.uniform(0.1, 0.35) * width, rng.uniform(0.1, 0.4) * height
        x = rng.uniform(0, width)
        colour = rng.uniform(60, 200, 3)
        _rect(shapes, x, horizon - h / 2, w / 2, h / 2, colour)
        for row in range(int(rng.integers(1, 4))):  # a row of windows
            y = horizon - h + (row + 0.5) * h / 3.5
            _rect(shapes, x, y, 0.4 * w, 0.05 * h, tuple(colour * rng.uniform(0.4, 0.7)))
        items.append((shapes, (x - w / 2, horizon - h, x + w / 2, horizon)))
    for _ in range(rng.integers(3, 9)):
        shapes = Shapes()
        kind = rng.integers(0, 5)
        x = rng.uniform(0, width)
        base = rng.uniform(horizon, height)
        size = rng.uniform(0.15, 0.6) * height
        colour = rng.uniform(20, 230, 3)
        half = 0.3 * size
        if kind == 0:  # a pole: as high as a person, much thinner
            _rect(shapes, x, base - size / 2, rng.uniform(0.01, 0.03) * size, size / 2, colour)
        elif kind == 1:  # a tree: trunk and crown
            _rect(shapes, x, base - size / 4, 0.04 * size, size / 4, (90, 60, 30))
            shapes.add(x, base - 0.65 * size, 0.25 * size, 0.3 * size, 0, (40, 120, 40))
        elif kind == 2:  # a bush
            shapes.add(x, base - 0.1 * size, 0.3 * size, 0.12 * size, 0, (50, 110, 50))
        elif kind == 3:  # a box, a bin, a door
            w, h = rng.uniform(0.1, 0.4) * size, rng.uniform(0.2, 0.6) * size
            _rect(shapes, x, base - h / 2, w / 2, h / 2, colour)
        else:  # a sign on a post
            _rect(shapes, x, base - size / 3, 0.015 * size, size / 3, (120, 120, 120))
            shapes.add(x, base - 0.7 * size, 0.1 * size, 0.1 * size, 0, tuple(colour))
        items.append((shapes, (x - half, base - size, x + half, base)))
    return items


def _occluder(
    rng: np.random.Generator, figure: _Figure
) -> tuple[tuple[float, ...], list[float]] | None:
    """A car, wall or bush hiding the lower part of ``figure``; ``None`` when none fits."""
    x, y, w, h = figure.box
    hidden = rng.uniform(0.2, 0.65)
    kind = float(rng.integers(0, 3))
    colour = rng.uniform(20, 230, 3)
    top = y + (1 - hidden) * h
    left, right = x - rng.uniform(0.3, 2.0) * w, x + w + rng.uniform(0.3, 2.0) * w
    visible = [x, y, w, (1 - hidden) * h]
    return (kind, left, top, right, y + h + 0.05 * h, *colour), visible


def render_scene(
    seed: Sequence[int],
    frame_size: tuple[int, int],
    pedestrians: tuple[int, int] = (1, 4),
    height_range: tuple[float, float] = (30.0, 150.0),
    occlusion_probability: float = 0.3,
    group_probability: float = 0.15,
) -> Scene:
    """Draw one frame's parameters (nothing is rendered; see :func:`draw_scene`).

    Args:
        seed: Seed sequence of the frame's generator.
        frame_size: ``(height, width)``.
        pedestrians: ``(low, high)`` number of single figures (inclusive).
        height_range: Figure heights in pixels, drawn log-uniformly.
        occlusion_probability: Chance that a figure stands behind a scene object.
        group_probability: Chance that the frame holds a group (a ``people`` box).
    """
    height, width = frame_size
    rng = np.random.default_rng(list(seed))
    horizon = rng.uniform(0.3, 0.5) * height
    low, high = math.log(height_range[0]), math.log(min(height_range[1], 0.95 * height))
    figures: list[_Figure] = []
    occluders: list[tuple[float, ...]] = []
    for _ in range(int(rng.integers(pedestrians[0], pedestrians[1] + 1))):
        h = math.exp(rng.uniform(low, max(low, high)))
        foot_y = min(height - 2.0, max(h + 2.0, horizon + rng.uniform(0.2, 0.9) * h))
        foot_x = rng.uniform(0.25 * h, width - 0.25 * h)
        figure = _figure(rng, foot_x, foot_y, h)
        if rng.random() < occlusion_probability:
            found = _occluder(rng, figure)
            if found is not None:
                occluders.append(found[0])
                figure.visible = found[1]
        figures.append(figure)
    if rng.random() < group_probability:
        h = math.exp(rng.uniform(low, max(low, high)))
        foot_y = min(height - 2.0, max(h + 2.0, horizon + rng.uniform(0.2, 0.9) * h))
        start = rng.uniform(0, max(1.0, width - 1.2 * h))
        members = [_figure(rng, start + 0.3 * h * (k + 1), foot_y, h) for k in range(3)]
        x0 = min(m.box[0] for m in members)
        x1 = max(m.box[0] + m.box[2] for m in members)
        group = _Figure(box=[x0, foot_y - h, x1 - x0, h], visible=[0.0] * 4, label="people")
        group.parts = [p for m in members for p in m.parts]
        figures.append(group)
    # Far (small) figures are drawn first, so that nearer ones stand in front of them.
    order = sorted(range(len(figures)), key=lambda i: figures[i].box[3])
    figures = [figures[i] for i in order]
    objects: list[CaltechObject] = [
        {
            "id": i + 1,
            "label": f.label,
            "box": [float(v) for v in f.box],
            "visible": [float(v) for v in f.visible],
            "occluded": bool(any(f.visible)),
        }
        for i, f in enumerate(figures)
    ]
    return Scene(height, width, tuple(seed), horizon, figures, occluders, objects)


def draw_scene(scene: Scene) -> Tensor:
    """Render a :class:`Scene`: ``uint8`` ``[3, H, W]``."""
    height, width = scene.height, scene.width
    rng = np.random.default_rng([*scene.seed, 1])
    rows = np.arange(height, dtype=np.float32)[:, None] + 0.5
    sky = rng.uniform(120, 230, 3).astype(np.float32)
    ground = rng.uniform(50, 150, 3).astype(np.float32)
    ramp = np.clip((rows - scene.horizon) / 2.0, 0.0, 1.0)[None]
    image = sky[:, None, None] * (1 - ramp) + ground[:, None, None] * ramp
    light = field_canvas(rng.uniform(0.75, 1.25, (3, 3, 4)).astype(np.float32), height, width)
    image = (image * light).astype(np.float32)
    y_grid, x_grid = np.mgrid[0:height, 0:width].astype(np.float32) + 0.5
    mask = np.zeros((height, width), dtype=np.int64)
    for shapes, (x0, y0, x1, y1) in _clutter(rng, height, width, scene.horizon):
        _draw_table(shapes.table(), (x0, y0, x1 - x0, y1 - y0), image, x_grid, y_grid, mask)
    occluders = iter(scene.occluders)
    for figure in scene.figures:
        _draw_figure(figure, image, x_grid, y_grid, mask)
        if any(figure.visible):
            _draw_occluder(next(occluders), image, x_grid, y_grid, mask)
    camera = np.random.default_rng([*scene.seed, 2])
    return torch.from_numpy(
        apply_camera(
            image,
            gain=float(camera.uniform(0.8, 1.15)),
            tint=tuple(camera.uniform(0.9, 1.1, 3)),
            contrast=float(camera.uniform(0.8, 1.1)),
            noise_std=float(camera.uniform(1.0, 5.0)),
            rng=camera,
        )
    )


def _window(
    box: Sequence[float], height: int, width: int, margin: float
) -> tuple[slice, slice] | None:
    x, y, w, h = box
    r0, r1 = max(int(y - margin), 0), min(math.ceil(y + h + margin), height)
    c0, c1 = max(int(x - margin), 0), min(math.ceil(x + w + margin), width)
    if r1 <= r0 or c1 <= c0:
        return None
    return slice(r0, r1), slice(c0, c1)


def _draw_figure(
    figure: _Figure, image: np.ndarray, xs: np.ndarray, ys: np.ndarray, mask: np.ndarray
) -> None:
    where = _window(figure.box, mask.shape[0], mask.shape[1], 0.1 * figure.box[3] + 2)
    if where is None:
        return
    x, y = xs[where], ys[where]
    alphas, colours = [], []
    for kind, px, py, a, b, c, *rgb in figure.parts:
        if kind == 0:  # a limb of length a and half width b, turned by c about its top
            u, v = frame_coordinates(x, y, rotation=c, scale=1.0, shift=(px, py))
            table = Shapes()
            # Cut flat at its length, so that a foot ends on the box bottom.
            table.add(0.0, a / 2, 1.15 * b, a / 2 + b, 0, rgb, boxu=b, vhi=a / 2)
            alphas.append(coverage(table.table(), u, v, 1.0, None)[0])
        else:  # an ellipse of half axes a, b (cut to |u| <= c)
            table = Shapes()
            table.add(px, py, a, b, 0, rgb, boxu=c)
            alphas.append(coverage(table.table(), x, y, 1.0, None)[0])
        colours.append(rgb)
    composite(
        np.stack(alphas),
        np.asarray(colours, dtype=np.float32),
        np.zeros(len(alphas), dtype=np.int64),
        image[(slice(None), *where)],
        mask[where],
    )


def _draw_occluder(
    occluder: tuple[float, ...],
    image: np.ndarray,
    xs: np.ndarray,
    ys: np.ndarray,
    mask: np.ndarray,
) -> None:
    kind, left, top, right, bottom, *rgb = occluder
    box = (left, top, right - left, bottom - top)
    cx, cy, a, b = (left + right) / 2, (top + bottom) / 2, (right - left) / 2, (bottom - top) / 2
    table = Shapes()
    if kind == 0:  # a car: body and a darker window band
        table.add(cx, cy, 1.05 * a, 1.3 * b, 0, rgb, boxu=a, vlo=-b, vhi=b)
        _rect(table, cx, cy - 0.5 * b, 0.7 * a, 0.25 * b, (40, 50, 60))
    elif kind == 1:  # a wall
        _rect(table, cx, cy, a, b, rgb)
    else:  # a bush, taller than the part it hides
        table.add(cx, cy + 0.1 * b, a, 1.15 * b, 0, (45, 105 + rgb[1] / 4, 45))
    _draw_table(table.table(), box, image, xs, ys, mask)


def _draw_table(
    rows: np.ndarray,
    box: Sequence[float],
    image: np.ndarray,
    xs: np.ndarray,
    ys: np.ndarray,
    mask: np.ndarray,
) -> None:
    # Shapes are drawn only inside their box (and a margin): far cheaper than the whole frame.
    where = _window(box, mask.shape[0], mask.shape[1], 2)
    if where is None or not len(rows):
        return
    alpha = coverage(rows, xs[where], ys[where], 1.0, None)
    labels = np.zeros(len(rows), dtype=np.int64)
    composite(alpha, rows[:, 13:16], labels, image[(slice(None), *where)], mask[where])


class SyntheticPedestrians(Dataset[dict[str, Any]]):
    """Rendered street frames with pedestrians, in the sample format of Caltech Pedestrian.

    Samples have the keys of :class:`~lightning_deepvision.datasets.caltech.CaltechPedestrian`
    (``image`` uint8 ``[3, H, W]``; ``boxes`` and ``visible_boxes`` ``BoundingBoxes`` XYXY, the
    visible box the full one when not occluded; ``labels`` codes into :attr:`label_names`;
    ``ignore`` by the evaluation ``setting``; ``occluded``; ``set``, ``video``, ``frame``,
    ``index``), so every detection pipeline, metric and the window sampler
    (:class:`~lightning_deepvision.datasets.caltech.CaltechWindows`, through
    :meth:`frame_boxes` and :meth:`read_image`) serve both. The splits draw different scenes;
    ``set`` is :data:`SPLIT_SET_IDS` of the split and ``frame`` ``30 · index + 29``.
    :func:`lightning_deepvision.testing.write_synthetic_caltech` writes the same frames as
    ``.seq``/``.vbb`` files.

    Args:
        split: ``"train"``, ``"val"`` or ``"test"``.
        num_frames: Frames in the split.
        frame_size: ``(height, width)``.
        pedestrians: ``(low, high)`` single figures per frame.
        height_range: Figure heights (pixels), log-uniform.
        occlusion_probability: Chance that a figure is partly hidden by a scene object.
        group_probability: Chance that a frame holds a group (a ``people`` ignore region).
        setting: Evaluation setting of ``ignore`` (as ``CaltechPedestrian``).
        bounds: Evaluation bounds of ``ignore``.
        seed: Generator seed.
        transforms: Applied to the whole sample dict.
    """

    label_names: tuple[str, ...] = CALTECH_LABELS

    def __init__(
        self,
        split: Split = "train",
        num_frames: int = 200,
        frame_size: tuple[int, int] = (240, 320),
        pedestrians: tuple[int, int] = (1, 4),
        height_range: tuple[float, float] = (30.0, 150.0),
        occlusion_probability: float = 0.3,
        group_probability: float = 0.15,
        setting: str | None = "reasonable",
        bounds: Sequence[float] = CALTECH_BOUNDS,
        seed: int = 0,
        transforms: Callable[[dict[str, Any]], Any] | None = None,
    ) -> None:
        self.split = check_split(split, PEDESTRIAN_SPLITS)
        self.num_frames = check_positive("num_frames", num_frames)
        self.frame_size = check_size(frame_size, minimum=32)
        if not 0 <= pedestrians[0] <= pedestrians[1]:
            raise ValueError(f"pedestrians must be 0 <= low <= high, got {pedestrians}")
        if not 8 <= height_range[0] <= height_range[1]:
            raise ValueError(f"height_range must be 8 <= low <= high, got {height_range}")
        for name, p in (("occlusion", occlusion_probability), ("group", group_probability)):
            if not 0.0 <= p <= 1.0:
                raise ValueError(f"{name}_probability must be in [0, 1], got {p}")
        self.pedestrians = (int(pedestrians[0]), int(pedestrians[1]))
        self.height_range = (float(height_range[0]), float(height_range[1]))
        self.occlusion_probability = float(occlusion_probability)
        self.group_probability = float(group_probability)
        self.setting = setting
        self.bounds = tuple(float(b) for b in bounds)
        self.seed = check_index("seed", seed)
        check_transforms(transforms)
        self.transforms = transforms
        self._annotations: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = {}

    def __len__(self) -> int:
        return self.num_frames

    def scene(self, index: int) -> Scene:
        """The parameters and annotations of frame ``index`` (nothing rendered)."""
        index = check_item(index, len(self))
        return render_scene(
            (self.seed, PEDESTRIAN_SPLITS.index(self.split), index),
            self.frame_size,
            self.pedestrians,
            self.height_range,
            self.occlusion_probability,
            self.group_probability,
        )

    def _arrays(self, index: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        if index not in self._annotations:
            objects = self.scene(index).objects
            boxes = np.asarray([o["box"] for o in objects], dtype=np.float64).reshape(-1, 4)
            visible = np.asarray([o["visible"] for o in objects], dtype=np.float64).reshape(-1, 4)
            labels = [o["label"] for o in objects]
            ignore = caltech_ignore(
                torch.from_numpy(boxes),
                torch.from_numpy(visible),
                labels,
                self.setting,
                self.bounds,
            ).numpy()
            codes = np.asarray([self.label_names.index(label) for label in labels], dtype=np.int64)
            self._annotations[index] = (boxes, visible, codes, ignore)
        return self._annotations[index]

    def frame_boxes(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        """Boxes ``x, y, w, h`` ``float64`` ``[n, 4]`` and ``ignore`` flags (no rendering)."""
        boxes, _, _, ignore = self._arrays(check_item(index, len(self)))
        return boxes, ignore

    def read_image(self, index: int) -> tv_tensors.Image:
        """The rendered frame ``index``, ``uint8`` ``[3, H, W]``, no transforms."""
        return tv_tensors.Image(draw_scene(self.scene(index)))

    def annotation(self, index: int) -> dict[str, Any]:
        """Every key of sample ``index`` except ``image`` (nothing rendered)."""
        index = check_item(index, len(self))
        boxes, visible, codes, ignore = self._arrays(index)
        occluded = torch.from_numpy(~(visible == 0).all(axis=1))
        full = torch.from_numpy(boxes)
        seen = torch.where(occluded[:, None], torch.from_numpy(visible), full)
        size = self.frame_size
        return {
            "boxes": _xyxy(full, size),
            "visible_boxes": _xyxy(seen, size),
            "labels": torch.from_numpy(codes.copy()),
            "ignore": torch.from_numpy(ignore.copy()),
            "occluded": occluded,
            "set": torch.tensor(SPLIT_SET_IDS[self.split], dtype=torch.int64),
            "video": torch.tensor(0, dtype=torch.int64),
            "frame": torch.tensor(FRAME_STRIDE * index + FRAME_STRIDE - 1, dtype=torch.int64),
            "index": torch.tensor(index, dtype=torch.int64),
        }

    def __getitem__(self, index: int) -> dict[str, Any]:
        sample: dict[str, Any] = {"image": self.read_image(index), **self.annotation(index)}
        if self.transforms is not None:
            sample = self.transforms(sample)
        return sample

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(split={self.split!r}, num_frames={self.num_frames}, "
            f"frame_size={self.frame_size}, seed={self.seed})"
        )


def _xyxy(xywh: Tensor, canvas_size: tuple[int, int]) -> tv_tensors.BoundingBoxes:
    boxes = box_convert(xywh.to(torch.float32).reshape(-1, 4), in_fmt="xywh", out_fmt="xyxy")
    return tv_tensors.BoundingBoxes(boxes, format="XYXY", canvas_size=canvas_size)
