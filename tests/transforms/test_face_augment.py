"""The training preset for few identities: crops around the alignment, mirror, colour, blur."""

import pytest
import torch
from torchvision import tv_tensors
from torchvision.transforms import v2

from lightning_deepvision.transforms import face_transforms
from lightning_deepvision.transforms.faces import face_augmentations


def sample() -> dict:
    image = torch.zeros(3, 64, 56, dtype=torch.uint8)
    image[:, :, :28] = 200  # bright left half
    mask = torch.zeros(64, 56, dtype=torch.uint8)
    mask[:, :28] = 1
    return {
        "image": tv_tensors.Image(image),
        "mask": tv_tensors.Mask(mask),
        "label": torch.tensor(3),
    }


def test_strong_preset_keeps_mask_and_image_aligned_and_varies_the_image() -> None:
    torch.manual_seed(0)
    pipeline = face_transforms((55, 47), train=True, augment="strong")
    outputs = [pipeline(sample()) for _ in range(20)]
    means = set()
    for out in outputs:
        assert out["image"].shape == (3, 55, 47) and out["mask"].shape == (55, 47)
        assert int(out["label"]) == 3
        # The mask keeps its labels (no colour jitter, no blur on it) and follows the crop and
        # the mirror: its side of the face is the bright side of the image.
        assert set(out["mask"].unique().tolist()) <= {0, 1}
        on_mask = out["mask"].bool()
        if on_mask.any() and (~on_mask).any():
            assert out["image"][0][on_mask].mean() > out["image"][0][~on_mask].mean()
        means.add(round(float(out["image"].mean()), 3))
    assert len(means) > 10  # crops, brightness and contrast differ between draws


def test_presets_differ_and_default_stays_the_small_jitter() -> None:
    default = face_transforms((55, 47), train=True)
    assert not any(isinstance(t, v2.RandomApply) for t in default.transforms)
    strong = face_transforms((55, 47), train=True, augment="strong")
    kinds = [type(t.transforms[0]) for t in strong.transforms if isinstance(t, v2.RandomApply)]
    assert kinds == [v2.ColorJitter, v2.GaussianBlur]
    crop = face_augmentations((55, 47), crop_scale=(0.5, 0.6))[0]
    assert isinstance(crop, v2.RandomResizedCrop) and crop.scale == (0.5, 0.6)
    # Evaluation never augments.
    evaluation = face_transforms((55, 47), train=False, augment="strong")
    first = evaluation(sample())["image"]
    torch.testing.assert_close(evaluation(sample())["image"], first)
    with pytest.raises(ValueError, match="augment"):
        face_transforms((55, 47), augment="heavy")  # type: ignore[arg-type]
