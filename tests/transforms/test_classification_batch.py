"""Colour noise and normalisation per batch: the same input as the per-sample preset."""

from __future__ import annotations

import pytest
import torch
from torch.utils.data import default_collate
from torchvision import tv_tensors

from lightning_deepvision.transforms.classification import classification_transforms
from lightning_deepvision.transforms.classification_batch import (
    LIGHTING_KEY,
    DrawLighting,
    NormalizeBatch,
    collate_channels_last,
)


def _decoded(h: int, w: int, seed: int) -> tv_tensors.Image:
    """A smooth random uint8 image stored channels-last, as JPEG decoding leaves it."""
    generator = torch.Generator().manual_seed(seed)
    pixels = torch.randint(0, 256, (h, w, 3), dtype=torch.uint8, generator=generator)
    return tv_tensors.Image(pixels.permute(2, 0, 1))


@pytest.mark.parametrize("fused", [True, False])
@pytest.mark.parametrize("train", [True, False])
def test_batch_step_gives_the_per_sample_input(train: bool, fused: bool) -> None:
    images = [_decoded(120, 160, seed) for seed in range(4)] + [_decoded(150, 100, 9)]
    mean, std = (0.4, 0.5, 0.6), (0.2, 0.25, 0.3)
    per_sample = classification_transforms(56, 64, train=train, mean=mean, std=std)
    deferred = classification_transforms(
        56, 64, train=train, mean=mean, std=std, fused=fused, batch_normalize=True
    )
    torch.manual_seed(0)
    expected = [per_sample({"image": x, "label": torch.tensor(i)}) for i, x in enumerate(images)]
    after_expected = torch.rand(1)
    torch.manual_seed(0)
    samples = [deferred({"image": x, "label": torch.tensor(i)}) for i, x in enumerate(images)]
    after = torch.rand(1)
    assert torch.equal(after, after_expected)  # the same draws, in the same order
    assert all(s["image"].dtype == torch.uint8 for s in samples)
    assert all((LIGHTING_KEY in s) == train for s in samples)
    collated = collate_channels_last(samples)
    assert torch.equal(collated["image"], default_collate(samples)["image"])
    assert collated["image"].is_contiguous(memory_format=torch.channels_last)
    batch = NormalizeBatch(mean, std)(collated)
    assert LIGHTING_KEY not in batch and batch["label"].tolist() == [0, 1, 2, 3, 4]
    assert batch["image"].dtype == torch.float32 and batch["image"].is_contiguous()
    reference = torch.stack([s["image"] for s in expected])
    torch.testing.assert_close(batch["image"], reference, rtol=0, atol=2e-6)
    if train:  # the colour shifts differ between images: they were really applied
        shifts = default_collate(samples)[LIGHTING_KEY]
        assert shifts.shape == (5, 3) and len({tuple(s.tolist()) for s in shifts}) == 5


def test_ten_crops_and_float_batches() -> None:
    normalize = NormalizeBatch(mean=(0.5, 0.5, 0.5), std=(0.5, 0.25, 1.0))
    crops = torch.full((2, 10, 3, 4, 4), 255, dtype=torch.uint8)
    out = normalize({"image": crops, "label": torch.tensor([0, 1])})["image"]
    assert out.shape == (2, 10, 3, 4, 4)
    torch.testing.assert_close(out[:, :, :, 0, 0], torch.tensor([1.0, 2.0, 0.5]).expand(2, 10, 3))
    floats = {"image": torch.rand(2, 3, 4, 4), LIGHTING_KEY: torch.zeros(2, 3)}
    assert normalize(floats) is floats  # already the network input: left alone
    assert normalize([crops]) == [crops]  # not a sample batch


def test_shift_is_added_in_pixel_units() -> None:
    normalize = NormalizeBatch(mean=(0.0, 0.0, 0.0), std=(0.5, 0.5, 0.5))
    images = torch.zeros(2, 3, 2, 2, dtype=torch.uint8)
    shifts = torch.tensor([[0.1, 0.2, 0.3], [0.0, 0.0, -0.5]])
    out = normalize({"image": images, LIGHTING_KEY: shifts})["image"]
    torch.testing.assert_close(out[:, :, 1, 1], shifts / 0.5)


def test_errors() -> None:
    with pytest.raises(ValueError, match="one value per channel"):
        NormalizeBatch(mean=(0.5, 0.5), std=(0.2, 0.2, 0.2))
    with pytest.raises(ValueError, match="positive"):
        NormalizeBatch(std=(0.2, 0.0, 0.2))
    normalize = NormalizeBatch()
    with pytest.raises(ValueError, match=r"3 channel means.*\(2, 1, 4, 4\)"):
        normalize({"image": torch.zeros(2, 1, 4, 4, dtype=torch.uint8)})
    with pytest.raises(ValueError, match=r"colour shifts of shape \(2, 3\)"):
        normalize(
            {"image": torch.zeros(2, 3, 4, 4, dtype=torch.uint8), LIGHTING_KEY: torch.zeros(3)}
        )
    with pytest.raises(TypeError, match="uint8"):
        normalize({"image": torch.zeros(2, 3, 4, 4, dtype=torch.bool)})
    with pytest.raises(ValueError, match="positive std"):
        DrawLighting(0.0)
    with pytest.raises(TypeError, match="sample dict"):
        DrawLighting(0.1)(tv_tensors.Image(torch.zeros(3, 4, 4, dtype=torch.uint8)))


def test_collate_channels_last_falls_back_to_default_collate() -> None:
    pairs = [(torch.zeros(3, 2, 2), 1), (torch.ones(3, 2, 2), 2)]
    images, labels = collate_channels_last(pairs)
    assert images.shape == (2, 3, 2, 2) and labels.tolist() == [1, 2]
    crops = [{"image": torch.full((10, 3, 4, 4), i, dtype=torch.uint8)} for i in range(2)]
    assert collate_channels_last(crops)["image"].shape == (2, 10, 3, 4, 4)  # ten crops each
