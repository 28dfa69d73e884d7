"""Procedurally rendered faces: the data every face recipe runs on when nothing is downloaded.

A face is a stack of soft-edged shapes (hair, face, brows, eyes, nose, lips, ...) drawn from
per-identity parameters and then disturbed by per-image nuisance: yaw, in-plane pose, lighting,
expression, occlusion, background clutter and pixel noise. Identity survives the nuisance (so a
network can learn it) while the nuisance moves the pixels far more than identity does (so raw
pixels are a poor identity cue). Everything is a pure function of ``(seed, identity, sample)``.

The outputs mirror the real datasets the recipes are written for:

- ``mask`` uses the 11 HELEN face-parsing labels (Smith, Zhang, Brandt, Lin, Yang, "Exemplar-Based
  Face Parsing", CVPR 2013); see :data:`HELEN_LABELS`.
- ``yaw`` takes the seven Multi-PIE poses of the FIP/MVP protocol (-45 to +45 degrees in steps
  of 15) and ``illumination`` the 20 Multi-PIE flash ids (Gross, Matthews, Cohn, Kanade, Baker,
  "Multi-PIE", Image and Vision Computing 28(5), 2010); ``target`` is the canonical frontal view
  under neutral light that FIP (Zhu, Luo, Wang, Tang, ICCV 2013) reconstructs.
- ``attributes`` are binary, CelebA-style (Liu, Luo, Wang, Tang, "Deep Learning Face Attributes
  in the Wild", ICCV 2015); see :data:`ATTRIBUTE_NAMES`.
- :class:`SyntheticFacePairs` follows the LFW View 2 protocol (Huang et al., UMass TR 07-49,
  2007): identity-disjoint folds, each half matched and half mismatched pairs.

Conventions of this generator: "left"/"right" in the labels mean the image's left/right (the
viewer's), positive ``yaw`` turns the face towards the image's right (its features move right),
and a positive light azimuth lights the face from the image's right. Occluders (sunglasses, a
random block) are labelled background, as HELEN has no occluder label.
"""

from __future__ import annotations

import functools
import math
import operator
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal, cast

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset
from torchvision import tv_tensors

__all__ = [
    "ATTRIBUTE_NAMES",
    "HELEN_LABELS",
    "HFLIP_LABEL_PERMUTATION",
    "ILLUMINATION_DIRECTIONS",
    "NEUTRAL_ILLUMINATION",
    "NUM_ILLUMINATIONS",
    "SPLITS",
    "YAW_ANGLES",
    "SyntheticFacePairs",
    "SyntheticFaces",
    "global_identity",
    "render_face",
]

HELEN_LABELS: tuple[str, ...] = (
    "background",
    "face_skin",
    "left_eyebrow",
    "right_eyebrow",
    "left_eye",
    "right_eye",
    "nose",
    "upper_lip",
    "inner_mouth",
    "lower_lip",
    "hair",
)
"""Names of the mask labels 0..10, in HELEN's order (Smith et al., CVPR 2013)."""

HFLIP_LABEL_PERMUTATION: tuple[int, ...] = (0, 1, 3, 2, 5, 4, 6, 7, 8, 9, 10)
"""``mask.flip(-1)`` must be relabelled through this table: a mirror swaps left and right."""

ATTRIBUTE_NAMES: tuple[str, ...] = (
    "Male",  # wide, square jaw
    "Dark_Hair",  # black or dark-brown hair (never when bald)
    "Bangs",  # fringe over the forehead (never when bald)
    "Bald",  # no hair
    "Pale_Skin",
    "Big_Nose",  # wide nostrils
    "Narrow_Eyes",  # eye opening after expression (squint narrows, surprise widens)
    "Bushy_Eyebrows",  # thick brows
    "Smiling",  # mouth corners raised
    "Mouth_Slightly_Open",  # lips parted beyond the resting lip line
    "Eyeglasses",  # sunglasses (the random-block occluder does not count)
    "Heavy_Lighting",  # light from 45 degrees or more to the side (azimuth)
)
"""Binary attributes of ``attributes``, each derived from the parameters that draw it."""

YAW_ANGLES: tuple[float, ...] = (-45.0, -30.0, -15.0, 0.0, 15.0, 30.0, 45.0)
"""Yaw angles (degrees) a sample is drawn from: the ±45° Multi-PIE poses of FIP/MVP."""

# Multi-PIE fires 18 flashes around the subject, and shots 00 and 19 have no flash. The
# directions below are a stylised version of that rig: (azimuth, elevation) in degrees, or None
# for ambient light only.
ILLUMINATION_DIRECTIONS: tuple[tuple[float, float] | None, ...] = (
    None,
    (-90.0, 0.0),
    (-75.0, 0.0),
    (-60.0, 0.0),
    (-45.0, 0.0),
    (-30.0, 0.0),
    (-15.0, 0.0),
    (0.0, 0.0),
    (15.0, 0.0),
    (30.0, 0.0),
    (45.0, 0.0),
    (60.0, 0.0),
    (75.0, 0.0),
    (90.0, 0.0),
    (-60.0, 40.0),
    (-20.0, 40.0),
    (20.0, 40.0),
    (60.0, 40.0),
    (0.0, 40.0),
    None,
)
"""Light direction ``(azimuth, elevation)`` in degrees per illumination id, ``None``: ambient."""

NUM_ILLUMINATIONS = len(ILLUMINATION_DIRECTIONS)
NEUTRAL_ILLUMINATION = 7
"""The frontal flash, used for the canonical ``target`` view."""

SPLITS: tuple[str, ...] = ("train", "val", "test")
Split = Literal["train", "val", "test"]

_MIN_SIZE = 16
# Maximum number of uniforms one parameter draw consumes; draws are made unconditionally, so a
# parameter never shifts when an unrelated one toggles (turning bangs on keeps the same nose).
_IDENTITY_DRAWS = 64
_NUISANCE_DRAWS = 64

# Sizes are in units of half the image height (32 pixels at the default 64x56), chosen so that
# every part covers at least one pixel centre at 55x47 and above.
# Eye half-height below which eyes count as narrow (between the two modes of the draw).
_NARROW_EYE_HEIGHT = 0.034
# Resting opening between the lips: the inner-mouth line a closed mouth still shows.
_LIP_LINE = 0.04


def global_identity(split: str, label: int) -> int:
    """Global identity id of ``label`` within ``split``.

    Identities are interleaved by split: ``3 * label + {"train": 0, "val": 1, "test": 2}``. The
    splits are therefore disjoint for every ``num_identities``, and growing one split never
    changes the people of another.

    Args:
        split: ``"train"``, ``"val"`` or ``"test"``.
        label: Identity index within the split (``>= 0``).

    Returns:
        The identity argument of :func:`render_face` for that person.

    Raises:
        ValueError: On an unknown split or a negative label.
    """
    _check_split(split, SPLITS)
    label = _check_index("label", label)
    return 3 * label + SPLITS.index(split)


# --------------------------------------------------------------------------------------------
# Parameters
# --------------------------------------------------------------------------------------------


class _Draws:
    """Hands out consecutive uniforms from one vector drawn up front (one RNG call per render)."""

    def __init__(self, rng: np.random.Generator, n: int) -> None:
        self._u = rng.random(n).tolist()
        self._i = 0

    def uniform(self, lo: float, hi: float) -> float:
        u = self._u[self._i]
        self._i += 1
        return lo + (hi - lo) * u

    def bernoulli(self, p: float) -> bool:
        return self.uniform(0.0, 1.0) < p

    def choice(self, weights: Sequence[float]) -> int:
        u = self.uniform(0.0, sum(weights))
        for i, w in enumerate(weights):
            u -= w
            if u < 0.0:
                return i
        return len(weights) - 1

    def colour(self, base: Sequence[float], jitter: float) -> tuple[float, float, float]:
        r, g, b = (c + self.uniform(-jitter, jitter) for c in base)
        return (r, g, b)


_SKIN_LIGHT = (240.0, 214.0, 200.0)
_SKIN_DARK = (85.0, 55.0, 38.0)
_HAIR_PALETTE = (
    (28.0, 22.0, 20.0),  # black
    (62.0, 42.0, 30.0),  # dark brown
    (115.0, 78.0, 48.0),  # brown
    (205.0, 175.0, 115.0),  # blonde
    (160.0, 72.0, 38.0),  # auburn
    (170.0, 170.0, 168.0),  # grey
)
_HAIR_WEIGHTS = (0.25, 0.2, 0.2, 0.15, 0.1, 0.1)
_DARK_HAIR = (0, 1)
_IRIS_PALETTE = (
    (70.0, 45.0, 30.0),
    (40.0, 28.0, 20.0),
    (70.0, 110.0, 160.0),
    (80.0, 120.0, 80.0),
    (110.0, 115.0, 120.0),
)
_LIP_RED = (170.0, 60.0, 70.0)

RGB = tuple[float, float, float]


@dataclass(frozen=True)
class _Identity:
    """Shape and colour of one person (units: half the image height)."""

    face_a: float
    face_b: float
    face_cy: float
    jaw_taper: float
    male: bool
    eye_sep: float
    eye_y: float
    eye_w: float
    eye_h: float
    iris_r: float
    iris_rgb: RGB
    brow_dx: float
    brow_dy: float
    brow_len: float
    brow_thick: float
    bushy: bool
    brow_bend: float
    brow_tilt: float
    brow_rgb: RGB
    nose_y: float
    nose_len: float
    nose_w: float
    big_nose: bool
    mouth_y: float
    mouth_w: float
    upper_lip: float
    lower_lip: float
    mouth_bend: float
    lip_rgb: RGB
    skin_rgb: RGB
    pale: bool
    bald: bool
    long_hair: bool
    hair_volume: float
    bangs: bool
    bangs_depth: float
    bangs_tilt: float
    bangs_bend: float
    hair_rgb: RGB
    dark_hair: bool
    mole: bool
    mole_x: float
    mole_y: float
    mole_r: float


def _mix(a: Sequence[float], b: Sequence[float], t: float) -> RGB:
    return (a[0] + (b[0] - a[0]) * t, a[1] + (b[1] - a[1]) * t, a[2] + (b[2] - a[2]) * t)


def _scale(c: Sequence[float], s: float) -> RGB:
    return (c[0] * s, c[1] * s, c[2] * s)


@functools.lru_cache(maxsize=16384)
def _identity_params(seed: int, identity: int) -> _Identity:
    """Draw the person ``identity`` (cached: it is a pure function and reused by every sample)."""
    d = _Draws(np.random.default_rng([seed, identity, 0x1D]), _IDENTITY_DRAWS)
    # Bimodal draws: the binary attribute first, then the continuous size from a range on its
    # side of a gap, so that each attribute is visible in the image rather than a coin flip at
    # a threshold nobody can see.
    male = d.bernoulli(0.5)
    jaw_taper = d.uniform(-0.1, 0.0) if male else d.uniform(-0.45, -0.3)
    narrow = d.bernoulli(0.3)
    eye_h = d.uniform(0.02, 0.028) if narrow else d.uniform(0.038, 0.05)
    bushy = d.bernoulli(0.3)
    brow_thick = d.uniform(0.03, 0.038) if bushy else d.uniform(0.019, 0.024)
    big_nose = d.bernoulli(0.3)
    nose_w = d.uniform(0.078, 0.095) if big_nose else d.uniform(0.045, 0.06)
    pale = d.bernoulli(0.25)
    tone = d.uniform(0.0, 0.12) if pale else d.uniform(0.25, 1.0)
    skin = _mix(_SKIN_LIGHT, _SKIN_DARK, tone)
    skin = (
        skin[0] + d.uniform(-10.0, 10.0),
        skin[1] + d.uniform(-6.0, 6.0),
        skin[2] + d.uniform(-8.0, 8.0),
    )
    bald = d.bernoulli(0.1)
    hair_index = d.choice(_HAIR_WEIGHTS)
    hair_rgb = d.colour(_HAIR_PALETTE[hair_index], 10.0)
    bangs = d.bernoulli(0.35) and not bald
    iris_rgb = d.colour(_IRIS_PALETTE[d.choice((0.35, 0.25, 0.15, 0.15, 0.1))], 8.0)
    bald_brow = d.colour((55.0, 40.0, 32.0), 8.0)
    lip_mix = d.uniform(0.35, 0.6)
    mole = d.bernoulli(0.3)
    return _Identity(
        face_a=d.uniform(0.44, 0.54),
        face_b=d.uniform(0.56, 0.66),
        face_cy=d.uniform(0.05, 0.11),
        jaw_taper=jaw_taper,
        male=male,
        eye_sep=d.uniform(0.17, 0.22),
        eye_y=d.uniform(-0.08, -0.02),
        eye_w=d.uniform(0.075, 0.095),
        eye_h=eye_h,
        iris_r=d.uniform(0.03, 0.04),
        iris_rgb=iris_rgb,
        brow_dx=d.uniform(-0.01, 0.02),
        brow_dy=d.uniform(0.075, 0.1),
        brow_len=d.uniform(0.08, 0.11),
        brow_thick=brow_thick,
        bushy=bushy,
        brow_bend=d.uniform(-3.0, 0.5),
        brow_tilt=d.uniform(-0.15, 0.15),
        brow_rgb=bald_brow if bald else _scale(hair_rgb, 0.75),
        nose_y=d.uniform(0.05, 0.09),
        nose_len=d.uniform(0.08, 0.11),
        nose_w=nose_w,
        big_nose=big_nose,
        mouth_y=d.uniform(0.3, 0.36),
        mouth_w=d.uniform(0.12, 0.17),
        upper_lip=d.uniform(0.035, 0.055),
        lower_lip=d.uniform(0.04, 0.065),
        mouth_bend=d.uniform(-0.5, 0.5),
        lip_rgb=_mix(skin, _LIP_RED, lip_mix),
        skin_rgb=skin,
        pale=pale,
        bald=bald,
        long_hair=d.bernoulli(0.5),
        hair_volume=d.uniform(0.05, 0.14),
        bangs=bangs,
        bangs_depth=d.uniform(0.2, 0.32),
        bangs_tilt=d.uniform(-0.3, 0.3),
        bangs_bend=d.uniform(-1.0, 1.0),
        hair_rgb=hair_rgb,
        dark_hair=hair_index in _DARK_HAIR and not bald,
        mole=mole,
        mole_x=d.uniform(-0.3, 0.3),
        mole_y=d.uniform(0.0, 0.3),
        mole_r=d.uniform(0.014, 0.02),
    )


@dataclass(frozen=True)
class _Nuisance:
    """Everything about one image that is not the person."""

    yaw: float  # degrees
    illumination: int
    rotation: float  # radians
    shift_x: float
    shift_y: float
    scale: float
    smile: float  # 0 (neutral) .. 1
    mouth_open: float  # lip parting beyond the resting lip line
    brow_raise: float
    eye_open: float  # multiplies the eye height
    occluder: int  # 0 none, 1 sunglasses, 2 random block
    glasses_rgb: RGB
    block: tuple[float, float, float, float]  # centre x, centre y, half width, half height
    block_rgb: RGB
    blobs: tuple[tuple[float, float, float, float, RGB], ...]  # image-frame ellipses
    clothes_rgb: RGB
    background: np.ndarray | None  # 3x4x4 low-frequency colour field, None: plain grey
    gain: float
    tint: RGB
    contrast: float
    noise_std: float


_NEUTRAL_BACKGROUND = (128.0, 128.0, 128.0)
_NEUTRAL_CLOTHES = (96.0, 98.0, 110.0)

_FRONTAL = _Nuisance(
    yaw=0.0,
    illumination=NEUTRAL_ILLUMINATION,
    rotation=0.0,
    shift_x=0.0,
    shift_y=0.0,
    scale=1.0,
    smile=0.0,
    mouth_open=0.0,
    brow_raise=0.0,
    eye_open=1.0,
    occluder=0,
    glasses_rgb=(0.0, 0.0, 0.0),
    block=(0.0, 0.0, 0.0, 0.0),
    block_rgb=(0.0, 0.0, 0.0),
    blobs=(),
    clothes_rgb=_NEUTRAL_CLOTHES,
    background=None,
    gain=1.0,
    tint=(1.0, 1.0, 1.0),
    contrast=1.0,
    noise_std=0.0,
)

# Multi-PIE-like expressions: neutral, smile, surprise, squint, scream.
_EXPRESSION_WEIGHTS = (0.35, 0.25, 0.15, 0.1, 0.15)


def _nuisance_params(d: _Draws, rng: np.random.Generator) -> _Nuisance:
    yaw = YAW_ANGLES[d.choice([1.0] * len(YAW_ANGLES))]
    illumination = d.choice([1.0] * NUM_ILLUMINATIONS)
    rotation = math.radians(d.uniform(-12.0, 12.0))
    shift_x, shift_y = d.uniform(-0.1, 0.1), d.uniform(-0.1, 0.1)
    scale = d.uniform(0.88, 1.08)
    expression = d.choice(_EXPRESSION_WEIGHTS)
    smile_amount = d.uniform(0.7, 1.0)
    smile_opens = d.bernoulli(0.4)
    smile_open = d.uniform(0.03, 0.06) * smile_opens
    surprise_open, surprise_raise = d.uniform(0.05, 0.09), d.uniform(0.03, 0.05)
    squint = d.uniform(0.5, 0.62)
    scream_open = d.uniform(0.08, 0.12)
    smile, mouth_open, brow_raise, eye_open = 0.0, 0.0, 0.0, 1.0
    if expression == 1:
        smile, mouth_open = smile_amount, smile_open
    elif expression == 2:
        mouth_open, brow_raise, eye_open = surprise_open, surprise_raise, 1.15
    elif expression == 3:
        brow_raise, eye_open = -0.01, squint
    elif expression == 4:
        mouth_open, brow_raise, eye_open = scream_open, 0.02, squint
    occluder = d.choice((0.76, 0.12, 0.12))
    glasses_rgb = d.colour((30.0, 30.0, 36.0), 12.0)
    block = (
        d.uniform(-0.6, 0.6),
        d.uniform(-0.6, 0.6),
        d.uniform(0.12, 0.3),
        d.uniform(0.12, 0.3),
    )
    block_rgb = d.colour((128.0, 128.0, 128.0), 120.0)
    blobs = tuple(
        (
            d.uniform(-0.9, 0.9),
            d.uniform(-1.0, 1.0),
            d.uniform(0.15, 0.5),
            d.uniform(0.15, 0.5),
            d.colour((128.0, 128.0, 128.0), 110.0),
        )
        for _ in range(2)
    )
    clothes_rgb = d.colour((128.0, 128.0, 128.0), 110.0)
    gain = d.uniform(0.8, 1.2)
    tint = (d.uniform(0.92, 1.08), d.uniform(0.92, 1.08), d.uniform(0.92, 1.08))
    contrast = d.uniform(0.8, 1.2)
    noise_std = d.uniform(2.0, 7.0)
    background = rng.uniform(20.0, 235.0, size=(3, 4, 4)).astype(np.float32)
    return _Nuisance(
        yaw=yaw,
        illumination=illumination,
        rotation=rotation,
        shift_x=shift_x,
        shift_y=shift_y,
        scale=scale,
        smile=smile,
        mouth_open=mouth_open,
        brow_raise=brow_raise,
        eye_open=eye_open,
        occluder=occluder,
        glasses_rgb=glasses_rgb,
        block=block,
        block_rgb=block_rgb,
        blobs=blobs,
        clothes_rgb=clothes_rgb,
        background=background,
        gain=gain,
        tint=tint,
        contrast=contrast,
        noise_std=noise_std,
    )


def _attributes(ident: _Identity, nuis: _Nuisance) -> Tensor:
    direction = ILLUMINATION_DIRECTIONS[nuis.illumination]
    values = (
        ident.male,
        ident.dark_hair,
        ident.bangs,
        ident.bald,
        ident.pale,
        ident.big_nose,
        ident.eye_h * nuis.eye_open < _NARROW_EYE_HEIGHT,
        ident.bushy,
        nuis.smile > 0.5,
        nuis.mouth_open > 0.0,
        nuis.occluder == 1,
        direction is not None and abs(direction[0]) >= 45.0,
    )
    return torch.tensor(values, dtype=torch.int64)


# --------------------------------------------------------------------------------------------
# Shapes
# --------------------------------------------------------------------------------------------

# Columns of a shape table. Every shape is an ellipse (centre CX, CY; half axes A, B) in local
# coordinates u = x - CX, v = y - CY - TILT*u - BEND*u^2 (a sheared, bent ellipse draws brows and
# smiles), whose half width is scaled by 1 + TAPER*(max(v/B, T0) - T0) (jaw, nose), intersected
# with the box |u| <= BOXU, VLO <= v <= VHI (rectangles, half lips). Coordinates are those of
# the face frame (they move with the in-plane pose). PARENT clips a shape to another of the same
# table (an iris to its eye); -1: no parent, -2: the face (for feature shapes). SURF = 1 shapes
# lie on the face surface and are re-projected for yaw, DZ being how far they stand out of it.
(CX, CY, A, B, TILT, BEND, TAPER, T0, BOXU, VLO, VHI, PARENT, LABEL) = range(13)
RED, GREEN, BLUE, DZ, SURF = range(13, 18)
_BIG = 1e3
_NO_PARENT = -1
_FACE_PARENT = -2


class _Shapes:
    def __init__(self) -> None:
        self.rows: list[list[float]] = []

    def add(
        self,
        cx: float,
        cy: float,
        a: float,
        b: float,
        label: int,
        rgb: Sequence[float],
        *,
        tilt: float = 0.0,
        bend: float = 0.0,
        taper: float = 0.0,
        t0: float = -1.0,
        boxu: float = _BIG,
        vlo: float = -_BIG,
        vhi: float = _BIG,
        parent: int = _NO_PARENT,
        dz: float = 0.0,
        surface: bool = False,
    ) -> int:
        row = [cx, cy, a, b, tilt, bend, taper, t0, boxu, vlo, vhi, float(parent), float(label)]
        self.rows.append([*row, rgb[0], rgb[1], rgb[2], dz, float(surface)])
        return len(self.rows) - 1

    def table(self) -> np.ndarray:
        return np.asarray(self.rows, dtype=np.float64).reshape(-1, SURF + 1)


@dataclass(frozen=True)
class _Scene:
    """One image as shapes: the head over the whole image, the features within the face."""

    head: np.ndarray  # background clutter, neck, clothes, hair, face, bangs; back to front
    features: np.ndarray  # mole, brows, eyes, nose, mouth, sunglasses; drawn over the head
    face_row: int  # row of the face in ``head``
    nose_row: int  # row of the nose in ``features``
    block: tuple[float, float, float, float] | None  # image-frame occluder (cx, cy, half w, h)


def _scene(ident: _Identity, nuis: _Nuisance) -> _Scene:
    head = _Shapes()
    # Clutter is random anyway, so it may as well live in the face frame with everything else.
    for cx, cy, a, b, rgb in nuis.blobs:
        head.add(cx, cy, a, b, 0, rgb)
    fy = ident.face_cy
    a, b = ident.face_a, ident.face_b
    sin_yaw = math.sin(math.radians(nuis.yaw))
    skin = ident.skin_rgb

    head.add(0.0, fy + 0.8 * b, 0.5 * a, 0.4, 0, _scale(skin, 0.82))  # neck
    head.add(0.0, fy + b + 0.6, 0.95, 0.42, 0, nuis.clothes_rgb)  # shoulders
    if not ident.bald:
        # Turning the head uncovers the hair at the back of the head on the near side.
        hx = -0.1 * sin_yaw
        hy = fy - 0.12
        hair_a, hair_b = a + ident.hair_volume, 0.85 * b + ident.hair_volume
        if ident.long_hair:
            head.add(hx, hy, hair_a, hair_b, 10, ident.hair_rgb)
            head.add(hx, fy + 0.2, 1.25 * hair_a, 0.8, 10, ident.hair_rgb, boxu=hair_a, vlo=-0.2)
        else:
            head.add(hx, hy, hair_a, hair_b, 10, ident.hair_rgb, vhi=0.05)
    face = head.add(
        0.04 * sin_yaw,
        fy,
        a * (1.0 - 0.08 * abs(sin_yaw)),
        b,
        1,
        skin,
        taper=ident.jaw_taper,
        t0=0.0,
    )
    if ident.bangs:
        head.add(
            0.0,
            fy - b,
            1.1 * a,
            ident.bangs_depth,
            10,
            ident.hair_rgb,
            tilt=ident.bangs_tilt,
            bend=ident.bangs_bend,
            parent=face,
        )

    s = _Shapes()
    if ident.mole:  # below the eyes, so bangs never cover it
        s.add(
            ident.mole_x,
            fy + ident.mole_y,
            ident.mole_r,
            ident.mole_r,
            1,
            (70.0, 45.0, 35.0),
            parent=_FACE_PARENT,
            surface=True,
        )
    eye_y = fy + ident.eye_y
    brow_y = eye_y - ident.brow_dy - nuis.brow_raise
    brow_x = ident.eye_sep + ident.brow_dx
    for side, label in ((-1.0, 2), (1.0, 3)):
        s.add(
            side * brow_x,
            brow_y,
            ident.brow_len,
            ident.brow_thick,
            label,
            ident.brow_rgb,
            # Mirrored tilt: both inner ends go up (or down) together.
            tilt=-side * ident.brow_tilt,
            bend=ident.brow_bend - 25.0 * max(nuis.brow_raise, 0.0),
            surface=True,
        )
    eye_h = ident.eye_h * nuis.eye_open
    for side, label in ((-1.0, 4), (1.0, 5)):
        eye = s.add(
            side * ident.eye_sep,
            eye_y,
            ident.eye_w,
            eye_h,
            label,
            (236.0, 232.0, 226.0),
            dz=-0.03,
            surface=True,
        )
        s.add(
            side * ident.eye_sep,
            eye_y,
            ident.iris_r,
            ident.iris_r,
            label,
            ident.iris_rgb,
            parent=eye,
            dz=-0.03,
            surface=True,
        )

    # Nose: narrow at the bridge, widening to the nostrils; it stands out of the face, so yaw
    # moves it further than the eyes.
    nose_cy = fy + ident.nose_y
    nose_top = 0.4 * ident.nose_w
    nose = s.add(
        0.0,
        nose_cy,
        nose_top,
        ident.nose_len,
        6,
        _scale(skin, 0.88),
        taper=(ident.nose_w / nose_top - 1.0) / 2.0,
        t0=-1.0,
        dz=0.6 * ident.nose_len,
        surface=True,
    )
    for side in (-1.0, 1.0):
        s.add(
            side * 0.5 * ident.nose_w,
            nose_cy + 0.8 * ident.nose_len,
            0.3 * ident.nose_w,
            0.018,
            6,
            _scale(skin, 0.5),
            parent=nose,
            dz=0.6 * ident.nose_len,
            surface=True,
        )

    # Mouth: half-ellipse lips around a lip line that expressions open; a smile bends it up.
    gap = _LIP_LINE + nuis.mouth_open
    my = fy + ident.mouth_y
    mw = ident.mouth_w * (1.0 + 0.12 * nuis.smile)
    bend = ident.mouth_bend - 2.2 * nuis.smile
    lip = functools.partial(s.add, bend=bend, dz=0.02, surface=True)
    lip(0.0, my + gap / 2, 0.92 * mw, ident.lower_lip, 9, ident.lip_rgb, vlo=0.0)
    lip(0.0, my - gap / 2, mw, ident.upper_lip, 7, _scale(ident.lip_rgb, 0.92), vhi=0.0)
    inner = lip(0.0, my, 0.97 * mw, gap / 2, 8, (60.0, 20.0, 25.0))
    if nuis.mouth_open > 0.0:  # teeth
        lip(0.0, my - gap / 2, 0.8 * mw, 0.4 * gap, 8, (232.0, 226.0, 214.0), parent=inner)

    if nuis.occluder == 1:  # sunglasses: two lenses and a bridge, standing out of the face
        for side in (-1.0, 1.0):
            s.add(
                side * ident.eye_sep,
                eye_y,
                1.55 * ident.eye_w,
                0.075,
                0,
                nuis.glasses_rgb,
                dz=0.06,
                surface=True,
            )
        s.add(
            0.0,
            eye_y - 0.02,
            1.5 * ident.eye_sep,
            0.05,
            0,
            nuis.glasses_rgb,
            boxu=ident.eye_sep,
            vlo=-0.012,
            vhi=0.012,
            dz=0.06,
            surface=True,
        )

    features = s.table()
    _project_yaw(features, nuis.yaw, ident.face_a * 1.15)
    return _Scene(
        head=head.table().astype(np.float32),
        features=features.astype(np.float32),
        face_row=face,
        nose_row=nose,
        block=nuis.block if nuis.occluder == 2 else None,
    )


def _project_yaw(table: np.ndarray, yaw_deg: float, radius: float) -> None:
    """Re-project the face-surface shapes for a head turned by ``yaw_deg`` (in place).

    The face is a cylinder of ``radius`` seen from the front: a point at ``x`` sits at angle
    ``asin(x / radius)`` and, turned by the yaw, projects to ``radius * sin(angle + yaw)`` plus
    its protrusion ``DZ * sin(yaw)``. Both ends of each shape are projected, so a shape on the
    far side of the face is narrowed and one on the near side widened; the shear and bend are
    rescaled so the shape keeps its outline in its own (now narrower) coordinates.
    """
    if yaw_deg == 0.0:
        return
    rows = table[:, SURF] > 0.5
    theta = math.radians(yaw_deg)
    cx, half, dz = table[rows, CX], table[rows, A], table[rows, DZ]
    limit = math.pi / 2 - 0.05

    def project(x: np.ndarray) -> np.ndarray:
        angle = np.arcsin(np.clip(x / radius, -0.999, 0.999)) + theta
        return radius * np.sin(np.clip(angle, -limit, limit)) + dz * math.sin(theta)

    left, right = project(cx - half), project(cx + half)
    new_half = np.maximum((right - left) / 2, 0.15 * half)
    factor = new_half / half
    table[rows, CX] = (left + right) / 2
    table[rows, A] = new_half
    boxu = table[rows, BOXU]
    table[rows, BOXU] = np.where(boxu < _BIG, boxu * factor, boxu)
    table[rows, TILT] /= factor
    table[rows, BEND] /= factor**2


def _feature_window(
    features: np.ndarray, nuis: _Nuisance, height: int, width: int
) -> tuple[int, int, int, int] | None:
    """Pixel box ``(row0, row1, col0, col1)`` that holds every feature shape, None if empty."""
    if len(features) == 0:
        return None
    cx, cy, tilt, bend = features[:, CX], features[:, CY], features[:, TILT], features[:, BEND]
    # Bounds of each (tapered, sheared, bent) ellipse, generous rather than tight.
    hx = features[:, A] * (1.0 + 2.0 * np.abs(features[:, TAPER]))
    hy = features[:, B] + (np.abs(bend) * hx + np.abs(tilt)) * hx
    corners_x = (float((cx - hx).min()), float((cx + hx).max()))
    corners_y = (float((cy - hy).min()), float((cy + hy).max()))
    cos_r, sin_r = math.cos(nuis.rotation), math.sin(nuis.rotation)
    half = height / 2.0
    cols, rows = [], []
    for qx in corners_x:
        for qy in corners_y:
            x = nuis.scale * (cos_r * qx - sin_r * qy) + nuis.shift_x
            y = nuis.scale * (sin_r * qx + cos_r * qy) + nuis.shift_y
            cols.append(x * half + width / 2.0 - 0.5)
            rows.append(y * half + height / 2.0 - 0.5)
    # Two pixels of margin for the anti-aliased edge.
    c0, c1 = max(math.floor(min(cols)) - 2, 0), min(math.ceil(max(cols)) + 3, width)
    r0, r1 = max(math.floor(min(rows)) - 2, 0), min(math.ceil(max(rows)) + 3, height)
    if c1 <= c0 or r1 <= r0:
        return None
    return r0, r1, c0, c1


# --------------------------------------------------------------------------------------------
# Rendering
# --------------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=32)
def _base_grid(height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Pixel-centre coordinates in units of half the image height (y down, origin at centre)."""
    half = height / 2.0
    y = ((np.arange(height, dtype=np.float32) + 0.5 - half) / half).astype(np.float32)
    x = ((np.arange(width, dtype=np.float32) + 0.5 - width / 2.0) / half).astype(np.float32)
    x_grid, y_grid = np.broadcast_arrays(x[None, :], y[:, None])
    return x_grid, y_grid


@functools.lru_cache(maxsize=32)
def _upsampling(size_out: int, size_in: int) -> np.ndarray:
    """``size_out x size_in`` bilinear interpolation weights (half-pixel centres, clamped)."""
    centre = (np.arange(size_out) + 0.5) * size_in / size_out - 0.5
    centre = np.clip(centre, 0.0, size_in - 1.0)
    low = np.minimum(np.floor(centre).astype(np.int64), size_in - 2)
    frac = centre - low
    weights = np.zeros((size_out, size_in), dtype=np.float32)
    weights[np.arange(size_out), low] = 1.0 - frac
    weights[np.arange(size_out), low + 1] = frac
    return weights


def _smoothstep(t: np.ndarray) -> np.ndarray:
    t = np.clip(t, 0.0, 1.0, out=t)
    return t * t * (3.0 - 2.0 * t)


def _coverage(
    table: np.ndarray, x: np.ndarray, y: np.ndarray, pixel: float, face: np.ndarray | None
) -> np.ndarray:
    """Anti-aliased coverage (K x h x w) of each shape of ``table`` at the points ``(x, y)``.

    ``face`` is the face's coverage at the same points, for shapes clipped to it.
    """
    col = table.T[:, :, None, None]  # each column as K x 1 x 1
    u = x - col[CX]
    v = y - col[CY]
    v -= (col[BEND] * u + col[TILT]) * u
    inv_b = 1.0 / col[B]
    ev = v * inv_b
    t0 = col[T0]
    half_width = np.maximum(np.clip(ev, -1.0, 1.0), t0)
    half_width -= t0
    half_width *= col[TAPER]
    half_width += 1.0
    half_width *= col[A]
    np.maximum(half_width, 1e-4, out=half_width)
    eu = u / half_width
    implicit = eu * eu
    implicit += ev * ev
    implicit -= 1.0
    # Dividing the implicit function by its gradient norm turns it into a distance near the
    # outline, so edges are one pixel wide whatever the ellipse's aspect ratio.
    eu /= half_width
    ev *= inv_b
    grad = eu * eu
    grad += ev * ev
    np.sqrt(grad, out=grad)
    grad *= 2.0
    grad += 1e-6
    dist = implicit / grad
    np.maximum(dist, col[VLO] - v, out=dist)
    v -= col[VHI]
    np.maximum(dist, v, out=dist)
    np.abs(u, out=u)
    u -= col[BOXU]
    np.maximum(dist, u, out=dist)
    dist *= -1.0 / pixel
    dist += 0.5
    alpha = _smoothstep(dist)
    # Clip children to parents: index 0 is the face, 1 "no parent", 2.. the table's own shapes.
    parent = table[:, PARENT].astype(np.int64)
    clipped = np.flatnonzero(parent != _NO_PARENT)
    if len(clipped):
        ones = np.ones_like(alpha[:1])
        sources = np.concatenate((ones if face is None else face[None], ones, alpha))
        alpha[clipped] *= sources[parent[clipped] + 2]
    return alpha


def _composite(
    alpha: np.ndarray, colours: np.ndarray, labels: np.ndarray, image: np.ndarray, mask: np.ndarray
) -> np.ndarray:
    """Draw shapes (coverage ``alpha``, back to front) over ``image`` and label them in ``mask``.

    "Over" compositing of all shapes at once: shape i shows through the shapes in front of it
    with weight alpha_i * prod_{j > i} (1 - alpha_j), and what was there before with
    prod_j (1 - alpha_j). The mask takes, per pixel, the label of the front-most shape that
    covers more than half of it. ``image`` and ``mask`` are updated in place.

    Returns:
        The weights of the shapes (K x h x w).
    """
    k = alpha.shape[0]
    through = np.empty_like(alpha)  # through[i] = prod_{j > i} (1 - alpha_j)
    behind = np.ones_like(alpha[0])
    for i in range(k - 1, -1, -1):
        through[i] = behind
        behind = behind * (1.0 - alpha[i])
    for i in range(k):  # back to front: the front-most wins
        np.copyto(mask, labels[i], where=alpha[i] > 0.5)
    weights = alpha * through
    image *= behind
    image += np.einsum("khw,kc->chw", weights, colours)
    return weights


def _render(
    ident: _Identity, nuis: _Nuisance, height: int, width: int, rng: np.random.Generator | None
) -> dict[str, Tensor]:
    scene = _scene(ident, nuis)
    x_img, y_img = _base_grid(height, width)
    # Pixel size in the face frame, whose units shrink and grow with the pose's scale.
    pixel = 2.0 / height / nuis.scale

    # The face frame: image coordinates undone by the in-plane pose (shift, rotation, scale).
    cos_r, sin_r = math.cos(nuis.rotation) / nuis.scale, math.sin(nuis.rotation) / nuis.scale
    dx, dy = x_img - nuis.shift_x, y_img - nuis.shift_y
    x_face = cos_r * dx + sin_r * dy
    y_face = cos_r * dy - sin_r * dx

    if nuis.background is None:
        image = np.empty((3, height, width), dtype=np.float32)
        image[:] = np.asarray(_NEUTRAL_BACKGROUND, dtype=np.float32)[:, None, None]
    else:  # bilinear upsampling of a coarse colour field
        rows = np.einsum("hi,cij->chj", _upsampling(height, 4), nuis.background)
        image = np.einsum("chj,wj->chw", rows, _upsampling(width, 4))
    mask = np.zeros((height, width), dtype=np.int64)

    # The head covers much of the image and is drawn everywhere.
    head_table = scene.head
    head_alpha = _coverage(head_table, x_face, y_face, pixel, None)
    head_labels = head_table[:, LABEL].astype(np.int64)
    weights = _composite(head_alpha, head_table[:, RED : BLUE + 1], head_labels, image, mask)
    # Only the person is shaded as a curved surface; labelled shapes make up the head.
    head = weights[head_labels > 0].sum(0)

    # The features are small: draw them only in the window that holds them, which is several
    # times cheaper than evaluating every shape on every pixel.
    nose_alpha = np.zeros((height, width), dtype=np.float32)
    nose_cx, nose_half = 0.0, 1.0
    window = _feature_window(scene.features, nuis, height, width)
    if window is not None:
        r0, r1, c0, c1 = window
        table = scene.features
        face_alpha = head_alpha[scene.face_row, r0:r1, c0:c1]
        alpha = _coverage(table, x_face[r0:r1, c0:c1], y_face[r0:r1, c0:c1], pixel, face_alpha)
        labels = table[:, LABEL].astype(np.int64)
        _composite(
            alpha, table[:, RED : BLUE + 1], labels, image[:, r0:r1, c0:c1], mask[r0:r1, c0:c1]
        )
        nose_alpha[r0:r1, c0:c1] = alpha[scene.nose_row]
        nose_cx = float(table[scene.nose_row, CX])
        nose_half = float(table[scene.nose_row, A])

    if scene.block is not None:  # an axis-aligned block in front of everything
        bx, by, bw, bh = scene.block
        dist = np.maximum(np.abs(x_img - bx) - bw, np.abs(y_img - by) - bh)
        dist *= -height / 2.0
        dist += 0.5
        block = _smoothstep(dist)
        image += block * (np.asarray(nuis.block_rgb, dtype=np.float32)[:, None, None] - image)
        mask[block > 0.5] = 0
        head *= 1.0 - block

    image *= _shading(ident, nuis, x_face, y_face, head, nose_alpha, nose_cx, nose_half)

    # Camera: exposure, white balance, contrast, sensor noise.
    gain = np.asarray(nuis.tint, dtype=np.float32)[:, None, None] * (nuis.gain * nuis.contrast)
    image *= gain
    image += 128.0 * (1.0 - nuis.contrast)
    if rng is not None and nuis.noise_std > 0.0:
        # Uniform noise of the same standard deviation: four times cheaper to draw than normal.
        noise = rng.random((3, height, width), dtype=np.float32)
        noise -= 0.5
        noise *= nuis.noise_std * math.sqrt(12.0)
        image += noise
    np.clip(image, 0.0, 255.0, out=image)
    np.rint(image, out=image)

    return {
        "image": torch.from_numpy(image.astype(np.uint8)),
        "mask": torch.from_numpy(mask),
        "attributes": _attributes(ident, nuis),
        "yaw": torch.tensor(nuis.yaw, dtype=torch.float32),
        "illumination": torch.tensor(nuis.illumination, dtype=torch.int64),
    }


def _shading(
    ident: _Identity,
    nuis: _Nuisance,
    x_face: np.ndarray,
    y_face: np.ndarray,
    head: np.ndarray,
    nose_alpha: np.ndarray,
    nose_cx: float,
    nose_half: float,
) -> np.ndarray:
    """Lambertian shading of the head (an ellipsoid) under the sample's light."""
    direction = ILLUMINATION_DIRECTIONS[nuis.illumination]
    if direction is None:  # no flash: dim, flat ambient light
        return np.full_like(x_face, 0.62)
    azimuth, elevation = (math.radians(a) for a in direction)
    # Light in the image frame (y down), then turned into the face frame.
    lx = math.sin(azimuth) * math.cos(elevation)
    ly = -math.sin(elevation)
    lz = math.cos(azimuth) * math.cos(elevation)
    cos_r, sin_r = math.cos(nuis.rotation), math.sin(nuis.rotation)
    lx, ly = cos_r * lx + sin_r * ly, -sin_r * lx + cos_r * ly
    nx = (x_face - 0.04 * math.sin(math.radians(nuis.yaw))) * (1.0 / (1.3 * ident.face_a))
    ny = (y_face - (ident.face_cy - 0.05)) * (1.0 / (1.25 * ident.face_b))
    nz = 1.0 - nx * nx - ny * ny
    np.maximum(nz, 0.0, out=nz)
    np.sqrt(nz, out=nz)
    # The nose turns its sides towards (or away from) a side light.
    nose_slope = np.clip((x_face - nose_cx) * (1.0 / (2.0 * nose_half)), -1.0, 1.0)
    nose_slope *= nose_alpha
    curved = nx * lx
    curved += ny * ly
    curved += nz * lz
    curved += (0.6 * lx) * nose_slope
    np.maximum(curved, 0.0, out=curved)
    # Elsewhere (background, neck, clothes) the scene faces the camera: flat, lit by the
    # frontal component of the light.
    flat = max(lz, 0.0)
    curved -= flat
    curved *= head
    curved += flat
    curved *= 0.78
    curved += 0.32
    return curved


def render_face(
    identity: int,
    sample: int,
    size: tuple[int, int] = (64, 56),
    seed: int = 0,
    *,
    frontal: bool = False,
) -> dict[str, Tensor]:
    """Render image ``sample`` of person ``identity``: a pure function of its arguments.

    Identity parameters (face and jaw shape, eyes, brows, nose, mouth, skin tone, hair colour and
    style, a mole) depend on ``(seed, identity)`` only; nuisance (yaw, illumination, in-plane
    pose, expression, occlusion, background clutter, clothes, exposure, noise) on
    ``(seed, identity, sample)``. Rendering is vectorised numpy on one thread (no intra-op
    thread pool to contend with the training step), well under a millisecond at 64x56.

    Args:
        identity: Global identity id (``>= 0``); see :func:`global_identity` for the split scheme.
        sample: Image index of that identity (``>= 0``); ignored when ``frontal``.
        size: ``(height, width)``, each at least 16. From 55x47 up every face part of a
            frontal view covers at least one pixel; smaller images may lose thin parts.
        seed: Generator seed (``>= 0``); a different seed draws different people.
        frontal: Render the canonical view instead: yaw 0, neutral illumination
            (:data:`NEUTRAL_ILLUMINATION`), neutral expression, no occlusion, centred, plain
            background, no noise. It depends on ``(seed, identity)`` only.

    Returns:
        ``image`` (uint8, 3xHxW), ``mask`` (int64 HxW, :data:`HELEN_LABELS`), ``attributes``
        (int64, one 0/1 per :data:`ATTRIBUTE_NAMES`), ``yaw`` (float32 scalar, degrees) and
        ``illumination`` (int64 scalar id, :data:`ILLUMINATION_DIRECTIONS`).

    Raises:
        ValueError: On a negative or non-integer ``identity``, ``sample`` or ``seed``, or a bad
            ``size``.
    """
    identity = _check_index("identity", identity)
    sample = _check_index("sample", sample)
    seed = _check_index("seed", seed)
    height, width = _check_size(size)
    ident = _identity_params(seed, identity)
    if frontal:
        return _render(ident, _FRONTAL, height, width, None)
    rng = np.random.default_rng([seed, identity, sample, 0x5A])
    nuis = _nuisance_params(_Draws(rng, _NUISANCE_DRAWS), rng)
    return _render(ident, nuis, height, width, rng)


@functools.lru_cache(maxsize=2048)
def _frontal_image(identity: int, height: int, width: int, seed: int) -> Tensor:
    # Every sample of a person shares this target: render it once per process.
    return render_face(identity, 0, (height, width), seed, frontal=True)["image"]


# --------------------------------------------------------------------------------------------
# Datasets
# --------------------------------------------------------------------------------------------


def _check_index(name: str, value: Any) -> int:
    if isinstance(value, bool):
        raise ValueError(f"{name} must be a non-negative integer, got {value!r}")
    try:
        index = operator.index(value)
    except TypeError:
        raise ValueError(f"{name} must be a non-negative integer, got {value!r}") from None
    if index < 0:
        raise ValueError(f"{name} must be a non-negative integer, got {value!r}")
    return index


def _check_positive(name: str, value: Any, minimum: int = 1) -> int:
    if isinstance(value, bool):
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    try:
        number = operator.index(value)
    except TypeError:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}") from None
    if number < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return number


def _check_size(size: Any) -> tuple[int, int]:
    message = f"image size must be (height, width) with both >= {_MIN_SIZE}, got {size!r}"
    try:
        height, width = size
        height, width = operator.index(height), operator.index(width)
    except (TypeError, ValueError):
        raise ValueError(message) from None
    if height < _MIN_SIZE or width < _MIN_SIZE:
        raise ValueError(message)
    return height, width


def _check_split(split: Any, allowed: Sequence[str]) -> str:
    if split not in allowed:
        raise ValueError(f"split must be one of {tuple(allowed)}, got {split!r}")
    return str(split)


def _check_transforms(transforms: Any) -> None:
    if transforms is not None and not callable(transforms):
        raise ValueError(f"transforms must be callable or None, got {type(transforms).__name__}")


class SyntheticFaces(Dataset[dict[str, Any]]):
    """Rendered faces of ``num_identities`` people, ``images_per_identity`` images each.

    The built-in stand-in for an identity-labelled face set such as CelebFaces+ (DeepID2, Sun,
    Wang, Tang, NIPS 2014) that also carries parsing masks, attributes, pose, illumination and
    the canonical view, so every face task can run on it. Images are rendered lazily in
    :meth:`__getitem__` by :func:`render_face`; construction renders nothing.

    Identities of the three splits never overlap: label ``l`` of split ``s`` is the global
    identity ``3 * l + {"train": 0, "val": 1, "test": 2}[s]`` (:func:`global_identity`), for any
    ``num_identities``. Index ``i`` is image ``i % images_per_identity`` of label
    ``i // images_per_identity``.

    Each sample is a dict with ``image`` (``tv_tensors.Image``, uint8 3xHxW), ``label`` (int64,
    ``0..num_identities-1``), ``identity`` (int64 global id), ``attributes`` (int64, one per
    :data:`ATTRIBUTE_NAMES`), ``mask`` (``tv_tensors.Mask``, int64 HxW, :data:`HELEN_LABELS`),
    ``yaw`` (float32, degrees), ``illumination`` (int64) and ``target`` (``tv_tensors.Image``,
    the person's canonical frontal view).

    Args:
        split: ``"train"``, ``"val"`` or ``"test"``.
        num_identities: People in the split.
        images_per_identity: Images per person.
        image_size: ``(height, width)``, each at least 16.
        seed: Generator seed; a different seed draws different people and images.
        transforms: Applied to the whole sample dict (``torchvision.transforms.v2`` transforms
            the ``Image`` and ``Mask`` entries jointly and passes the rest through). Note that a
            horizontal flip must relabel the mask via :data:`HFLIP_LABEL_PERMUTATION` and
            negate ``yaw``.

    Attributes:
        targets: Label of every index (no rendering; for samplers).
        identities: Global identity id of every label.
        num_classes: ``num_identities``.
        attribute_names: :data:`ATTRIBUTE_NAMES`.

    Raises:
        ValueError: On an unknown split or a non-positive count, a bad size or a negative seed.
    """

    attribute_names: tuple[str, ...] = ATTRIBUTE_NAMES

    def __init__(
        self,
        split: Split = "train",
        num_identities: int = 500,
        images_per_identity: int = 20,
        image_size: tuple[int, int] = (64, 56),
        seed: int = 0,
        transforms: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
    ) -> None:
        self.split = _check_split(split, SPLITS)
        self.num_identities = _check_positive("num_identities", num_identities)
        self.images_per_identity = _check_positive("images_per_identity", images_per_identity)
        self.image_size = _check_size(image_size)
        self.seed = _check_index("seed", seed)
        _check_transforms(transforms)
        self.transforms = transforms
        self.identities: list[int] = [
            global_identity(self.split, label) for label in range(self.num_identities)
        ]
        self.targets: list[int] = [
            label for label in range(self.num_identities) for _ in range(self.images_per_identity)
        ]

    @property
    def labels(self) -> list[int]:
        """Alias of :attr:`targets`."""
        return self.targets

    @property
    def num_classes(self) -> int:
        """Number of identities, i.e. of classes in the identification softmax."""
        return self.num_identities

    def __len__(self) -> int:
        return self.num_identities * self.images_per_identity

    def __getitem__(self, index: int) -> dict[str, Any]:
        index = _check_item(index, len(self))
        label, image_index = divmod(index, self.images_per_identity)
        identity = self.identities[label]
        rendered = render_face(identity, image_index, self.image_size, self.seed)
        height, width = self.image_size
        sample: dict[str, Any] = {
            "image": tv_tensors.Image(rendered["image"]),
            "label": torch.tensor(label, dtype=torch.int64),
            "identity": torch.tensor(identity, dtype=torch.int64),
            "attributes": rendered["attributes"],
            "mask": tv_tensors.Mask(rendered["mask"]),
            "yaw": rendered["yaw"],
            "illumination": rendered["illumination"],
            "target": tv_tensors.Image(_frontal_image(identity, height, width, self.seed).clone()),
        }
        if self.transforms is not None:
            sample = self.transforms(sample)
        return sample

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(split={self.split!r}, num_identities={self.num_identities}, "
            f"images_per_identity={self.images_per_identity}, image_size={self.image_size}, "
            f"seed={self.seed})"
        )


def _check_item(index: Any, length: int) -> int:
    try:
        i = operator.index(index)
    except TypeError:
        raise TypeError(f"index must be an integer, got {type(index).__name__}") from None
    if i < 0:
        i += length
    if not 0 <= i < length:
        raise IndexError(f"index {index} out of range for a dataset of {length} samples")
    return i


def _unrank_pairs(rank: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """The ``rank``-th pairs ``(i, j)``, ``i < j < n``, in row-major order of the upper triangle."""
    # Row i starts at offset(i) = i*n - i*(i+1)/2; invert the quadratic, then fix rounding.
    disc = (2 * n - 1) ** 2 - 8 * rank.astype(np.float64)
    i = np.floor(((2 * n - 1) - np.sqrt(np.maximum(disc, 0.0))) / 2).astype(np.int64)
    i = np.clip(i, 0, n - 2)

    def offset(r: np.ndarray) -> np.ndarray:
        return r * n - r * (r + 1) // 2

    i = np.where(offset(i) > rank, i - 1, i)
    i = np.where(offset(i + 1) <= rank, i + 1, i)
    j = rank - offset(i) + i + 1
    return i, j


class SyntheticFacePairs(Dataset[dict[str, Any]]):
    """LFW-style verification pairs of rendered faces of people unseen in training.

    Follows LFW's View 2 protocol (Huang et al., UMass TR 07-49, 2007): the split's people are
    partitioned into ``num_folds`` contiguous, identity-disjoint folds, and each fold holds
    ``pairs_per_fold / 2`` matched pairs (two different images of one person) followed by as
    many mismatched pairs (two people of that fold), with no pair repeated. The people are those
    of :class:`SyntheticFaces` with the same ``split`` (and ``seed``), never training identities.
    The pair list is drawn at construction from integers only; images render lazily.

    Each sample is ``image1``, ``image2`` (``tv_tensors.Image``, uint8 3xHxW), ``same`` (int64
    1/0), ``fold`` (int64) and ``index`` (int64, the pair's index, for exact distributed
    evaluation).

    Args:
        split: ``"val"`` or ``"test"``.
        num_identities: People in the split (at least two per fold).
        images_per_identity: Images per person (at least two).
        num_folds: Number of folds.
        pairs_per_fold: Pairs per fold, even.
        image_size: ``(height, width)``, each at least 16.
        seed: Generator seed.
        transforms: Applied to each image separately.

    Attributes:
        pairs: ``P x 4`` int64: global identity and image index of the first and second image.
        same: ``P`` int64, 1 for matched pairs.
        folds: ``P`` int64 fold of every pair.
        identities: Global identity id of every label of the split.

    Raises:
        ValueError: On a bad argument, or when a fold has too few people or images for the
            requested number of distinct pairs.
    """

    def __init__(
        self,
        split: Literal["val", "test"] = "test",
        num_identities: int = 200,
        images_per_identity: int = 10,
        num_folds: int = 10,
        pairs_per_fold: int = 60,
        image_size: tuple[int, int] = (64, 56),
        seed: int = 0,
        transforms: Callable[[Any], Any] | None = None,
    ) -> None:
        self.split = _check_split(split, ("val", "test"))
        self.num_folds = _check_positive("num_folds", num_folds)
        self.num_identities = _check_positive("num_identities", num_identities)
        if self.num_identities < 2 * self.num_folds:
            raise ValueError(
                f"num_identities must be at least 2 * num_folds = {2 * self.num_folds} (a "
                f"mismatched pair needs two people in its fold), got {num_identities}"
            )
        self.images_per_identity = _check_positive("images_per_identity", images_per_identity, 2)
        self.pairs_per_fold = _check_positive("pairs_per_fold", pairs_per_fold, 2)
        if self.pairs_per_fold % 2:
            raise ValueError(
                f"pairs_per_fold must be even (half matched, half mismatched), got {pairs_per_fold}"
            )
        self.image_size = _check_size(image_size)
        self.seed = _check_index("seed", seed)
        _check_transforms(transforms)
        self.transforms = transforms
        self.identities: list[int] = [
            global_identity(self.split, label) for label in range(self.num_identities)
        ]
        self.pairs, self.same, self.folds = self._draw_pairs()

    def _draw_pairs(self) -> tuple[Tensor, Tensor, Tensor]:
        half = self.pairs_per_fold // 2
        k = self.images_per_identity
        rng = np.random.default_rng(
            [self.seed, SPLITS.index(self.split), self.num_identities, k, self.num_folds, 0xFA1E]
        )
        identities = np.asarray(self.identities, dtype=np.int64)
        rows: list[np.ndarray] = []
        for fold, people in enumerate(np.array_split(identities, self.num_folds)):
            m = len(people)
            matched_capacity = m * (k * (k - 1) // 2)
            mismatched_capacity = (m * (m - 1) // 2) * k * k
            if half > min(matched_capacity, mismatched_capacity):
                raise ValueError(
                    f"fold {fold} has {m} identities with {k} images each: at most "
                    f"{matched_capacity} distinct matched and {mismatched_capacity} mismatched "
                    f"pairs, but pairs_per_fold={self.pairs_per_fold} needs {half} of each; "
                    "use more identities or images per identity, or fewer pairs per fold"
                )
            # Distinct pairs: draw ranks without replacement, then decode them.
            rank = rng.choice(matched_capacity, size=half, replace=False)
            person, within = np.divmod(rank, k * (k - 1) // 2)
            s1, s2 = _unrank_pairs(within, k)
            matched = np.stack((people[person], s1, people[person], s2), axis=1)
            rank = rng.choice(mismatched_capacity, size=half, replace=False)
            couple, images = np.divmod(rank, k * k)
            p1, p2 = _unrank_pairs(couple, m)
            i1, i2 = np.divmod(images, k)
            mismatched = np.stack((people[p1], i1, people[p2], i2), axis=1)
            rows.append(np.concatenate((matched, mismatched)).astype(np.int64))
        pairs = torch.from_numpy(np.concatenate(rows))
        same = torch.tensor([1] * half + [0] * half, dtype=torch.int64).repeat(self.num_folds)
        folds = torch.arange(self.num_folds, dtype=torch.int64).repeat_interleave(2 * half)
        return pairs, same, folds

    def __len__(self) -> int:
        return self.num_folds * self.pairs_per_fold

    def __getitem__(self, index: int) -> dict[str, Any]:
        index = _check_item(index, len(self))
        identity1, sample1, identity2, sample2 = self.pairs[index].tolist()
        image1: Any = tv_tensors.Image(
            render_face(identity1, sample1, self.image_size, self.seed)["image"]
        )
        image2: Any = tv_tensors.Image(
            render_face(identity2, sample2, self.image_size, self.seed)["image"]
        )
        if self.transforms is not None:
            image1, image2 = self.transforms(image1), self.transforms(image2)
        return {
            "image1": image1,
            "image2": image2,
            "same": self.same[index].clone(),
            "fold": self.folds[index].clone(),
            "index": torch.tensor(index, dtype=torch.int64),
        }

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(split={self.split!r}, num_identities={self.num_identities}, "
            f"images_per_identity={self.images_per_identity}, num_folds={self.num_folds}, "
            f"pairs_per_fold={self.pairs_per_fold}, image_size={self.image_size}, "
            f"seed={self.seed})"
        )


def _stack_images(samples: list[dict[str, Any]]) -> Tensor:
    return torch.stack([torch.as_tensor(sample["image"]) for sample in samples])


def render_images(dataset: SyntheticFaces, num_workers: int = 0, batch_size: int = 256) -> Tensor:
    """Render every image of ``dataset`` once, in index order, into one uint8 tensor.

    Rendering is most of a synthetic sample's cost (about 0.6 of 0.9 ms at 64x56); a training
    run that reads each image once an epoch renders it once an epoch. Rendering up front costs
    ``3·H·W`` bytes an image (10,000 images at 64x56: 107 MB) and one pass over the set, spread
    over ``num_workers`` loader processes.

    Args:
        dataset: The faces to render; its ``transforms`` are not applied.
        num_workers: Loader processes rendering in parallel (0: in this process).
        batch_size: Images rendered per loader batch.

    Returns:
        ``uint8`` tensor ``(len(dataset), 3, H, W)``.
    """
    plain = SyntheticFaces(
        cast(Split, dataset.split),
        dataset.num_identities,
        dataset.images_per_identity,
        dataset.image_size,
        dataset.seed,
    )
    loader = DataLoader(
        plain,
        batch_size=batch_size,
        num_workers=num_workers,
        collate_fn=_stack_images,
        # Its own generator: drawing the loader's base seed from the global one would shift
        # every later random draw of the run (rendering itself uses no global state).
        generator=torch.Generator(),
    )
    return torch.cat(list(loader))


class RenderedFaces(Dataset[dict[str, Any]]):
    """Identity-labelled images held in memory: ``image`` and ``label`` per sample.

    The in-memory counterpart of :class:`SyntheticFaces` for identification training, e.g.
    ``RenderedFaces(render_images(faces), faces.targets, faces.num_classes)``; it carries the
    same ``targets`` and ``num_classes``, so samplers and data modules treat both alike.

    Args:
        images: ``uint8`` tensor ``(N, C, H, W)``.
        targets: Label of every image.
        num_classes: Number of identities.
        transforms: Applied to each sample dict.
    """

    def __init__(
        self,
        images: Tensor,
        targets: Sequence[int],
        num_classes: int,
        transforms: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
    ) -> None:
        if images.ndim != 4 or images.shape[0] != len(targets):
            raise ValueError(
                f"images must be (N, C, H, W) with N = len(targets) = {len(targets)}, "
                f"got {tuple(images.shape)}"
            )
        _check_transforms(transforms)
        self.images = images
        self.targets: list[int] = list(targets)
        self.num_classes = num_classes
        self.transforms = transforms

    def __len__(self) -> int:
        return len(self.targets)

    def __getitem__(self, index: int) -> dict[str, Any]:
        index = _check_item(index, len(self))
        sample: dict[str, Any] = {
            "image": tv_tensors.Image(self.images[index]),
            "label": torch.tensor(self.targets[index], dtype=torch.int64),
        }
        if self.transforms is not None:
            sample = self.transforms(sample)
        return sample
