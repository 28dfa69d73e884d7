"""Drawing primitives of the procedural renderers: random draws, soft-edged shapes, a camera.

A scene is a table of soft-edged shapes (one row each, columns below) in a *frame* whose unit is
half the image height, y pointing down and the origin at the image centre. :func:`coverage`
turns a table into anti-aliased coverage maps at the pixel centres of :func:`base_grid` (or of a
posed frame, :func:`frame_coordinates`), :func:`composite` draws them back to front, and
:func:`apply_camera` turns the result into 8-bit pixels. Everything is vectorised numpy in
float32 on one thread, so rendering never contends with a training step for intra-op threads.

None of this knows what is drawn; the face renderer and any other synthetic scene share it.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence

import numpy as np

RGB = tuple[float, float, float]


class Draws:
    """Hands out consecutive uniforms from one vector drawn up front (one RNG call per render).

    A parameter set is drawn as a fixed sequence of uniforms: draw every parameter
    unconditionally and in the same order, and no parameter shifts when an unrelated one
    toggles.

    Args:
        rng: Generator the uniforms are drawn from (``n`` of them, at once).
        n: Most uniforms this draw will consume.
    """

    def __init__(self, rng: np.random.Generator, n: int) -> None:
        self._u = rng.random(n).tolist()
        self._i = 0

    def uniform(self, lo: float, hi: float) -> float:
        """The next uniform, scaled to ``[lo, hi)``."""
        u = self._u[self._i]
        self._i += 1
        return lo + (hi - lo) * u

    def bernoulli(self, p: float) -> bool:
        """True with probability ``p`` (one uniform)."""
        return self.uniform(0.0, 1.0) < p

    def choice(self, weights: Sequence[float]) -> int:
        """Index drawn with probability proportional to ``weights`` (one uniform)."""
        u = self.uniform(0.0, sum(weights))
        for i, w in enumerate(weights):
            u -= w
            if u < 0.0:
                return i
        return len(weights) - 1

    def colour(self, base: Sequence[float], jitter: float) -> RGB:
        """``base`` with each channel moved by up to ``±jitter`` (three uniforms)."""
        r, g, b = (c + self.uniform(-jitter, jitter) for c in base)
        return (r, g, b)


def mix_rgb(a: Sequence[float], b: Sequence[float], t: float) -> RGB:
    """Linear blend of two colours, ``t = 0`` giving ``a`` and ``t = 1`` giving ``b``."""
    return (a[0] + (b[0] - a[0]) * t, a[1] + (b[1] - a[1]) * t, a[2] + (b[2] - a[2]) * t)


def scale_rgb(c: Sequence[float], s: float) -> RGB:
    """``c`` darkened (``s < 1``) or brightened by a factor."""
    return (c[0] * s, c[1] * s, c[2] * s)


# --------------------------------------------------------------------------------------------
# Shape tables
# --------------------------------------------------------------------------------------------

# Columns of a shape table. Every shape is an ellipse (centre CX, CY; half axes A, B) in local
# coordinates u = x - CX, v = y - CY - TILT*u - BEND*u^2 (a sheared, bent ellipse draws brows and
# smiles), whose half width is scaled by 1 + TAPER*(max(v/B, T0) - T0) (jaw, nose), intersected
# with the box |u| <= BOXU, VLO <= v <= VHI (rectangles, half lips). PARENT clips a shape to
# another row of the same table (an iris to its eye); NO_PARENT: unclipped, CLIP_PARENT: clipped
# to the coverage passed to :func:`coverage` (a face's features to the face drawn before them).
# SURF = 1 shapes lie on a curved surface that a change of view re-projects, DZ being how far
# they stand out of it.
(CX, CY, A, B, TILT, BEND, TAPER, T0, BOXU, VLO, VHI, PARENT, LABEL) = range(13)
RED, GREEN, BLUE, DZ, SURF = range(13, 18)
BIG = 1e3
"""Stands for "unbounded" in the box columns (frames span about ±1)."""
NO_PARENT = -1
CLIP_PARENT = -2


class Shapes:
    """Builds a shape table row by row (back to front); :meth:`add` returns the row index."""

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
        boxu: float = BIG,
        vlo: float = -BIG,
        vhi: float = BIG,
        parent: int = NO_PARENT,
        dz: float = 0.0,
        surface: bool = False,
    ) -> int:
        """Append one shape (columns as in the table layout above) and return its row."""
        row = [cx, cy, a, b, tilt, bend, taper, t0, boxu, vlo, vhi, float(parent), float(label)]
        self.rows.append([*row, rgb[0], rgb[1], rgb[2], dz, float(surface)])
        return len(self.rows) - 1

    def table(self) -> np.ndarray:
        """The rows as a ``K x 18`` float64 array."""
        return np.asarray(self.rows, dtype=np.float64).reshape(-1, SURF + 1)


# --------------------------------------------------------------------------------------------
# Grids
# --------------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=32)
def base_grid(height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Pixel-centre coordinates in units of half the image height (y down, origin at centre)."""
    half = height / 2.0
    y = ((np.arange(height, dtype=np.float32) + 0.5 - half) / half).astype(np.float32)
    x = ((np.arange(width, dtype=np.float32) + 0.5 - width / 2.0) / half).astype(np.float32)
    x_grid, y_grid = np.broadcast_arrays(x[None, :], y[:, None])
    return x_grid, y_grid


def frame_coordinates(
    x: np.ndarray,
    y: np.ndarray,
    *,
    rotation: float,
    scale: float,
    shift: tuple[float, float],
) -> tuple[np.ndarray, np.ndarray]:
    """Image coordinates ``(x, y)`` in the frame of an object posed in the image plane.

    The object's frame is rotated by ``rotation`` (radians), scaled by ``scale`` and moved by
    ``shift`` relative to the image; this undoes that pose.
    """
    cos_r, sin_r = math.cos(rotation) / scale, math.sin(rotation) / scale
    dx, dy = x - shift[0], y - shift[1]
    return cos_r * dx + sin_r * dy, cos_r * dy - sin_r * dx


def shape_window(
    table: np.ndarray,
    height: int,
    width: int,
    *,
    rotation: float,
    scale: float,
    shift: tuple[float, float],
) -> tuple[int, int, int, int] | None:
    """Pixel box ``(row0, row1, col0, col1)`` that holds every shape of ``table``, None if empty.

    ``table`` is in the frame posed by ``rotation``, ``scale`` and ``shift`` (see
    :func:`frame_coordinates`). Drawing small shapes only inside their window is several times
    cheaper than evaluating every shape on every pixel.
    """
    if len(table) == 0:
        return None
    cx, cy, tilt, bend = table[:, CX], table[:, CY], table[:, TILT], table[:, BEND]
    # Bounds of each (tapered, sheared, bent) ellipse, generous rather than tight.
    hx = table[:, A] * (1.0 + 2.0 * np.abs(table[:, TAPER]))
    hy = table[:, B] + (np.abs(bend) * hx + np.abs(tilt)) * hx
    corners_x = (float((cx - hx).min()), float((cx + hx).max()))
    corners_y = (float((cy - hy).min()), float((cy + hy).max()))
    cos_r, sin_r = math.cos(rotation), math.sin(rotation)
    half = height / 2.0
    cols, rows = [], []
    for qx in corners_x:
        for qy in corners_y:
            x = scale * (cos_r * qx - sin_r * qy) + shift[0]
            y = scale * (sin_r * qx + cos_r * qy) + shift[1]
            cols.append(x * half + width / 2.0 - 0.5)
            rows.append(y * half + height / 2.0 - 0.5)
    # Two pixels of margin for the anti-aliased edge.
    c0, c1 = max(math.floor(min(cols)) - 2, 0), min(math.ceil(max(cols)) + 3, width)
    r0, r1 = max(math.floor(min(rows)) - 2, 0), min(math.ceil(max(rows)) + 3, height)
    if c1 <= c0 or r1 <= r0:
        return None
    return r0, r1, c0, c1


@functools.lru_cache(maxsize=32)
def upsampling(size_out: int, size_in: int) -> np.ndarray:
    """``size_out x size_in`` bilinear interpolation weights (half-pixel centres, clamped)."""
    centre = (np.arange(size_out) + 0.5) * size_in / size_out - 0.5
    centre = np.clip(centre, 0.0, size_in - 1.0)
    low = np.minimum(np.floor(centre).astype(np.int64), size_in - 2)
    frac = centre - low
    weights = np.zeros((size_out, size_in), dtype=np.float32)
    weights[np.arange(size_out), low] = 1.0 - frac
    weights[np.arange(size_out), low + 1] = frac
    return weights


# --------------------------------------------------------------------------------------------
# Canvas
# --------------------------------------------------------------------------------------------


def plain_canvas(rgb: Sequence[float], height: int, width: int) -> np.ndarray:
    """A ``3 x height x width`` float32 image of one colour."""
    image = np.empty((3, height, width), dtype=np.float32)
    image[:] = np.asarray(rgb, dtype=np.float32)[:, None, None]
    return image


def field_canvas(field: np.ndarray, height: int, width: int) -> np.ndarray:
    """A ``3 x height x width`` image bilinearly upsampled from a coarse ``3 x h x w`` field."""
    rows = np.einsum("hi,cij->chj", upsampling(height, field.shape[1]), field)
    return np.einsum("chj,wj->chw", rows, upsampling(width, field.shape[2]))


# --------------------------------------------------------------------------------------------
# Coverage and compositing
# --------------------------------------------------------------------------------------------


def smoothstep(t: np.ndarray) -> np.ndarray:
    """``3t² - 2t³`` of ``t`` clipped to ``[0, 1]`` (in place): a soft one-pixel edge."""
    t = np.clip(t, 0.0, 1.0, out=t)
    return t * t * (3.0 - 2.0 * t)


def coverage(
    table: np.ndarray, x: np.ndarray, y: np.ndarray, pixel: float, clip: np.ndarray | None
) -> np.ndarray:
    """Anti-aliased coverage (K x h x w) of each shape of ``table`` at the points ``(x, y)``.

    Args:
        table: Shape table (see :class:`Shapes`).
        x: Point coordinates in the table's frame (h x w).
        y: As ``x``.
        pixel: Size of a pixel in the table's frame: the width of the soft edge.
        clip: Coverage at the same points that ``CLIP_PARENT`` shapes are clipped to (None:
            they are not clipped).

    Returns:
        The coverage of every shape, float32 in ``[0, 1]``.
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
    alpha = smoothstep(dist)
    # Clip children to parents: index 0 is the clip coverage, 1 "no parent", 2.. the table's
    # own shapes.
    parent = table[:, PARENT].astype(np.int64)
    clipped = np.flatnonzero(parent != NO_PARENT)
    if len(clipped):
        ones = np.ones_like(alpha[:1])
        sources = np.concatenate((ones if clip is None else clip[None], ones, alpha))
        alpha[clipped] *= sources[parent[clipped] + 2]
    return alpha


def box_coverage(
    x: np.ndarray, y: np.ndarray, box: tuple[float, float, float, float], height: int
) -> np.ndarray:
    """Anti-aliased coverage of an axis-aligned box ``(cx, cy, half width, half height)``.

    ``x`` and ``y`` are image coordinates (:func:`base_grid`) of an image ``height`` pixels
    high, so the edge is one pixel wide.
    """
    bx, by, bw, bh = box
    dist = np.maximum(np.abs(x - bx) - bw, np.abs(y - by) - bh)
    dist *= -height / 2.0
    dist += 0.5
    return smoothstep(dist)


def composite(
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


# --------------------------------------------------------------------------------------------
# Light and camera
# --------------------------------------------------------------------------------------------


def light_vector(azimuth: float, elevation: float, rotation: float) -> tuple[float, float, float]:
    """Unit vector towards a light, in the frame of an object rotated by ``rotation``.

    Args:
        azimuth: Degrees; positive lights the scene from the image's right.
        elevation: Degrees; positive lights it from above.
        rotation: In-plane rotation of the object's frame (radians).

    Returns:
        ``(lx, ly, lz)``: x right, y down, z towards the camera.
    """
    azimuth, elevation = math.radians(azimuth), math.radians(elevation)
    # Light in the image frame (y down), then turned into the object's frame.
    lx = math.sin(azimuth) * math.cos(elevation)
    ly = -math.sin(elevation)
    lz = math.cos(azimuth) * math.cos(elevation)
    cos_r, sin_r = math.cos(rotation), math.sin(rotation)
    lx, ly = cos_r * lx + sin_r * ly, -sin_r * lx + cos_r * ly
    return lx, ly, lz


def apply_camera(
    image: np.ndarray,
    *,
    gain: float,
    tint: Sequence[float],
    contrast: float,
    noise_std: float,
    rng: np.random.Generator | None,
) -> np.ndarray:
    """Exposure, white balance, contrast and sensor noise, then 8-bit quantisation.

    Args:
        image: ``3 x H x W`` float32 radiance, modified in place.
        gain: Exposure factor.
        tint: Per-channel white-balance factors.
        contrast: Contrast about mid-grey (128).
        noise_std: Standard deviation of the sensor noise (grey levels).
        rng: Noise source; None renders without noise.

    Returns:
        The uint8 image.
    """
    factor = np.asarray(tint, dtype=np.float32)[:, None, None] * (gain * contrast)
    image *= factor
    image += 128.0 * (1.0 - contrast)
    if rng is not None and noise_std > 0.0:
        # Uniform noise of the same standard deviation: four times cheaper to draw than normal.
        noise = rng.random(image.shape, dtype=np.float32)
        noise -= 0.5
        noise *= noise_std * math.sqrt(12.0)
        image += noise
    np.clip(image, 0.0, 255.0, out=image)
    np.rint(image, out=image)
    return image.astype(np.uint8)
