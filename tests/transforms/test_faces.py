import pytest
import torch
from torchvision import tv_tensors

from lightning_deepvision.transforms import face_transforms


def _image(h: int = 250, w: int = 250) -> tv_tensors.Image:
    return tv_tensors.Image(torch.randint(0, 256, (3, h, w), dtype=torch.uint8))


@pytest.mark.parametrize("train", [False, True])
def test_output_size_dtype_and_range(train: bool) -> None:
    out = face_transforms((55, 47), train=train)(_image())
    assert out.shape == (3, 55, 47)
    assert out.dtype == torch.float32
    assert float(out.min()) >= -1.0 and float(out.max()) <= 1.0


def test_sample_dict_keeps_other_keys() -> None:
    sample = {"image": _image(64, 56), "label": torch.tensor(7)}
    out = face_transforms((55, 47), train=True)(sample)
    assert out["image"].shape == (3, 55, 47)
    assert int(out["label"]) == 7


def test_center_crop_fraction_keeps_the_middle() -> None:
    image = torch.zeros(3, 100, 100, dtype=torch.uint8)
    image[:, 25:75, 25:75] = 255  # bright centre square, dark border
    out = face_transforms((20, 20), center_crop_fraction=0.5)(tv_tensors.Image(image))
    assert torch.allclose(out, torch.ones_like(out))
    full = face_transforms((20, 20))(tv_tensors.Image(image))
    assert float(full.min()) == -1.0


def test_eval_is_deterministic_and_grayscale() -> None:
    image = _image()
    t = face_transforms((47, 47), grayscale=True)
    assert torch.equal(t(image), t(image))
    assert t(image).shape == (1, 47, 47)


def test_bad_fraction() -> None:
    with pytest.raises(ValueError, match="center_crop_fraction"):
        face_transforms(center_crop_fraction=0.0)
