"""A face as shape tables: the head over the whole image, the features within the face.

The scene is built in the face frame (it moves with the in-plane pose) from a person's
:class:`~lightning_deepvision.datasets.synthetic.face_model.Identity` and an image's
:class:`~lightning_deepvision.datasets.synthetic.face_model.Nuisance`; shapes are listed back to
front and labelled with the HELEN face-parsing labels
(:data:`~lightning_deepvision.datasets.face_parts.HELEN_LABELS`). Yaw re-projects the shapes on
the face surface (:func:`project_yaw`).

Conventions: "left"/"right" in the labels mean the image's left/right (the viewer's), positive
yaw turns the face towards the image's right (its features move right). Occluders (sunglasses)
are labelled background, as HELEN has no occluder label.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np

from lightning_deepvision.datasets.face_parts import HELEN_LABELS
from lightning_deepvision.datasets.synthetic.drawing import (
    BEND,
    BIG,
    BOXU,
    CLIP_PARENT,
    CX,
    DZ,
    SURF,
    TILT,
    A,
    Shapes,
    scale_rgb,
)
from lightning_deepvision.datasets.synthetic.face_model import LIP_LINE, Identity, Nuisance

# Mask labels (HELEN's order); occluders and clutter are background.
BACKGROUND = HELEN_LABELS.index("background")
SKIN = HELEN_LABELS.index("face_skin")
LEFT_BROW, RIGHT_BROW = HELEN_LABELS.index("left_eyebrow"), HELEN_LABELS.index("right_eyebrow")
LEFT_EYE, RIGHT_EYE = HELEN_LABELS.index("left_eye"), HELEN_LABELS.index("right_eye")
NOSE = HELEN_LABELS.index("nose")
UPPER_LIP = HELEN_LABELS.index("upper_lip")
INNER_MOUTH = HELEN_LABELS.index("inner_mouth")
LOWER_LIP = HELEN_LABELS.index("lower_lip")
HAIR = HELEN_LABELS.index("hair")

# Feature shapes clipped to the face (drawn before them, in the head table).
_FACE_PARENT = CLIP_PARENT


@dataclass(frozen=True)
class Scene:
    """One image as shapes: the head over the whole image, the features within the face."""

    head: np.ndarray  # background clutter, neck, clothes, hair, face, bangs; back to front
    features: np.ndarray  # mole, brows, eyes, nose, mouth, sunglasses; drawn over the head
    face_row: int  # row of the face in ``head``
    nose_row: int  # row of the nose in ``features``
    block: tuple[float, float, float, float] | None  # image-frame occluder (cx, cy, half w, h)


def build_scene(ident: Identity, nuis: Nuisance) -> Scene:
    """The shapes of one image of ``ident`` under ``nuis``, yaw already applied."""
    head = Shapes()
    face = _add_head(head, ident, nuis)
    s = Shapes()
    if ident.mole:  # below the eyes, so bangs never cover it
        s.add(
            ident.mole_x,
            ident.face_cy + ident.mole_y,
            ident.mole_r,
            ident.mole_r,
            SKIN,
            (70.0, 45.0, 35.0),
            parent=_FACE_PARENT,
            surface=True,
        )
    _add_brows_and_eyes(s, ident, nuis)
    nose = _add_nose(s, ident)
    _add_mouth(s, ident, nuis)
    if nuis.occluder == 1:
        _add_sunglasses(s, ident, nuis)
    features = s.table()
    project_yaw(features, nuis.yaw, ident.face_a * 1.15)
    return Scene(
        head=head.table().astype(np.float32),
        features=features.astype(np.float32),
        face_row=face,
        nose_row=nose,
        block=nuis.block if nuis.occluder == 2 else None,
    )


def _add_head(head: Shapes, ident: Identity, nuis: Nuisance) -> int:
    """Clutter, neck, shoulders, hair, the face and bangs; returns the face's row."""
    # Clutter is random anyway, so it may as well live in the face frame with everything else.
    for cx, cy, a, b, rgb in nuis.blobs:
        head.add(cx, cy, a, b, BACKGROUND, rgb)
    fy = ident.face_cy
    a, b = ident.face_a, ident.face_b
    sin_yaw = math.sin(math.radians(nuis.yaw))
    skin = ident.skin_rgb

    head.add(0.0, fy + 0.8 * b, 0.5 * a, 0.4, BACKGROUND, scale_rgb(skin, 0.82))  # neck
    head.add(0.0, fy + b + 0.6, 0.95, 0.42, BACKGROUND, nuis.clothes_rgb)  # shoulders
    if not ident.bald:
        # Turning the head uncovers the hair at the back of the head on the near side.
        hx = -0.1 * sin_yaw
        hy = fy - 0.12
        hair_a, hair_b = a + ident.hair_volume, 0.85 * b + ident.hair_volume
        if ident.long_hair:
            head.add(hx, hy, hair_a, hair_b, HAIR, ident.hair_rgb)
            head.add(hx, fy + 0.2, 1.25 * hair_a, 0.8, HAIR, ident.hair_rgb, boxu=hair_a, vlo=-0.2)
        else:
            head.add(hx, hy, hair_a, hair_b, HAIR, ident.hair_rgb, vhi=0.05)
    face = head.add(
        0.04 * sin_yaw,
        fy,
        a * (1.0 - 0.08 * abs(sin_yaw)),
        b,
        SKIN,
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
            HAIR,
            ident.hair_rgb,
            tilt=ident.bangs_tilt,
            bend=ident.bangs_bend,
            parent=face,
        )
    return face


def _add_brows_and_eyes(s: Shapes, ident: Identity, nuis: Nuisance) -> None:
    eye_y = ident.face_cy + ident.eye_y
    brow_y = eye_y - ident.brow_dy - nuis.brow_raise
    brow_x = ident.eye_sep + ident.brow_dx
    for side, label in ((-1.0, LEFT_BROW), (1.0, RIGHT_BROW)):
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
    for side, label in ((-1.0, LEFT_EYE), (1.0, RIGHT_EYE)):
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


def _add_nose(s: Shapes, ident: Identity) -> int:
    """The nose and its nostrils; returns the nose's row (shading needs it)."""
    # Narrow at the bridge, widening to the nostrils; it stands out of the face, so yaw moves it
    # further than the eyes.
    skin = ident.skin_rgb
    nose_cy = ident.face_cy + ident.nose_y
    nose_top = 0.4 * ident.nose_w
    nose = s.add(
        0.0,
        nose_cy,
        nose_top,
        ident.nose_len,
        NOSE,
        scale_rgb(skin, 0.88),
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
            NOSE,
            scale_rgb(skin, 0.5),
            parent=nose,
            dz=0.6 * ident.nose_len,
            surface=True,
        )
    return nose


def _add_mouth(s: Shapes, ident: Identity, nuis: Nuisance) -> None:
    # Half-ellipse lips around a lip line that expressions open; a smile bends it up.
    gap = LIP_LINE + nuis.mouth_open
    my = ident.face_cy + ident.mouth_y
    mw = ident.mouth_w * (1.0 + 0.12 * nuis.smile)
    bend = ident.mouth_bend - 2.2 * nuis.smile
    lip = functools.partial(s.add, bend=bend, dz=0.02, surface=True)
    lip(0.0, my + gap / 2, 0.92 * mw, ident.lower_lip, LOWER_LIP, ident.lip_rgb, vlo=0.0)
    lip(0.0, my - gap / 2, mw, ident.upper_lip, UPPER_LIP, scale_rgb(ident.lip_rgb, 0.92), vhi=0.0)
    inner = lip(0.0, my, 0.97 * mw, gap / 2, INNER_MOUTH, (60.0, 20.0, 25.0))
    if nuis.mouth_open > 0.0:  # teeth
        teeth = (232.0, 226.0, 214.0)
        lip(0.0, my - gap / 2, 0.8 * mw, 0.4 * gap, INNER_MOUTH, teeth, parent=inner)


def _add_sunglasses(s: Shapes, ident: Identity, nuis: Nuisance) -> None:
    # Two lenses and a bridge, standing out of the face.
    eye_y = ident.face_cy + ident.eye_y
    for side in (-1.0, 1.0):
        s.add(
            side * ident.eye_sep,
            eye_y,
            1.55 * ident.eye_w,
            0.075,
            BACKGROUND,
            nuis.glasses_rgb,
            dz=0.06,
            surface=True,
        )
    s.add(
        0.0,
        eye_y - 0.02,
        1.5 * ident.eye_sep,
        0.05,
        BACKGROUND,
        nuis.glasses_rgb,
        boxu=ident.eye_sep,
        vlo=-0.012,
        vhi=0.012,
        dz=0.06,
        surface=True,
    )


def project_yaw(table: np.ndarray, yaw_deg: float, radius: float) -> None:
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
    table[rows, BOXU] = np.where(boxu < BIG, boxu * factor, boxu)
    table[rows, TILT] /= factor
    table[rows, BEND] /= factor**2
