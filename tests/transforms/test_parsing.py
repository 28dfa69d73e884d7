"""The parsing pipeline moves image and mask together and mirrors left/right classes."""

from __future__ import annotations

import pytest
import torch
from torchvision import tv_tensors

from lightning_deepvision.datasets.face_parts import HELEN_LABELS
from lightning_deepvision.datasets.lfw_parts import LFW_PARTS_LABELS
from lightning_deepvision.transforms import parsing_transforms

LEFT_EYE, RIGHT_EYE = HELEN_LABELS.index("left_eye"), HELEN_LABELS.index("right_eye")


def _sample() -> dict[str, torch.Tensor]:
    image = torch.zeros(3, 8, 8, dtype=torch.uint8)
    image[0, :, :4] = 255  # red on the left half
    mask = torch.zeros(8, 8, dtype=torch.int64)
    mask[2:4, 1:3] = LEFT_EYE  # a left eye on the left
    return {"image": image, "mask": mask}


def test_mirror_swaps_left_and_right_classes() -> None:
    torch.manual_seed(0)
    pipeline = parsing_transforms((8, 8), train=True, scale_jitter=0.0)
    flipped = None
    for _ in range(20):  # the mirror is random: find a call that flips
        out = pipeline(_sample())
        if float(out["image"][0, 0, 7]) > 0:  # red moved to the right
            flipped = out
            break
    assert flipped is not None
    assert isinstance(flipped["mask"], tv_tensors.Mask) and flipped["mask"].dtype == torch.int64
    mask = flipped["mask"].as_subclass(torch.Tensor)
    # The eye moved to the right half and is now labelled right eye.
    assert set(mask[2:4, 5:7].unique().tolist()) == {RIGHT_EYE}
    assert LEFT_EYE not in mask.unique().tolist()


def test_label_set_without_sides_flips_plainly() -> None:
    sample = {"image": torch.zeros(3, 4, 4, dtype=torch.uint8), "mask": torch.zeros(4, 4)}
    sample["mask"][:, 0] = 2
    pipeline = parsing_transforms(
        (4, 4), train=True, class_names=LFW_PARTS_LABELS, scale_jitter=0.0
    )
    for _ in range(10):
        mask = pipeline(dict(sample))["mask"].as_subclass(torch.Tensor)
        assert sorted(mask.unique().tolist()) == [0, 2]


def test_evaluation_resizes_with_nearest_labels() -> None:
    out = parsing_transforms((16, 16))(_sample())
    assert out["image"].shape == (3, 16, 16) and out["image"].dtype == torch.float32
    assert set(out["mask"].unique().tolist()) == {0, LEFT_EYE}  # no blended labels
    with pytest.raises(ValueError, match="scale_jitter"):
        parsing_transforms(scale_jitter=1.0)


def _synthetic_face() -> dict[str, torch.Tensor]:
    from lightning_deepvision.datasets.synthetic.face_renderer import render_face

    # The canonical frontal view (no yaw, no occluder) draws every part on both sides.
    face = render_face(3, 0, (64, 56), frontal=True)
    return {"image": tv_tensors.Image(face["image"]), "mask": tv_tensors.Mask(face["mask"])}


def test_mirror_twice_is_identity_and_swaps_class_counts() -> None:
    from lightning_deepvision.datasets.face_parts import HFLIP_LABEL_PERMUTATION
    from lightning_deepvision.transforms.faces import FaceHorizontalFlip

    sample = _synthetic_face()
    mirror = FaceHorizontalFlip(p=1.0)
    once = mirror(dict(sample))
    twice = mirror(dict(once))
    assert torch.equal(twice["image"], sample["image"])
    assert torch.equal(twice["mask"], sample["mask"])
    before = torch.bincount(sample["mask"].flatten(), minlength=11)
    after = torch.bincount(once["mask"].as_subclass(torch.Tensor).flatten(), minlength=11)
    # Each class of the mirror has exactly the pixels of its twin before the mirror.
    assert torch.equal(after, before[list(HFLIP_LABEL_PERMUTATION)])
    assert before[LEFT_EYE] > 0 and before[RIGHT_EYE] > 0
