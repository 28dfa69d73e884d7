import pytest
import torch
from torchvision import tv_tensors
from torchvision.transforms import v2

from lightning_deepvision.transforms import (
    IMAGENET_EIGENVALUES,
    IMAGENET_EIGENVECTORS,
    IMAGENET_MEAN,
    IMAGENET_STD,
    PCALighting,
    classification_transforms,
)


def _image(h: int = 300, w: int = 400) -> torch.Tensor:
    return torch.randint(0, 256, (3, h, w), dtype=torch.uint8)


@pytest.mark.parametrize("train", [False, True])
def test_shapes_and_dtypes(train: bool) -> None:
    t = classification_transforms(train=train)
    out = t(_image())
    assert isinstance(out, tv_tensors.Image)
    assert out.shape == (3, 227, 227) and out.dtype == torch.float32
    sample = t({"image": tv_tensors.Image(_image(260, 256)), "label": torch.tensor(5)})
    assert sample["image"].shape == (3, 227, 227)
    assert int(sample["label"]) == 5


def test_eval_is_the_centre_of_the_rescaled_square() -> None:
    # A 256×512 image: the shorter side is already 256, the central square is columns 128..384,
    # and the centre 227 crop of that square starts at column 128 + 14 and row 14.
    image = torch.randint(0, 256, (3, 256, 512), dtype=torch.uint8)
    out = classification_transforms()(image)
    expected = image[:, 14:241, 142:369].float() / 255
    mean = torch.tensor(IMAGENET_MEAN).view(3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(3, 1, 1)
    assert torch.allclose(out, (expected - mean) / std, atol=1e-5)
    assert torch.equal(out, classification_transforms()(image))


def test_training_crops_come_from_the_central_square() -> None:
    # Columns outside the central 256×256 square are bright, inside dark: no training crop may
    # reach them, while crops do move around inside the square.
    image = torch.zeros(3, 256, 512, dtype=torch.uint8)
    image[:, :, :128] = 255
    image[:, :, 384:] = 255
    image[:, 100:110, 200:210] = 128  # a marker whose position reveals the crop
    t = classification_transforms(train=True, lighting_std=0.0, mean=(0, 0, 0), std=(1, 1, 1))
    torch.manual_seed(0)
    positions = set()
    for _ in range(10):
        out = t(image)
        assert float(out.max()) < 0.6
        rows, cols = torch.nonzero(out[0] > 0.4, as_tuple=True)
        positions.add((int(rows.min()), int(cols.min())))
    assert len(positions) > 1


def test_bad_sizes() -> None:
    with pytest.raises(ValueError, match="crop_size"):
        classification_transforms(crop_size=300, resize_size=256)


def test_imagenet_eigenvectors_are_orthonormal() -> None:
    vectors = torch.tensor(IMAGENET_EIGENVECTORS)
    assert torch.allclose(vectors.T @ vectors, torch.eye(3), atol=2e-3)
    assert list(IMAGENET_EIGENVALUES) == sorted(IMAGENET_EIGENVALUES, reverse=True)


def test_lighting_noise_statistics() -> None:
    # One colour shift per image, a_i ~ N(0, 0.1²): along eigenvector i it has standard
    # deviation 0.1 λ_i, and the three projections are uncorrelated with zero mean.
    lighting = PCALighting(std=0.1)
    image = tv_tensors.Image(torch.zeros(3, 4, 5))
    torch.manual_seed(0)
    n = 4000
    shifts = []
    for _ in range(n):
        out = lighting(image)
        assert isinstance(out, tv_tensors.Image)
        flat = out.reshape(3, -1)
        assert torch.equal(flat, flat[:, :1].expand_as(flat))  # the same shift on every pixel
        shifts.append(flat[:, 0])
    projections = torch.stack(shifts) @ torch.tensor(IMAGENET_EIGENVECTORS)
    expected_std = 0.1 * torch.tensor(IMAGENET_EIGENVALUES)
    assert torch.allclose(projections.std(0), expected_std, rtol=0.05)
    assert torch.allclose(
        projections.mean(0), torch.zeros(3), atol=3 * float(expected_std[0]) / n**0.5
    )
    correlation = torch.corrcoef(projections.T)
    assert torch.allclose(correlation, torch.eye(3), atol=0.06)


def test_lighting_changes_images_only() -> None:
    sample = {
        "image": tv_tensors.Image(torch.full((3, 2, 2), 0.5)),
        "mask": tv_tensors.Mask(torch.ones(2, 2, dtype=torch.uint8)),
        "label": torch.tensor(3.0),
    }
    torch.manual_seed(1)
    out = PCALighting(std=0.5)(sample)
    assert not torch.equal(out["image"], sample["image"])
    assert out["mask"] is sample["mask"] and out["label"] is sample["label"]
    # A plain tensor is the image when the sample holds no Image (torchvision's rule).
    plain = PCALighting(std=0.5)(torch.full((3, 2, 2), 0.5))
    assert type(plain) is torch.Tensor and not torch.equal(plain, torch.full((3, 2, 2), 0.5))


def test_lighting_errors() -> None:
    with pytest.raises(TypeError, match="floating-point"):
        PCALighting()(tv_tensors.Image(torch.zeros(3, 2, 2, dtype=torch.uint8)))
    with pytest.raises(ValueError, match="RGB"):
        PCALighting()(tv_tensors.Image(torch.zeros(1, 2, 2)))
    with pytest.raises(ValueError, match="3 eigenvalues"):
        PCALighting(eigenvalues=(1.0, 2.0))


def test_lighting_is_in_the_training_pipeline_only() -> None:
    def lightings(t: v2.Compose) -> int:
        return sum(isinstance(step, PCALighting) for step in t.transforms)

    assert lightings(classification_transforms(train=True)) == 1
    assert lightings(classification_transforms(train=True, lighting_std=0.0)) == 0
    assert lightings(classification_transforms(train=False)) == 0
