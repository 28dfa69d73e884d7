"""Procedural object classification: sixteen shapes and patterns, :class:`SyntheticObjects`.

The built-in stand-in for an image-classification set such as ImageNet ILSVRC-2012 (Krizhevsky,
Sutskever, Hinton, NIPS 2012), so that the classification recipes run on a fresh machine with
no download. Each image shows one object of a class (:data:`OBJECT_CLASSES`: plain shapes,
multi-part shapes and patterns, in two disjoint groups for transfer experiments) drawn by the
shared primitives of :mod:`~lightning_deepvision.datasets.synthetic.drawing`, under nuisance
that moves the pixels far more than the class does: a random colour field as background, a few
clutter blobs, random colours (the class never decides the colour), in-plane rotation, scale,
position and aspect, exposure, white balance, contrast and sensor noise. A ConvNet learns the
shapes; a linear model on raw pixels sees mostly the nuisance (the recipes' README figures
compare both).

Everything is a pure function of ``(seed, label, instance)``: one generator seeded from them
draws a fixed number of uniforms up front (:class:`~.drawing.Draws`), then the background, the
clutter and the noise.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any, Literal

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset
from torchvision import tv_tensors

from lightning_deepvision.datasets.synthetic._checks import (
    check_index,
    check_item,
    check_positive,
    check_size,
    check_split,
    check_transforms,
)
from lightning_deepvision.datasets.synthetic.drawing import (
    BIG,
    BLUE,
    RED,
    RGB,
    Draws,
    Shapes,
    apply_camera,
    base_grid,
    composite,
    coverage,
    field_canvas,
    frame_coordinates,
    mix_rgb,
)

__all__ = [
    "OBJECT_CLASSES",
    "SHAPES_A",
    "SHAPES_B",
    "SPLITS",
    "SyntheticObjects",
    "global_instance",
    "render_object",
]

SPLITS: tuple[str, ...] = ("train", "val", "test")
Split = Literal["train", "val", "test"]
Transforms = Callable[[dict[str, Any]], Any]

OBJECT_CLASSES: tuple[str, ...] = (
    "disc",
    "bullseye",
    "square",
    "triangle",
    "cross",
    "stripes",
    "checkerboard",
    "dots",
    "flower",
    "arc",
    "bar",
    "ell",
    "tee",
    "house",
    "dumbbell",
    "hash",
)
"""Every class name, in label order (:data:`SHAPES_A` then :data:`SHAPES_B`)."""

SHAPES_A: tuple[str, ...] = OBJECT_CLASSES[:10]
"""The ten classes the classification recipe learns from."""

SHAPES_B: tuple[str, ...] = OBJECT_CLASSES[10:]
"""Six classes the classification recipe never sees: the target of the transfer recipe ("train
on A, freeze, classify B"). They are made of the same strokes and corners as :data:`SHAPES_A`
in new arrangements."""

# Uniforms drawn per image (the pose, colours and camera take fewer; the rest is headroom so
# that a class may use more without shifting any other draw).
_DRAWS = 40
# Clutter blobs behind the object, at most.
_MAX_CLUTTER = 3
# A layer is a shape table drawn in the object frame turned by an extra rotation (radians).
Layer = tuple[np.ndarray, float]


def global_instance(split: str, instance: int) -> int:
    """Global instance id of image ``instance`` of a class within ``split``.

    Instances are interleaved by split (``3 * instance + {"train": 0, "val": 1, "test": 2}``),
    so the splits never share an image and growing one split never changes another.

    Raises:
        ValueError: On an unknown split or a negative instance.
    """
    check_split(split, SPLITS)
    return 3 * check_index("instance", instance) + SPLITS.index(split)


def render_object(
    label: int, instance: int, size: tuple[int, int] = (64, 64), seed: int = 0
) -> Tensor:
    """Render image ``instance`` of class ``label``: a pure function of its arguments.

    Args:
        label: Index into :data:`OBJECT_CLASSES`.
        instance: Global instance id (``>= 0``, see :func:`global_instance`).
        size: ``(height, width)``, each at least 16.
        seed: Generator seed (``>= 0``).

    Returns:
        The image, ``uint8`` ``3xHxW``.

    Raises:
        ValueError: On a label outside :data:`OBJECT_CLASSES`, a negative instance or seed, or
            a bad size.
    """
    label = check_index("label", label)
    if label >= len(OBJECT_CLASSES):
        raise ValueError(f"label must be below {len(OBJECT_CLASSES)}, got {label}")
    instance = check_index("instance", instance)
    seed = check_index("seed", seed)
    height, width = check_size(size)
    rng = np.random.default_rng([seed, label, instance, 0x0B7])
    d = Draws(rng, _DRAWS)

    # Pose in the image frame (units of half the image height): the object spans about ±1 in
    # its own frame and keeps most of itself inside the picture.
    scale = d.uniform(0.45, 0.8)
    rotation = d.uniform(0.0, 2.0 * math.pi)
    aspect = d.uniform(0.8, 1.25)
    room = max(0.0, 0.95 - scale)
    shift = (d.uniform(-room, room) * width / height, d.uniform(-room, room))
    # Colours: the class never decides them. The object's colour is kept apart from the
    # background's mean so that it stays visible; the second colour (of two-tone classes) is
    # far from the first.
    background = rng.uniform(20.0, 235.0, size=(3, 4, 4)).astype(np.float32)
    primary = _distinct(d.colour((127.5, 127.5, 127.5), 127.5), background.mean(axis=(1, 2)))
    secondary = _distinct(d.colour((127.5, 127.5, 127.5), 127.5), np.asarray(primary))
    gain = d.uniform(0.8, 1.2)
    tint = (d.uniform(0.9, 1.1), d.uniform(0.9, 1.1), d.uniform(0.9, 1.1))
    contrast = d.uniform(0.75, 1.15)
    noise_std = d.uniform(2.0, 8.0)
    layers = _BUILDERS[label](d, primary, secondary)

    image = field_canvas(background, height, width)
    scratch = np.zeros((height, width), dtype=np.int64)
    x_img, y_img = base_grid(height, width)
    _draw_clutter(rng, x_img, y_img, height, image, scratch)
    x_obj, y_obj = frame_coordinates(x_img, y_img, rotation=rotation, scale=scale, shift=shift)
    y_obj = y_obj * aspect  # a squashed or stretched object
    pixel = 2.0 / height / scale
    alphas, colours = [], []
    for table, turn in layers:
        x, y = frame_coordinates(x_obj, y_obj, rotation=turn, scale=1.0, shift=(0.0, 0.0))
        alphas.append(coverage(table, x, y, pixel, None))
        colours.append(table[:, RED : BLUE + 1])
    alpha = np.concatenate(alphas)
    composite(alpha, np.concatenate(colours), np.ones(len(alpha), np.int64), image, scratch)
    pixels = apply_camera(
        image, gain=gain, tint=tint, contrast=contrast, noise_std=noise_std, rng=rng
    )
    return torch.from_numpy(pixels)


def _distinct(colour: RGB, other: np.ndarray, min_distance: float = 90.0) -> RGB:
    """``colour``, or its complement when it lies within ``min_distance`` of ``other``."""
    if float(np.linalg.norm(np.asarray(colour) - other)) >= min_distance:
        return colour
    r, g, b = (float(np.clip(255.0 - c, 0.0, 255.0)) for c in colour)
    if float(np.linalg.norm(np.asarray((r, g, b)) - other)) >= min_distance:
        return (r, g, b)
    # Both near mid-grey: push away from ``other`` along the grey axis.
    level = 235.0 if float(other.mean()) < 127.5 else 20.0
    return mix_rgb(colour, (level, level, level), 0.8)


def _draw_clutter(
    rng: np.random.Generator,
    x: np.ndarray,
    y: np.ndarray,
    height: int,
    image: np.ndarray,
    scratch: np.ndarray,
) -> None:
    """Up to :data:`_MAX_CLUTTER` small blobs of random colours, behind the object."""
    count = int(rng.integers(0, _MAX_CLUTTER + 1))
    params = rng.uniform(0.0, 1.0, size=(_MAX_CLUTTER, 7))[:count]
    if count == 0:
        return
    shapes = Shapes()
    width_units = x.shape[1] / height
    for cx, cy, r, e, red, green, blue in params:
        radius = 0.05 + 0.1 * r
        shapes.add(
            (2.0 * cx - 1.0) * width_units,
            2.0 * cy - 1.0,
            radius,
            radius * (0.6 + 0.8 * e),
            1,
            (255.0 * red, 255.0 * green, 255.0 * blue),
        )
    table = shapes.table()
    alpha = coverage(table, x, y, 2.0 / height, None)
    composite(alpha, table[:, RED : BLUE + 1], np.ones(count, np.int64), image, scratch)


# --------------------------------------------------------------------------------------------
# The classes, in the object frame (about ±1); each returns its layers, back to front.
# --------------------------------------------------------------------------------------------

Builder = Callable[[Draws, RGB, RGB], list[Layer]]


def _rectangle(shapes: Shapes, cx: float, cy: float, half_u: float, half_v: float, rgb: RGB) -> int:
    # An ellipse far larger than its box: the box alone draws the outline.
    return shapes.add(cx, cy, BIG, BIG, 1, rgb, boxu=half_u, vlo=-half_v, vhi=half_v)


def _disc(d: Draws, primary: RGB, secondary: RGB) -> list[Layer]:
    s = Shapes()
    r = d.uniform(0.75, 1.0)
    s.add(0.0, 0.0, r, r * d.uniform(0.85, 1.15), 1, primary)
    return [(s.table(), 0.0)]


def _bullseye(d: Draws, primary: RGB, secondary: RGB) -> list[Layer]:
    s = Shapes()
    r = d.uniform(0.8, 1.0)
    for fraction, rgb in ((1.0, primary), (0.66, secondary), (0.33, primary)):
        s.add(0.0, 0.0, r * fraction, r * fraction, 1, rgb)
    return [(s.table(), 0.0)]


def _square(d: Draws, primary: RGB, secondary: RGB) -> list[Layer]:
    s = Shapes()
    half = d.uniform(0.6, 0.8)
    _rectangle(s, 0.0, 0.0, half, half * d.uniform(0.85, 1.15), primary)
    return [(s.table(), 0.0)]


def _triangle(d: Draws, primary: RGB, secondary: RGB) -> list[Layer]:
    # A tapered ellipse much taller than its box: its half width falls linearly from the base
    # (v = -0.8) to zero at the apex (v = 0.9), and the box cuts the rounded ends off, which
    # leaves (nearly) straight sides.
    s = Shapes()
    b = 3.4
    taper = -1.0 / (1.0 + 0.9 / b)
    base = d.uniform(0.75, 0.95)
    a = base / (1.0 + taper * (1.0 - 0.8 / b))
    s.add(0.0, 0.0, a, b, 1, primary, taper=taper, t0=-1.0, vlo=-0.8, vhi=0.9)
    return [(s.table(), 0.0)]


def _cross(d: Draws, primary: RGB, secondary: RGB) -> list[Layer]:
    s = Shapes()
    length, thickness = d.uniform(0.8, 1.0), d.uniform(0.18, 0.28)
    _rectangle(s, 0.0, 0.0, length, thickness, primary)
    _rectangle(s, 0.0, 0.0, thickness, length, primary)
    return [(s.table(), 0.0)]


def _stripes(d: Draws, primary: RGB, secondary: RGB) -> list[Layer]:
    s = Shapes()
    thickness, length = d.uniform(0.08, 0.13), d.uniform(0.75, 0.95)
    for i in range(4):
        _rectangle(s, 0.0, -0.75 + 0.5 * i, length, thickness, primary)
    return [(s.table(), 0.0)]


def _checkerboard(d: Draws, primary: RGB, secondary: RGB) -> list[Layer]:
    s = Shapes()
    half = d.uniform(0.7, 0.85)
    cell = half / 2.0
    _rectangle(s, 0.0, 0.0, half, half, secondary)
    for row in range(4):
        for col in range(4):
            if (row + col) % 2 == 0:
                cx, cy = -half + cell * (col + 0.5), -half + cell * (row + 0.5)
                _rectangle(s, cx, cy, cell / 2.0, cell / 2.0, primary)
    return [(s.table(), 0.0)]


def _dots(d: Draws, primary: RGB, secondary: RGB) -> list[Layer]:
    # A hexagon of dots around a central one, each jittered.
    s = Shapes()
    radius = d.uniform(0.13, 0.18)
    ring = d.uniform(0.6, 0.75)
    positions = [(0.0, 0.0)] + [
        (ring * math.cos(k * math.pi / 3.0), ring * math.sin(k * math.pi / 3.0)) for k in range(6)
    ]
    for cx, cy in positions:
        s.add(cx + d.uniform(-0.06, 0.06), cy + d.uniform(-0.06, 0.06), radius, radius, 1, primary)
    return [(s.table(), 0.0)]


def _flower(d: Draws, primary: RGB, secondary: RGB) -> list[Layer]:
    # Five petals, each an ellipse drawn in its own turned frame, and a heart over them.
    petal = Shapes()
    length, width = d.uniform(0.35, 0.45), d.uniform(0.14, 0.2)
    petal.add(0.0, -(0.25 + length), width, length, 1, primary)
    table = petal.table()
    layers = [(table, k * 2.0 * math.pi / 5.0) for k in range(5)]
    heart = Shapes()
    r = d.uniform(0.2, 0.28)
    heart.add(0.0, 0.0, r, r, 1, secondary)
    return [*layers, (heart.table(), 0.0)]


def _arc(d: Draws, primary: RGB, secondary: RGB) -> list[Layer]:
    # A thick band bent into a parabola (``bend``) and cut to a length.
    s = Shapes()
    bend = d.uniform(0.8, 1.1)
    s.add(0.0, 0.35, 1.6, d.uniform(0.14, 0.2), 1, primary, bend=-bend, boxu=0.9)
    return [(s.table(), 0.0)]


def _bar(d: Draws, primary: RGB, secondary: RGB) -> list[Layer]:
    s = Shapes()
    _rectangle(s, 0.0, 0.0, d.uniform(0.85, 1.0), d.uniform(0.14, 0.22), primary)
    return [(s.table(), 0.0)]


def _ell(d: Draws, primary: RGB, secondary: RGB) -> list[Layer]:
    s = Shapes()
    length, thickness = d.uniform(0.75, 0.9), d.uniform(0.16, 0.24)
    _rectangle(s, -length + thickness, 0.0, thickness, length, primary)
    _rectangle(s, 0.0, length - thickness, length, thickness, primary)
    return [(s.table(), 0.0)]


def _tee(d: Draws, primary: RGB, secondary: RGB) -> list[Layer]:
    s = Shapes()
    length, thickness = d.uniform(0.75, 0.9), d.uniform(0.16, 0.24)
    _rectangle(s, 0.0, -length + thickness, length, thickness, primary)
    _rectangle(s, 0.0, 0.0, thickness, length, primary)
    return [(s.table(), 0.0)]


def _house(d: Draws, primary: RGB, secondary: RGB) -> list[Layer]:
    # A pentagon: the half width stays constant up to the eaves (v = 0.1; ``t0`` is in units
    # of the ellipse's half height b), then falls linearly to zero at the ridge (v = 0.9).
    s = Shapes()
    b = 3.4
    half = d.uniform(0.6, 0.75)
    taper = -b / (0.9 - 0.1)
    s.add(0.0, 0.0, half, b, 1, primary, taper=taper, t0=0.1 / b, vlo=-0.8, vhi=0.9)
    return [(s.table(), 0.0)]


def _dumbbell(d: Draws, primary: RGB, secondary: RGB) -> list[Layer]:
    s = Shapes()
    r, gap = d.uniform(0.3, 0.38), d.uniform(0.5, 0.6)
    _rectangle(s, 0.0, 0.0, gap, d.uniform(0.07, 0.1), primary)
    s.add(-gap, 0.0, r, r, 1, primary)
    s.add(gap, 0.0, r, r, 1, primary)
    return [(s.table(), 0.0)]


def _hash(d: Draws, primary: RGB, secondary: RGB) -> list[Layer]:
    s = Shapes()
    length, thickness, offset = d.uniform(0.8, 0.95), d.uniform(0.09, 0.13), d.uniform(0.3, 0.4)
    for sign in (-1.0, 1.0):
        _rectangle(s, 0.0, sign * offset, length, thickness, primary)
        _rectangle(s, sign * offset, 0.0, thickness, length, primary)
    return [(s.table(), 0.0)]


_BUILDERS: tuple[Builder, ...] = (
    _disc,
    _bullseye,
    _square,
    _triangle,
    _cross,
    _stripes,
    _checkerboard,
    _dots,
    _flower,
    _arc,
    _bar,
    _ell,
    _tee,
    _house,
    _dumbbell,
    _hash,
)


class SyntheticObjects(Dataset[dict[str, Any]]):
    """Rendered objects of the chosen :data:`OBJECT_CLASSES`, ``images_per_class`` images each.

    Images render lazily in :meth:`__getitem__` by :func:`render_object`; construction renders
    nothing. Index ``i`` is image ``i // C`` of class ``i % C`` (``C`` classes), so that every
    prefix of the set is balanced over the classes; the splits never share an image
    (:func:`global_instance`), and an image does not depend on which other classes are chosen.

    Each sample is a dict with ``image`` (``tv_tensors.Image``, uint8 3xHxW) and ``label``
    (int64, the index in :attr:`classes`).

    Args:
        split: ``"train"``, ``"val"`` or ``"test"``.
        images_per_class: Images of each class.
        classes: Names from :data:`OBJECT_CLASSES`, in label order; ``None`` takes the ten of
            :data:`SHAPES_A` (the classification recipe's; :data:`SHAPES_B` are the transfer
            recipe's).
        image_size: ``(height, width)``, each at least 16.
        seed: Generator seed; a different seed draws different images.
        transforms: Applied to the whole sample dict.

    Attributes:
        classes: The class names, in label order.
        targets: Label of every index (no rendering).

    Raises:
        ValueError: On an unknown split or class name, a repeated class, a non-positive count,
            a bad size or a negative seed.
    """

    def __init__(
        self,
        split: Split = "train",
        images_per_class: int = 1000,
        classes: Sequence[str] | None = None,
        image_size: tuple[int, int] = (64, 64),
        seed: int = 0,
        transforms: Transforms | None = None,
    ) -> None:
        self.split = check_split(split, SPLITS)
        self.images_per_class = check_positive("images_per_class", images_per_class)
        self.classes: list[str] = list(SHAPES_A if classes is None else classes)
        unknown = [name for name in self.classes if name not in OBJECT_CLASSES]
        if unknown or not self.classes or len(set(self.classes)) != len(self.classes):
            raise ValueError(
                f"classes must be distinct names from {OBJECT_CLASSES}, got {list(classes or [])}"
            )
        self._kinds = [OBJECT_CLASSES.index(name) for name in self.classes]
        self.image_size = check_size(image_size)
        self.seed = check_index("seed", seed)
        check_transforms(transforms)
        self.transforms = transforms
        self.targets: list[int] = [i % self.num_classes for i in range(len(self))]

    @property
    def num_classes(self) -> int:
        """Number of classes."""
        return len(self.classes)

    def __len__(self) -> int:
        return self.num_classes * self.images_per_class

    def __getitem__(self, index: int) -> dict[str, Any]:
        index = check_item(index, len(self))
        instance, label = divmod(index, self.num_classes)
        image = render_object(
            self._kinds[label], global_instance(self.split, instance), self.image_size, self.seed
        )
        sample: dict[str, Any] = {
            "image": tv_tensors.Image(image),
            "label": torch.tensor(label, dtype=torch.int64),
        }
        if self.transforms is not None:
            sample = self.transforms(sample)
        return sample

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(split={self.split!r}, "
            f"images_per_class={self.images_per_class}, classes={self.classes}, "
            f"image_size={self.image_size}, seed={self.seed})"
        )
