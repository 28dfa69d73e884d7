from __future__ import annotations

import math

import numpy as np
import pytest

from lightning_deepvision.datasets.synthetic import drawing
from lightning_deepvision.datasets.synthetic.drawing import (
    CLIP_PARENT,
    Draws,
    Shapes,
    apply_camera,
    base_grid,
    box_coverage,
    composite,
    coverage,
    frame_coordinates,
    light_vector,
    shape_window,
    smoothstep,
    upsampling,
)

H, W = 64, 56
PIXEL = 2.0 / H  # one pixel in units of half the image height


def _grid() -> tuple[np.ndarray, np.ndarray]:
    return base_grid(H, W)


# ------------------------------------------------------------------------------------------
# Draws
# ------------------------------------------------------------------------------------------


def test_draws_consume_the_vector_in_order() -> None:
    u = np.random.default_rng(3).random(8)
    d = Draws(np.random.default_rng(3), 8)
    assert d.uniform(2.0, 4.0) == pytest.approx(2.0 + 2.0 * u[0])
    assert d.bernoulli(0.5) == (u[1] < 0.5)
    assert d.choice([1.0, 3.0]) == int(u[2] * 4.0 >= 1.0)
    assert d.colour((10.0, 20.0, 30.0), 5.0) == pytest.approx(
        tuple(c + (-5.0 + 10.0 * x) for c, x in zip((10.0, 20.0, 30.0), u[3:6], strict=True))
    )
    assert d.uniform(0.0, 1.0) == pytest.approx(u[6])


def test_draws_choice_follows_the_weights() -> None:
    d = Draws(np.random.default_rng(0), 20_000)
    counts = np.bincount([d.choice((0.5, 0.3, 0.2)) for _ in range(20_000)], minlength=3)
    assert counts / counts.sum() == pytest.approx([0.5, 0.3, 0.2], abs=0.015)


def test_draws_refuse_to_run_past_their_vector() -> None:
    d = Draws(np.random.default_rng(0), 1)
    d.uniform(0.0, 1.0)
    with pytest.raises(IndexError):
        d.uniform(0.0, 1.0)


# ------------------------------------------------------------------------------------------
# Grids
# ------------------------------------------------------------------------------------------


def test_base_grid_is_centred_in_half_heights() -> None:
    x, y = _grid()
    assert x.shape == y.shape == (H, W) and x.dtype == np.float32
    np.testing.assert_allclose(x[0], -x[0, ::-1], atol=1e-6)
    np.testing.assert_allclose(y[:, 0], -y[::-1, 0], atol=1e-6)
    np.testing.assert_allclose(np.diff(x[0]), PIXEL, rtol=1e-5)
    np.testing.assert_allclose(np.diff(y[:, 0]), PIXEL, rtol=1e-5)
    assert y[0, 0] == pytest.approx(-1.0 + PIXEL / 2)  # y points down, top row near -1


def test_frame_coordinates_undo_the_pose() -> None:
    rotation, scale, shift = 0.3, 1.2, (0.1, -0.05)
    q = np.array([[-0.4, 0.2, 0.5]], dtype=np.float64), np.array([[0.3, -0.6, 0.0]])
    cos_r, sin_r = math.cos(rotation), math.sin(rotation)
    x = scale * (cos_r * q[0] - sin_r * q[1]) + shift[0]
    y = scale * (sin_r * q[0] + cos_r * q[1]) + shift[1]
    fx, fy = frame_coordinates(x, y, rotation=rotation, scale=scale, shift=shift)
    np.testing.assert_allclose(fx, q[0], atol=1e-12)
    np.testing.assert_allclose(fy, q[1], atol=1e-12)


def test_upsampling_is_bilinear() -> None:
    weights = upsampling(64, 4)
    assert weights.shape == (64, 4)
    np.testing.assert_allclose(weights.sum(1), 1.0, rtol=1e-6)
    ramp = weights @ np.arange(4.0)
    assert np.all(np.diff(ramp) >= -1e-6)  # monotone, clamped at the ends
    assert ramp[0] == 0.0 and ramp[-1] == 3.0
    # Between the first and the last coarse centre the ramp is linear.
    inner = (ramp > 0.0) & (ramp < 3.0)
    np.testing.assert_allclose(np.diff(ramp[inner]), 4 / 64, rtol=1e-5)


def test_field_canvas_of_a_constant_field_is_constant() -> None:
    field = np.full((3, 4, 4), 77.0, dtype=np.float32)
    field[1] = 12.0
    image = drawing.field_canvas(field, H, W)
    assert image.shape == (3, H, W)
    np.testing.assert_allclose(image[0], 77.0, rtol=1e-6)
    np.testing.assert_allclose(image[1], 12.0, rtol=1e-6)


# ------------------------------------------------------------------------------------------
# Coverage and compositing
# ------------------------------------------------------------------------------------------


def test_smoothstep() -> None:
    t = np.array([-1.0, 0.0, 0.25, 0.5, 0.75, 1.0, 2.0], dtype=np.float32)
    out = smoothstep(t.copy())
    np.testing.assert_allclose(out, [0.0, 0.0, 0.15625, 0.5, 0.84375, 1.0, 1.0], atol=1e-6)


def test_disc_coverage_has_its_area_and_a_one_pixel_edge() -> None:
    x, y = _grid()
    radius = 0.5
    shapes = Shapes()
    shapes.add(0.0, 0.0, radius, radius, 1, (255.0, 0.0, 0.0))
    alpha = coverage(shapes.table().astype(np.float32), x, y, PIXEL, None)[0]
    area = float(alpha.sum()) * PIXEL**2
    assert area == pytest.approx(math.pi * radius**2, rel=0.01)
    r = np.hypot(x, y)
    assert np.all(alpha[r < radius - PIXEL] == 1.0)
    assert np.all(alpha[r > radius + PIXEL] == 0.0)
    partial = (alpha > 0.0) & (alpha < 1.0)
    assert np.all(np.abs(r[partial] - radius) < PIXEL)


def test_box_columns_cut_the_ellipse() -> None:
    x, y = _grid()
    shapes = Shapes()
    shapes.add(0.0, 0.0, 0.5, 0.5, 1, (1.0, 1.0, 1.0), vhi=0.0)  # upper half only (y down)
    shapes.add(0.0, 0.0, 0.5, 0.5, 1, (1.0, 1.0, 1.0), boxu=0.1)  # a vertical band
    alpha = coverage(shapes.table(), x, y, PIXEL, None)
    assert np.all(alpha[0][y > PIXEL] == 0.0) and alpha[0][y < -PIXEL].max() == 1.0
    assert np.all(alpha[1][np.abs(x) > 0.1 + PIXEL] == 0.0)
    assert alpha[1][np.abs(x) < 0.1 - PIXEL].max() == 1.0


def test_children_are_clipped_to_their_parents() -> None:
    x, y = _grid()
    shapes = Shapes()
    parent = shapes.add(0.0, 0.0, 0.3, 0.3, 4, (1.0, 1.0, 1.0))
    shapes.add(0.3, 0.0, 0.2, 0.2, 5, (0.0, 0.0, 0.0), parent=parent)
    shapes.add(-0.3, 0.0, 0.2, 0.2, 6, (0.0, 0.0, 0.0), parent=CLIP_PARENT)
    free = Shapes()
    free.add(0.3, 0.0, 0.2, 0.2, 5, (0.0, 0.0, 0.0))
    clip = (x < -0.3).astype(np.float32)
    alpha = coverage(shapes.table(), x, y, PIXEL, clip)
    unclipped = coverage(free.table(), x, y, PIXEL, None)[0]
    np.testing.assert_allclose(alpha[1], unclipped * alpha[0], rtol=1e-6)
    assert alpha[1].sum() < 0.6 * unclipped.sum()
    assert np.all(alpha[2][x >= -0.3] == 0.0) and alpha[2].max() == 1.0


def test_composite_is_back_to_front_over() -> None:
    x, y = _grid()
    shapes = Shapes()
    shapes.add(-0.1, 0.0, 0.4, 0.4, 2, (200.0, 10.0, 10.0))
    shapes.add(0.2, 0.1, 0.3, 0.35, 3, (10.0, 200.0, 10.0))
    table = shapes.table()
    alpha = coverage(table, x, y, PIXEL, None)
    colours = table[:, drawing.RED : drawing.BLUE + 1]
    background = np.random.default_rng(0).uniform(0, 255, (3, H, W)).astype(np.float32)
    image, mask = background.copy(), np.zeros((H, W), dtype=np.int64)
    weights = composite(alpha, colours, np.array([2, 3]), image, mask)
    # The same as drawing one shape after the other.
    expected = background.copy()
    for a, c in zip(alpha, colours, strict=True):
        expected = expected * (1.0 - a) + a * np.asarray(c, dtype=np.float32)[:, None, None]
    np.testing.assert_allclose(image, expected, rtol=1e-4, atol=1e-3)
    assert weights.shape == alpha.shape
    # The front-most shape covering more than half a pixel labels it.
    np.testing.assert_array_equal(mask, np.where(alpha[1] > 0.5, 3, np.where(alpha[0] > 0.5, 2, 0)))


def test_shape_window_holds_every_covered_pixel() -> None:
    x, y = _grid()
    shapes = Shapes()
    shapes.add(-0.2, -0.1, 0.1, 0.05, 1, (1.0, 1.0, 1.0), tilt=0.4, bend=-2.0)
    shapes.add(0.15, 0.3, 0.12, 0.04, 1, (1.0, 1.0, 1.0), taper=0.5, t0=-1.0)
    table = shapes.table()
    pose = {"rotation": 0.2, "scale": 0.9, "shift": (0.05, -0.08)}
    fx, fy = frame_coordinates(x, y, **pose)
    covered = coverage(table, fx, fy, PIXEL / 0.9, None).max(0) > 0.0
    window = shape_window(table, H, W, **pose)
    assert window is not None
    r0, r1, c0, c1 = window
    inside = np.zeros((H, W), dtype=bool)
    inside[r0:r1, c0:c1] = True
    assert covered.any() and not (covered & ~inside).any()
    assert inside.sum() < 0.5 * H * W  # and it is a window, not the whole image
    assert shape_window(table[:0], H, W, **pose) is None
    far = Shapes()
    far.add(5.0, 5.0, 0.1, 0.1, 1, (1.0, 1.0, 1.0))
    assert shape_window(far.table(), H, W, **pose) is None


def test_box_coverage() -> None:
    x, y = _grid()
    box = (0.1, -0.2, 0.3, 0.2)
    alpha = box_coverage(x, y, box, H)
    inside = (np.abs(x - 0.1) < 0.3 - PIXEL) & (np.abs(y + 0.2) < 0.2 - PIXEL)
    outside = (np.abs(x - 0.1) > 0.3 + PIXEL) | (np.abs(y + 0.2) > 0.2 + PIXEL)
    assert np.all(alpha[inside] == 1.0) and np.all(alpha[outside] == 0.0)
    assert float(alpha.sum()) * PIXEL**2 == pytest.approx(0.6 * 0.4, rel=0.02)


# ------------------------------------------------------------------------------------------
# Light and camera
# ------------------------------------------------------------------------------------------


def test_light_vector() -> None:
    assert light_vector(0.0, 0.0, 0.0) == pytest.approx((0.0, 0.0, 1.0))
    assert light_vector(90.0, 0.0, 0.0) == pytest.approx((1.0, 0.0, 0.0), abs=1e-12)
    assert light_vector(0.0, 90.0, 0.0) == pytest.approx((0.0, -1.0, 0.0), abs=1e-12)  # above
    # In the frame of an object turned by 90 degrees, light from the right comes from "above".
    assert light_vector(90.0, 0.0, math.pi / 2) == pytest.approx((0.0, -1.0, 0.0), abs=1e-12)
    assert math.hypot(*light_vector(-35.0, 20.0, 0.4)) == pytest.approx(1.0)


def test_camera_without_noise_rounds_and_clips() -> None:
    image = np.array([[[-4.0, 0.4, 127.6, 300.0]]] * 3, dtype=np.float32)
    out = apply_camera(
        image.copy(), gain=1.0, tint=(1.0, 1.0, 1.0), contrast=1.0, noise_std=3.0, rng=None
    )
    assert out.dtype == np.uint8
    np.testing.assert_array_equal(out[:, 0], [[0, 0, 128, 255]] * 3)
    # Contrast pivots about mid-grey; tint scales each channel.
    grey = np.full((3, 1, 2), 128.0, dtype=np.float32)
    grey[:, 0, 1] = 100.0
    out = apply_camera(grey, gain=1.0, tint=(1.0, 0.5, 1.0), contrast=0.5, noise_std=0.0, rng=None)
    np.testing.assert_array_equal(out[:, 0, 0], [128, 96, 128])
    np.testing.assert_array_equal(out[:, 0, 1], [114, 89, 114])


def test_camera_noise_has_the_requested_spread() -> None:
    flat = np.full((3, 200, 200), 128.0, dtype=np.float32)
    out = apply_camera(
        flat,
        gain=1.0,
        tint=(1.0, 1.0, 1.0),
        contrast=1.0,
        noise_std=6.0,
        rng=np.random.default_rng(0),
    ).astype(np.float64)
    assert out.mean() == pytest.approx(128.0, abs=0.1)
    assert out.std() == pytest.approx(6.0, rel=0.03)
