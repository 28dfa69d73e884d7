import pytest
import torch
from torchvision import tv_tensors
from torchvision.transforms import v2

from lightning_deepvision.transforms.classification import (
    IMAGENET_EIGENVALUES,
    IMAGENET_EIGENVECTORS,
    IMAGENET_MEAN,
    IMAGENET_STD,
    LightingNormalize,
    PCALighting,
    ResizeSquareCrop,
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
        return sum(isinstance(step, PCALighting) for step in t.transforms) + sum(
            isinstance(step, LightingNormalize) and step.lighting_std > 0 for step in t.transforms
        )

    for fused in (True, False):
        assert lightings(classification_transforms(train=True, fused=fused)) == 1
        assert lightings(classification_transforms(train=True, lighting_std=0.0, fused=fused)) == 0
        assert lightings(classification_transforms(train=False, fused=fused)) == 0


def _decoded(h: int, w: int, seed: int = 0) -> tv_tensors.Image:
    """A smooth random image stored channels-last, as ``torchvision.io`` decodes a JPEG."""
    generator = torch.Generator().manual_seed(seed)
    coarse = torch.rand(1, 3, h // 8 + 2, w // 8 + 2, generator=generator)
    smooth = torch.nn.functional.interpolate(coarse, size=(h, w), mode="bilinear")[0]
    noise = torch.rand(3, h, w, generator=generator) * 0.2
    pixels = ((smooth * 0.8 + noise) * 255).round().to(torch.uint8)
    return tv_tensors.Image(pixels.permute(1, 2, 0).contiguous().permute(2, 0, 1))


# Landscape and portrait (ImageNet's 500x375 and 375x500), already 256, smaller than 256 (the
# rescaling enlarges), and a large photograph.
SHAPES = [(375, 500), (500, 375), (256, 256), (200, 300), (600, 800)]


@pytest.mark.parametrize("train", [False, True])
@pytest.mark.parametrize("shape", SHAPES)
def test_fused_preset_equals_torchvision_steps(shape: tuple[int, int], train: bool) -> None:
    image = _decoded(*shape)
    fused = classification_transforms(train=train)
    reference = classification_transforms(train=train, fused=False)
    assert len(fused.transforms) < len(reference.transforms)
    for seed in range(3):
        torch.manual_seed(seed)
        out = fused({"image": image, "label": torch.tensor(2)})
        after_fused = torch.rand(1)
        torch.manual_seed(seed)
        expected = reference({"image": image, "label": torch.tensor(2)})
        after_reference = torch.rand(1)
        # The same number of random draws, so the rest of a pipeline sees the same stream.
        assert torch.equal(after_fused, after_reference)
        assert isinstance(out["image"], tv_tensors.Image) and out["image"].is_contiguous()
        assert out["image"].dtype == torch.float32 and out["image"].shape == (3, 227, 227)
        torch.testing.assert_close(out["image"], expected["image"], rtol=0, atol=2e-6)
        assert int(out["label"]) == 2


@pytest.mark.parametrize("shape", SHAPES)
def test_resize_square_crop_is_bit_identical_to_the_steps(shape: tuple[int, int]) -> None:
    # uint8 in, uint8 out: the two separable passes give exactly torchvision's pixels.
    image = _decoded(*shape, seed=1)
    steps = v2.Compose(
        [
            v2.Resize(256, antialias=True),
            v2.CenterCrop(256),
            v2.RandomCrop(227),
            v2.RandomHorizontalFlip(),
        ]
    )
    crop = ResizeSquareCrop(227, 256, random=True)
    flips = set()
    for seed in range(4):
        # Decoded (channels-last) and rendered (channels-first) pixels alike.
        for pixels in (image, image.contiguous()):
            torch.manual_seed(seed)
            out = crop(pixels)
            torch.manual_seed(seed)
            expected = steps(pixels)
            assert out.dtype == torch.uint8 and torch.equal(out, expected)
        torch.manual_seed(seed)
        torch.randint(0, 30, size=())
        torch.randint(0, 30, size=())
        flips.add(bool(torch.rand(1) < 0.5))
    assert flips == {False, True}  # both the mirrored and the plain branch were compared
    centre = v2.Compose([v2.Resize(256, antialias=True), v2.CenterCrop(256), v2.CenterCrop(227)])
    assert torch.equal(ResizeSquareCrop(227, 256)(image), centre(image))


def test_resize_square_crop_moves_masks_and_pil_images_as_the_steps_do() -> None:
    image = _decoded(300, 400, seed=2)
    mask = tv_tensors.Mask((image[0] > 128).to(torch.uint8))
    steps = v2.Compose(
        [
            v2.Resize(64, antialias=True),
            v2.CenterCrop(64),
            v2.RandomCrop(56),
            v2.RandomHorizontalFlip(),
        ]
    )
    crop = ResizeSquareCrop(56, 64, random=True)
    pil = v2.functional.to_pil_image(image)
    for seed in range(4):
        torch.manual_seed(seed)
        out = crop({"image": image, "mask": mask})
        torch.manual_seed(seed)
        expected = steps({"image": image, "mask": mask})
        assert isinstance(out["mask"], tv_tensors.Mask)
        assert torch.equal(out["image"], expected["image"])
        assert torch.equal(out["mask"], expected["mask"])
        torch.manual_seed(seed)
        out_pil = crop(pil)
        torch.manual_seed(seed)
        expected_pil = steps(pil)
        assert torch.equal(
            v2.functional.pil_to_tensor(out_pil), v2.functional.pil_to_tensor(expected_pil)
        )


def test_resize_square_crop_errors() -> None:
    with pytest.raises(ValueError, match="must not exceed"):
        ResizeSquareCrop(300, 256)
    with pytest.raises(ValueError, match="flip_p"):
        ResizeSquareCrop(200, 256, random=True, flip_p=1.5)


@pytest.mark.parametrize("dtype", [torch.uint8, torch.float32, torch.float64])
def test_lighting_normalize_equals_the_three_steps(dtype: torch.dtype) -> None:
    pixels = _decoded(40, 30, seed=3)
    image = tv_tensors.Image(pixels if dtype == torch.uint8 else pixels.to(dtype) / 255)
    mean, std = (0.4, 0.5, 0.6), (0.2, 0.25, 0.3)
    steps = v2.Compose(
        [v2.ToDtype(torch.float32, scale=True), PCALighting(0.1), v2.Normalize(mean, std)]
    )
    fused = LightingNormalize(mean, std, lighting_std=0.1)
    for seed in range(5):
        torch.manual_seed(seed)
        out = fused({"image": image, "label": torch.tensor(1)})
        torch.manual_seed(seed)
        expected = steps({"image": image, "label": torch.tensor(1)})
        assert out["image"].dtype == torch.float32 and out["image"].is_contiguous()
        torch.testing.assert_close(out["image"], expected["image"], rtol=0, atol=2e-6)
        assert int(out["label"]) == 1
    # Without colour noise it is ToDtype + Normalize, and draws nothing.
    plain = v2.Compose([v2.ToDtype(torch.float32, scale=True), v2.Normalize(mean, std)])
    state = torch.get_rng_state()
    out = LightingNormalize(mean, std)(image)
    assert torch.equal(torch.get_rng_state(), state)
    torch.testing.assert_close(out, plain(image), rtol=0, atol=2e-6)


def test_lighting_normalize_changes_images_only() -> None:
    sample = {
        "image": tv_tensors.Image(torch.zeros(3, 2, 2, dtype=torch.uint8)),
        "mask": tv_tensors.Mask(torch.ones(2, 2, dtype=torch.uint8)),
        "label": torch.tensor(3),
    }
    out = LightingNormalize(lighting_std=0.1)(sample)
    assert out["mask"] is sample["mask"] and out["label"] is sample["label"]
    assert out["image"].dtype == torch.float32


def test_lighting_normalize_errors() -> None:
    with pytest.raises(ValueError, match="one value per channel"):
        LightingNormalize(mean=(0.5, 0.5), std=(0.2, 0.2, 0.2))
    with pytest.raises(ValueError, match="positive"):
        LightingNormalize(std=(0.2, 0.0, 0.2))
    with pytest.raises(ValueError, match="3 channels"):
        LightingNormalize(mean=(0.5,), std=(0.2,), lighting_std=0.1)
    with pytest.raises(ValueError, match="3 channel means"):
        LightingNormalize()(tv_tensors.Image(torch.zeros(1, 2, 2, dtype=torch.uint8)))
    with pytest.raises(TypeError, match="integer or float"):
        LightingNormalize()(tv_tensors.Image(torch.zeros(3, 2, 2, dtype=torch.bool)))


def test_short_path_gives_what_torchvision_forward_gives() -> None:
    # An Image alone or in a {"image", "label", ...} sample skips the pytree; the result must be
    # v2.Transform.forward's, with the same draws.
    image = _decoded(120, 90, seed=4)
    sample = {"label": torch.tensor(7), "image": image, "name": "a.jpg"}
    for transform in (ResizeSquareCrop(56, 64, random=True), LightingNormalize(lighting_std=0.1)):
        for inputs in (image, sample):
            torch.manual_seed(0)
            short = transform(inputs)
            after_short = torch.rand(1)
            torch.manual_seed(0)
            generic = v2.Transform.forward(transform, inputs)
            assert torch.equal(torch.rand(1), after_short)
            if isinstance(inputs, dict):
                assert short.keys() == generic.keys() and short["name"] == "a.jpg"
                assert short["label"] is sample["label"]
                short, generic = short["image"], generic["image"]
            assert type(short) is tv_tensors.Image and torch.equal(short, generic)
