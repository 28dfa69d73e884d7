"""Pixels of a synthetic face: compositing, shading, occluder and camera; :func:`render_face`.

A face is a stack of soft-edged shapes (hair, face, brows, eyes, nose, lips, ...) drawn from
per-identity parameters and then disturbed by per-image nuisance: yaw, in-plane pose, lighting,
expression, occlusion, background clutter and pixel noise. Identity survives the nuisance (so a
network can learn it) while the nuisance moves the pixels far more than identity does (so raw
pixels are a poor identity cue). Everything is a pure function of ``(seed, identity, sample)``.

``target`` views are the canonical frontal view under neutral light that FIP (Zhu, Luo, Wang,
Tang, "Deep Learning Identity-Preserving Face Space", ICCV 2013) reconstructs. A positive light
azimuth lights the face from the image's right; the random-block occluder is labelled
background, as HELEN has no occluder label.
"""

from __future__ import annotations

import dataclasses
import functools
import math

import numpy as np
import torch
from torch import Tensor

from lightning_deepvision.datasets.synthetic._checks import check_index, check_size
from lightning_deepvision.datasets.synthetic.drawing import (
    BLUE,
    CX,
    LABEL,
    RED,
    A,
    apply_camera,
    base_grid,
    box_coverage,
    composite,
    coverage,
    field_canvas,
    frame_coordinates,
    light_vector,
    plain_canvas,
    shape_window,
)
from lightning_deepvision.datasets.synthetic.face_model import (
    FRONTAL,
    ILLUMINATION_DIRECTIONS,
    NEUTRAL_BACKGROUND,
    Identity,
    Nuisance,
    attributes,
    draw_nuisance,
    identity_params,
)
from lightning_deepvision.datasets.synthetic.face_scene import BACKGROUND, Scene, build_scene

__all__ = ["render_face"]


def render_face(
    identity: int,
    sample: int,
    size: tuple[int, int] = (64, 56),
    seed: int = 0,
    *,
    frontal: bool = False,
    yaw: float | None = None,
    illumination: int | None = None,
) -> dict[str, Tensor]:
    """Render image ``sample`` of person ``identity``: a pure function of its arguments.

    Identity parameters (face and jaw shape, eyes, brows, nose, mouth, skin tone, hair colour and
    style, a mole) depend on ``(seed, identity)`` only; nuisance (yaw, illumination, in-plane
    pose, expression, occlusion, background clutter, clothes, exposure, noise) on
    ``(seed, identity, sample)``. Rendering is vectorised numpy on one thread (no intra-op
    thread pool to contend with the training step), well under a millisecond at 64x56.

    Args:
        identity: Global identity id (``>= 0``); see
            :func:`~lightning_deepvision.datasets.synthetic.global_identity` for the split
            scheme.
        sample: Image index of that identity (``>= 0``); ignored when ``frontal``.
        size: ``(height, width)``, each at least 16. From 55x47 up every face part of a
            frontal view covers at least one pixel; smaller images may lose thin parts.
        seed: Generator seed (``>= 0``); a different seed draws different people.
        frontal: Render the canonical view instead: yaw 0, neutral illumination
            (:data:`~lightning_deepvision.datasets.synthetic.NEUTRAL_ILLUMINATION`), neutral
            expression, no occlusion, centred, plain background, no noise. It depends on
            ``(seed, identity)`` only (and on ``yaw`` when given: the canonical conditions seen
            from that pose).
        yaw: Render the same image at this yaw (degrees) instead of the drawn one, everything
            else unchanged: the same face seen from several cameras, as in Multi-PIE's
            multi-view recordings (for MVP's view targets).
        illumination: Render it under this illumination id
            (:data:`~lightning_deepvision.datasets.synthetic.ILLUMINATION_DIRECTIONS`) instead of
            the drawn one.

    Returns:
        ``image`` (uint8, 3xHxW), ``mask`` (int64 HxW,
        :data:`~lightning_deepvision.datasets.face_parts.HELEN_LABELS`), ``attributes`` (int64,
        one 0/1 per :data:`~lightning_deepvision.datasets.synthetic.ATTRIBUTE_NAMES`), ``yaw``
        (float32 scalar, degrees) and ``illumination`` (int64 scalar id,
        :data:`~lightning_deepvision.datasets.synthetic.ILLUMINATION_DIRECTIONS`).

    Raises:
        ValueError: On a negative or non-integer ``identity``, ``sample`` or ``seed``, or a bad
            ``size``.
    """
    identity = check_index("identity", identity)
    sample = check_index("sample", sample)
    seed = check_index("seed", seed)
    height, width = check_size(size)
    ident = identity_params(seed, identity)
    if frontal:
        canonical = FRONTAL if yaw is None else dataclasses.replace(FRONTAL, yaw=float(yaw))
        return _render(ident, canonical, height, width, None)
    nuis, rng = draw_nuisance(seed, identity, sample)
    if yaw is not None or illumination is not None:
        # Replaced after the draw, so the rest of the nuisance (and the noise) stays the same.
        nuis = dataclasses.replace(
            nuis,
            yaw=nuis.yaw if yaw is None else float(yaw),
            illumination=nuis.illumination if illumination is None else int(illumination),
        )
    return _render(ident, nuis, height, width, rng)


@functools.lru_cache(maxsize=2048)
def frontal_image(identity: int, height: int, width: int, seed: int) -> Tensor:
    """The canonical frontal view of ``identity`` (cached: every sample of a person shares it).

    Callers that hand the tensor out must clone it, so that nobody edits the cached copy.
    """
    return render_face(identity, 0, (height, width), seed, frontal=True)["image"]


def _render(
    ident: Identity, nuis: Nuisance, height: int, width: int, rng: np.random.Generator | None
) -> dict[str, Tensor]:
    scene = build_scene(ident, nuis)
    x_img, y_img = base_grid(height, width)
    # Pixel size in the face frame, whose units shrink and grow with the pose's scale.
    pixel = 2.0 / height / nuis.scale
    # The face frame: image coordinates undone by the in-plane pose (shift, rotation, scale).
    x_face, y_face = frame_coordinates(
        x_img, y_img, rotation=nuis.rotation, scale=nuis.scale, shift=(nuis.shift_x, nuis.shift_y)
    )
    if nuis.background is None:
        image = plain_canvas(NEUTRAL_BACKGROUND, height, width)
    else:  # a coarse colour field, upsampled
        image = field_canvas(nuis.background, height, width)
    mask = np.zeros((height, width), dtype=np.int64)

    # The head covers much of the image and is drawn everywhere.
    head_table = scene.head
    head_alpha = coverage(head_table, x_face, y_face, pixel, None)
    head_labels = head_table[:, LABEL].astype(np.int64)
    weights = composite(head_alpha, head_table[:, RED : BLUE + 1], head_labels, image, mask)
    # Only the person is shaded as a curved surface; labelled shapes make up the head.
    head = weights[head_labels > BACKGROUND].sum(0)

    nose = _draw_features(scene, nuis, x_face, y_face, pixel, head_alpha, image, mask)
    if scene.block is not None:  # an axis-aligned block in front of everything
        block = box_coverage(x_img, y_img, scene.block, height)
        image += block * (np.asarray(nuis.block_rgb, dtype=np.float32)[:, None, None] - image)
        mask[block > 0.5] = BACKGROUND
        head *= 1.0 - block

    image *= _shading(ident, nuis, x_face, y_face, head, *nose)
    pixels = apply_camera(
        image,
        gain=nuis.gain,
        tint=nuis.tint,
        contrast=nuis.contrast,
        noise_std=nuis.noise_std,
        rng=rng,
    )
    return {
        "image": torch.from_numpy(pixels),
        "mask": torch.from_numpy(mask),
        "attributes": attributes(ident, nuis),
        "yaw": torch.tensor(nuis.yaw, dtype=torch.float32),
        "illumination": torch.tensor(nuis.illumination, dtype=torch.int64),
    }


def _draw_features(
    scene: Scene,
    nuis: Nuisance,
    x_face: np.ndarray,
    y_face: np.ndarray,
    pixel: float,
    head_alpha: np.ndarray,
    image: np.ndarray,
    mask: np.ndarray,
) -> tuple[np.ndarray, float, float]:
    """Draw the features over ``image``/``mask`` (in place), clipped to the face.

    The features are small: they are drawn only in the window that holds them.

    Returns:
        The nose's coverage over the whole image, its centre x and half width (face frame).
    """
    height, width = mask.shape
    nose_alpha = np.zeros((height, width), dtype=np.float32)
    window = shape_window(
        scene.features,
        height,
        width,
        rotation=nuis.rotation,
        scale=nuis.scale,
        shift=(nuis.shift_x, nuis.shift_y),
    )
    if window is None:
        return nose_alpha, 0.0, 1.0
    r0, r1, c0, c1 = window
    table = scene.features
    face_alpha = head_alpha[scene.face_row, r0:r1, c0:c1]
    alpha = coverage(table, x_face[r0:r1, c0:c1], y_face[r0:r1, c0:c1], pixel, face_alpha)
    labels = table[:, LABEL].astype(np.int64)
    composite(alpha, table[:, RED : BLUE + 1], labels, image[:, r0:r1, c0:c1], mask[r0:r1, c0:c1])
    nose_alpha[r0:r1, c0:c1] = alpha[scene.nose_row]
    return nose_alpha, float(table[scene.nose_row, CX]), float(table[scene.nose_row, A])


def _shading(
    ident: Identity,
    nuis: Nuisance,
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
    lx, ly, lz = light_vector(*direction, nuis.rotation)
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
