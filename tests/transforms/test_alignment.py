"""FaceAlignment: landmarks land on the template, pixels move with them, other keys pass."""

from __future__ import annotations

import math

import pytest
import torch
from torchvision import tv_tensors

from lightning_deepvision.transforms.alignment import (
    TIGHT_FACE_TEMPLATE,
    FaceAlignment,
    similarity_from_landmarks,
)


def _rotated(template: torch.Tensor, degrees: float, scale: float, shift: tuple[float, float]):
    a = math.radians(degrees)
    rotation = torch.tensor([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]])
    return template @ rotation.T * scale + torch.tensor(shift)


def test_similarity_is_recovered_exactly() -> None:
    points = torch.tensor([[10.0, 20.0], [30.0, 22.0], [21.0, 35.0], [12.0, 44.0], [29.0, 45.0]])
    moved = _rotated(points, 25.0, 1.7, (5.0, -3.0))
    scale, angle, _ = similarity_from_landmarks(points, moved)
    assert scale == pytest.approx(1.7) and math.degrees(angle) == pytest.approx(25.0)
    with pytest.raises(ValueError, match="coincide"):
        similarity_from_landmarks(torch.ones(5, 2), moved)


@pytest.mark.parametrize("degrees", [-30.0, 0.0, 20.0])
def test_landmarks_and_pixels_land_on_the_template(degrees: float) -> None:
    align = FaceAlignment((55, 47), TIGHT_FACE_TEMPLATE)
    source = _rotated(align.template, degrees, 2.5, (40.0, 60.0))
    image = torch.zeros(3, 218, 178, dtype=torch.uint8)
    # A bright 5x5 dot on the nose of the source image.
    nx, ny = (round(float(v)) for v in source[2])
    image[:, ny - 2 : ny + 3, nx - 2 : nx + 3] = 255
    sample = {
        "image": tv_tensors.Image(image),
        "landmarks": tv_tensors.KeyPoints(source, canvas_size=(218, 178)),
        "attributes": torch.tensor([1, 0, 1]),
    }
    out = align(sample)
    assert out["image"].shape == (3, 55, 47)
    torch.testing.assert_close(
        out["landmarks"].as_subclass(torch.Tensor), align.template, atol=1e-3, rtol=0
    )
    assert out["landmarks"].canvas_size == (55, 47)
    brightest = torch.nonzero(out["image"][0] == out["image"][0].max()).float().mean(0)
    tx, ty = align.template[2].tolist()
    assert abs(float(brightest[1]) - tx) <= 1.0 and abs(float(brightest[0]) - ty) <= 1.0
    assert torch.equal(out["attributes"], sample["attributes"])


def test_alignment_needs_landmarks() -> None:
    with pytest.raises(ValueError, match="landmarks"):
        FaceAlignment()({"image": tv_tensors.Image(torch.zeros(3, 8, 8, dtype=torch.uint8))})
