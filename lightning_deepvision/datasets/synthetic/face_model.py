"""What a synthetic face is made of: per-person identity, per-image nuisance, the attributes.

A person (:class:`Identity`) is drawn from ``(seed, identity)``, an image's nuisance
(:class:`Nuisance`: pose, light, expression, occlusion, clutter, camera) from
``(seed, identity, sample)``. Each draw is one fixed-length vector of uniforms consumed in a fixed
order (:class:`~lightning_deepvision.datasets.synthetic.drawing.Draws`), so the people and images
of a seed never change. The labels follow the real data sets the recipes are written for:

- ``yaw`` takes the seven Multi-PIE poses of the FIP/MVP protocol and ``illumination`` the 20
  Multi-PIE flash ids (Gross, Matthews, Cohn, Kanade, Baker, "Multi-PIE", Image and Vision
  Computing 28(5), 2010);
- ``attributes`` are binary, CelebA-style (Liu, Luo, Wang, Tang, "Deep Learning Face Attributes
  in the Wild", ICCV 2015), each derived from the parameters that draw it.

Sizes are in units of half the image height (32 pixels at the default 64x56), chosen so that
every part covers at least one pixel centre at 55x47 and above.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from lightning_deepvision.datasets.synthetic.drawing import RGB, Draws, mix_rgb, scale_rgb

__all__ = [
    "ATTRIBUTE_NAMES",
    "ILLUMINATION_DIRECTIONS",
    "NEUTRAL_ILLUMINATION",
    "NUM_ILLUMINATIONS",
    "YAW_ANGLES",
]

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

# Maximum number of uniforms one parameter draw consumes; draws are made unconditionally, so a
# parameter never shifts when an unrelated one toggles (turning bangs on keeps the same nose).
IDENTITY_DRAWS = 64
NUISANCE_DRAWS = 64

# Eye half-height below which eyes count as narrow (between the two modes of the draw).
NARROW_EYE_HEIGHT = 0.034
# Resting opening between the lips: the inner-mouth line a closed mouth still shows.
LIP_LINE = 0.04

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
_IRIS_WEIGHTS = (0.35, 0.25, 0.15, 0.15, 0.1)
_LIP_RED = (170.0, 60.0, 70.0)


# --------------------------------------------------------------------------------------------
# Identity
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Identity:
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


@dataclass(frozen=True)
class _Traits:
    """The first identity draws: the binary attributes, their sizes, and the colours."""

    male: bool
    jaw_taper: float
    eye_h: float
    bushy: bool
    brow_thick: float
    big_nose: bool
    nose_w: float
    pale: bool
    skin_rgb: RGB
    bald: bool
    hair_index: int
    hair_rgb: RGB
    bangs: bool
    iris_rgb: RGB
    bald_brow_rgb: RGB
    lip_mix: float
    mole: bool


def _draw_traits(d: Draws) -> _Traits:
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
    skin = mix_rgb(_SKIN_LIGHT, _SKIN_DARK, tone)
    skin = (
        skin[0] + d.uniform(-10.0, 10.0),
        skin[1] + d.uniform(-6.0, 6.0),
        skin[2] + d.uniform(-8.0, 8.0),
    )
    bald = d.bernoulli(0.1)
    hair_index = d.choice(_HAIR_WEIGHTS)
    hair_rgb = d.colour(_HAIR_PALETTE[hair_index], 10.0)
    bangs = d.bernoulli(0.35) and not bald
    iris_rgb = d.colour(_IRIS_PALETTE[d.choice(_IRIS_WEIGHTS)], 8.0)
    bald_brow_rgb = d.colour((55.0, 40.0, 32.0), 8.0)
    lip_mix = d.uniform(0.35, 0.6)
    mole = d.bernoulli(0.3)
    return _Traits(
        male=male,
        jaw_taper=jaw_taper,
        eye_h=eye_h,
        bushy=bushy,
        brow_thick=brow_thick,
        big_nose=big_nose,
        nose_w=nose_w,
        pale=pale,
        skin_rgb=skin,
        bald=bald,
        hair_index=hair_index,
        hair_rgb=hair_rgb,
        bangs=bangs,
        iris_rgb=iris_rgb,
        bald_brow_rgb=bald_brow_rgb,
        lip_mix=lip_mix,
        mole=mole,
    )


@functools.lru_cache(maxsize=16384)
def identity_params(seed: int, identity: int) -> Identity:
    """Draw the person ``identity`` (cached: it is a pure function and reused by every sample)."""
    d = Draws(np.random.default_rng([seed, identity, 0x1D]), IDENTITY_DRAWS)
    t = _draw_traits(d)
    # The geometry is drawn after the traits, in the order of the fields below (keyword
    # arguments are evaluated left to right).
    return Identity(
        face_a=d.uniform(0.44, 0.54),
        face_b=d.uniform(0.56, 0.66),
        face_cy=d.uniform(0.05, 0.11),
        jaw_taper=t.jaw_taper,
        male=t.male,
        eye_sep=d.uniform(0.17, 0.22),
        eye_y=d.uniform(-0.08, -0.02),
        eye_w=d.uniform(0.075, 0.095),
        eye_h=t.eye_h,
        iris_r=d.uniform(0.03, 0.04),
        iris_rgb=t.iris_rgb,
        brow_dx=d.uniform(-0.01, 0.02),
        brow_dy=d.uniform(0.075, 0.1),
        brow_len=d.uniform(0.08, 0.11),
        brow_thick=t.brow_thick,
        bushy=t.bushy,
        brow_bend=d.uniform(-3.0, 0.5),
        brow_tilt=d.uniform(-0.15, 0.15),
        brow_rgb=t.bald_brow_rgb if t.bald else scale_rgb(t.hair_rgb, 0.75),
        nose_y=d.uniform(0.05, 0.09),
        nose_len=d.uniform(0.08, 0.11),
        nose_w=t.nose_w,
        big_nose=t.big_nose,
        mouth_y=d.uniform(0.3, 0.36),
        mouth_w=d.uniform(0.12, 0.17),
        upper_lip=d.uniform(0.035, 0.055),
        lower_lip=d.uniform(0.04, 0.065),
        mouth_bend=d.uniform(-0.5, 0.5),
        lip_rgb=mix_rgb(t.skin_rgb, _LIP_RED, t.lip_mix),
        skin_rgb=t.skin_rgb,
        pale=t.pale,
        bald=t.bald,
        long_hair=d.bernoulli(0.5),
        hair_volume=d.uniform(0.05, 0.14),
        bangs=t.bangs,
        bangs_depth=d.uniform(0.2, 0.32),
        bangs_tilt=d.uniform(-0.3, 0.3),
        bangs_bend=d.uniform(-1.0, 1.0),
        hair_rgb=t.hair_rgb,
        dark_hair=t.hair_index in _DARK_HAIR and not t.bald,
        mole=t.mole,
        mole_x=d.uniform(-0.3, 0.3),
        mole_y=d.uniform(0.0, 0.3),
        mole_r=d.uniform(0.014, 0.02),
    )


# --------------------------------------------------------------------------------------------
# Nuisance
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Nuisance:
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


NEUTRAL_BACKGROUND = (128.0, 128.0, 128.0)
_NEUTRAL_CLOTHES = (96.0, 98.0, 110.0)

FRONTAL = Nuisance(
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
"""The canonical view: frontal, neutral light and expression, no occlusion, plain, no noise."""

# Multi-PIE-like expressions: neutral, smile, surprise, squint, scream.
_EXPRESSION_WEIGHTS = (0.35, 0.25, 0.15, 0.1, 0.15)


def _draw_expression(d: Draws) -> tuple[float, float, float, float]:
    """``(smile, mouth_open, brow_raise, eye_open)`` of a drawn expression.

    The parameters of every expression are drawn whichever is chosen, so the draws after this
    one do not depend on the expression.
    """
    expression = d.choice(_EXPRESSION_WEIGHTS)
    smile_amount = d.uniform(0.7, 1.0)
    smile_opens = d.bernoulli(0.4)
    smile_open = d.uniform(0.03, 0.06) * smile_opens
    surprise_open, surprise_raise = d.uniform(0.05, 0.09), d.uniform(0.03, 0.05)
    squint = d.uniform(0.5, 0.62)
    scream_open = d.uniform(0.08, 0.12)
    if expression == 1:
        return smile_amount, smile_open, 0.0, 1.0
    if expression == 2:
        return 0.0, surprise_open, surprise_raise, 1.15
    if expression == 3:
        return 0.0, 0.0, -0.01, squint
    if expression == 4:
        return 0.0, scream_open, 0.02, squint
    return 0.0, 0.0, 0.0, 1.0


def _draw_blob(d: Draws) -> tuple[float, float, float, float, RGB]:
    """A background clutter ellipse: centre, half axes, colour."""
    return (
        d.uniform(-0.9, 0.9),
        d.uniform(-1.0, 1.0),
        d.uniform(0.15, 0.5),
        d.uniform(0.15, 0.5),
        d.colour((128.0, 128.0, 128.0), 110.0),
    )


def nuisance_params(d: Draws, rng: np.random.Generator) -> Nuisance:
    """Draw one image's nuisance from ``d``; the background field comes from ``rng`` after it."""
    yaw = YAW_ANGLES[d.choice([1.0] * len(YAW_ANGLES))]
    illumination = d.choice([1.0] * NUM_ILLUMINATIONS)
    rotation = math.radians(d.uniform(-12.0, 12.0))
    shift_x, shift_y = d.uniform(-0.1, 0.1), d.uniform(-0.1, 0.1)
    scale = d.uniform(0.88, 1.08)
    smile, mouth_open, brow_raise, eye_open = _draw_expression(d)
    occluder = d.choice((0.76, 0.12, 0.12))
    glasses_rgb = d.colour((30.0, 30.0, 36.0), 12.0)
    block = (
        d.uniform(-0.6, 0.6),
        d.uniform(-0.6, 0.6),
        d.uniform(0.12, 0.3),
        d.uniform(0.12, 0.3),
    )
    block_rgb = d.colour((128.0, 128.0, 128.0), 120.0)
    blobs = (_draw_blob(d), _draw_blob(d))
    clothes_rgb = d.colour((128.0, 128.0, 128.0), 110.0)
    gain = d.uniform(0.8, 1.2)
    tint = (d.uniform(0.92, 1.08), d.uniform(0.92, 1.08), d.uniform(0.92, 1.08))
    contrast = d.uniform(0.8, 1.2)
    noise_std = d.uniform(2.0, 7.0)
    background = rng.uniform(20.0, 235.0, size=(3, 4, 4)).astype(np.float32)
    return Nuisance(
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


def draw_nuisance(seed: int, identity: int, sample: int) -> tuple[Nuisance, np.random.Generator]:
    """Nuisance of image ``sample`` of ``identity``, and the generator for its pixel noise."""
    rng = np.random.default_rng([seed, identity, sample, 0x5A])
    return nuisance_params(Draws(rng, NUISANCE_DRAWS), rng), rng


# --------------------------------------------------------------------------------------------
# Attributes
# --------------------------------------------------------------------------------------------


def attributes(ident: Identity, nuis: Nuisance) -> Tensor:
    """The binary :data:`ATTRIBUTE_NAMES` of an image, as drawn (int64)."""
    direction = ILLUMINATION_DIRECTIONS[nuis.illumination]
    values = (
        ident.male,
        ident.dark_hair,
        ident.bangs,
        ident.bald,
        ident.pale,
        ident.big_nose,
        ident.eye_h * nuis.eye_open < NARROW_EYE_HEIGHT,
        ident.bushy,
        nuis.smile > 0.5,
        nuis.mouth_open > 0.0,
        nuis.occluder == 1,
        direction is not None and abs(direction[0]) >= 45.0,
    )
    return torch.tensor(values, dtype=torch.int64)
