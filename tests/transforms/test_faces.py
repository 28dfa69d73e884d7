from typing import Any

import pytest
import torch
from torchvision import tv_tensors
from torchvision.transforms import v2

from lightning_deepvision.datasets.face_parts import (
    HELEN_LABELS,
    HFLIP_LABEL_PERMUTATION,
    hflip_permutation,
)
from lightning_deepvision.transforms import (
    CELEBA_LANDMARK_HFLIP_PERMUTATION,
    CELEBA_LANDMARKS,
    FaceHorizontalFlip,
    face_transforms,
)

LEFT_EYE, RIGHT_EYE = HELEN_LABELS.index("left_eye"), HELEN_LABELS.index("right_eye")
LEFT_BROW, RIGHT_BROW = HELEN_LABELS.index("left_eyebrow"), HELEN_LABELS.index("right_eyebrow")
NOSE, SKIN = HELEN_LABELS.index("nose"), HELEN_LABELS.index("face_skin")


def _image(h: int = 250, w: int = 250) -> tv_tensors.Image:
    return tv_tensors.Image(torch.randint(0, 256, (3, h, w), dtype=torch.uint8))


def _sample(h: int = 8, w: int = 10) -> dict[str, Any]:
    """A face sample with every kind of entry the flip must treat differently."""
    mask = torch.full((h, w), SKIN, dtype=torch.uint8)
    mask[1, 0:2] = LEFT_BROW
    mask[2, 1:3] = LEFT_EYE
    mask[5, 6:9] = RIGHT_EYE
    mask[4, 4] = NOSE
    return {
        "image": _image(h, w),
        "mask": tv_tensors.Mask(mask),
        "boxes": tv_tensors.BoundingBoxes(
            [[1.0, 2.0, 4.0, 6.0]], format="XYXY", canvas_size=(h, w)
        ),
        "landmarks": tv_tensors.KeyPoints(
            [[2.0, 2.0], [7.0, 5.0], [4.0, 4.0], [3.0, 6.0], [6.0, 7.0]], canvas_size=(h, w)
        ),
        "yaw": torch.tensor(0.25),
        "label": torch.tensor(7),
        "attributes": torch.tensor([1, 0, 1]),
    }


# -- the preset ---------------------------------------------------------------------------------
@pytest.mark.parametrize("train", [False, True])
def test_output_size_dtype_and_range(train: bool) -> None:
    out = face_transforms((55, 47), train=train)(_image())
    assert out.shape == (3, 55, 47)
    assert out.dtype == torch.float32
    assert float(out.min()) >= -1.0 and float(out.max()) <= 1.0


def test_bare_plain_tensor_input() -> None:
    out = face_transforms((55, 47))(torch.randint(0, 256, (3, 60, 50), dtype=torch.uint8))
    assert isinstance(out, tv_tensors.Image)
    assert out.shape == (3, 55, 47)


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


def test_eval_moves_mask_boxes_and_landmarks_with_the_image() -> None:
    h, w = 110, 94  # exactly twice (55, 47)
    mask = torch.zeros(h, w, dtype=torch.uint8)
    mask[20:40, 10:30] = LEFT_EYE
    sample = {
        "label": torch.tensor(3),  # a plain tensor before the image: must not be the image
        "image": torch.randint(0, 256, (3, h, w), dtype=torch.uint8),
        "mask": tv_tensors.Mask(mask),
        "boxes": tv_tensors.BoundingBoxes([[10, 20, 30, 40]], format="XYXY", canvas_size=(h, w)),
        "landmarks": tv_tensors.KeyPoints([[10.0, 20.0], [30.0, 40.0]], canvas_size=(h, w)),
    }
    out = face_transforms((55, 47))(sample)
    assert out["image"].shape == (3, 55, 47) and out["image"].dtype == torch.float32
    assert int(out["label"]) == 3
    # Nearest-neighbour mask: the same integer labels, the same dtype, the region halved.
    assert out["mask"].dtype == torch.uint8 and out["mask"].shape == (55, 47)
    assert set(out["mask"].unique().tolist()) == {0, LEFT_EYE}
    assert torch.equal(out["mask"][10:20, 5:15], torch.full((10, 10), LEFT_EYE, dtype=torch.uint8))
    assert int((out["mask"] == LEFT_EYE).sum()) == 100
    assert out["boxes"].tolist() == [[5.0, 10.0, 15.0, 20.0]]
    assert tuple(out["boxes"].canvas_size) == (55, 47)
    assert torch.allclose(out["landmarks"], torch.tensor([[5.0, 10.0], [15.0, 20.0]]))


def test_center_crop_fraction_moves_boxes() -> None:
    sample = {
        "image": _image(100, 100),
        "boxes": tv_tensors.BoundingBoxes(
            [[30, 40, 60, 70]], format="XYXY", canvas_size=(100, 100)
        ),
    }
    out = face_transforms((50, 50), center_crop_fraction=0.5)(sample)
    # Crop rows/columns 25..75 (already 50×50, so the resize changes nothing).
    assert out["boxes"].tolist() == [[5.0, 15.0, 35.0, 45.0]]


def test_training_flip_keeps_mask_labels_on_their_side() -> None:
    # Bright left half labelled left_eye: after any draw, the bright pixels are the eye and
    # its label says on which side of the image it now is.
    image = torch.zeros(3, 64, 56, dtype=torch.uint8)
    image[:, :, :28] = 255
    mask = torch.zeros(64, 56, dtype=torch.uint8)
    mask[:, :28] = LEFT_EYE
    t = face_transforms((32, 28), train=True, scale_jitter=0.0)
    torch.manual_seed(0)
    sides = set()
    for _ in range(20):
        out = t({"image": tv_tensors.Image(image), "mask": tv_tensors.Mask(mask)})
        # Away from the boundary the crop and resize may move: the outer quarters.
        bright_left = bool((out["image"][:, :, :7] > 0.9).all())
        assert bright_left == bool((out["image"][:, :, -7:] < -0.9).all())
        eye = out["mask"] != 0
        assert bool(eye[:, :7].all()) == bright_left
        assert bool(eye[:, -7:].all()) != bright_left
        assert set(out["mask"][eye].unique().tolist()) == {LEFT_EYE if bright_left else RIGHT_EYE}
        sides.add(bright_left)
    assert sides == {True, False}


# -- same random numbers as the previous pipeline ------------------------------------------------
class _ReferenceCenterCropFraction(v2.Transform):
    """The centre crop of the previous pipeline, verbatim."""

    def __init__(self, fraction: float) -> None:
        super().__init__()
        self.fraction = fraction

    def transform(self, inpt: torch.Tensor, params: dict) -> torch.Tensor:
        height, width = v2.functional.get_size(inpt)
        crop = [max(1, round(height * self.fraction)), max(1, round(width * self.fraction))]
        return v2.functional.center_crop(inpt, crop)


def _reference_face_transforms(
    size: tuple[int, int], train: bool, fraction: float, grayscale: bool
) -> v2.Compose:
    """The face pipeline before the sample-dict flip: torchvision's own RandomHorizontalFlip."""
    steps: list[v2.Transform] = [v2.ToImage()]
    if fraction < 1.0:
        steps.append(_ReferenceCenterCropFraction(fraction))
    mean, std = [0.5] * 3, [0.5] * 3
    if train:
        ratio = size[1] / size[0]
        steps.append(
            v2.RandomResizedCrop(
                size, scale=(0.9, 1.0), ratio=(ratio * 0.95, ratio / 0.95), antialias=True
            )
        )
        steps.append(v2.RandomHorizontalFlip())
    else:
        steps.append(v2.Resize(size, antialias=True))
    if grayscale:
        steps.append(v2.Grayscale(num_output_channels=1))
        mean, std = mean[:1], std[:1]
    steps += [v2.ToDtype(torch.float32, scale=True), v2.Normalize(mean, std)]
    return v2.Compose(steps)


@pytest.mark.parametrize(
    ("train", "fraction", "grayscale"),
    [(True, 1.0, False), (True, 0.45, False), (True, 1.0, True), (False, 0.45, False)],
)
@pytest.mark.parametrize("as_dict", [False, True])
def test_same_random_numbers_and_outputs_as_the_previous_pipeline(
    train: bool, fraction: float, grayscale: bool, as_dict: bool
) -> None:
    size = (55, 47)
    new = face_transforms(size, train=train, center_crop_fraction=fraction, grayscale=grayscale)
    old = _reference_face_transforms(size, train, fraction, grayscale)
    images = [torch.randint(0, 256, (3, 120, 104), dtype=torch.uint8) for _ in range(4)]
    results = []
    for pipeline in (old, new):
        torch.manual_seed(1234)
        outs = []
        for i in range(60):
            image = images[i % len(images)]
            if as_dict:
                out = pipeline({"image": tv_tensors.Image(image), "label": torch.tensor(i)})
                assert int(out["label"]) == i
                outs.append(out["image"])
            else:
                outs.append(pipeline(image))
        outs.append(torch.rand(3))  # the generator is left in the same state
        results.append(outs)
    for old_out, new_out in zip(*results, strict=True):
        assert torch.equal(old_out, new_out)


def test_flip_draws_like_torchvision_flip() -> None:
    image = _image(6, 8)
    torch.manual_seed(5)
    ours = [FaceHorizontalFlip()(image) for _ in range(50)]
    torch.manual_seed(5)
    theirs = [v2.RandomHorizontalFlip()(image) for _ in range(50)]
    assert all(torch.equal(a, b) for a, b in zip(ours, theirs, strict=True))
    assert any(torch.equal(a, image) for a in ours) and not all(torch.equal(a, image) for a in ours)


# -- the flip ------------------------------------------------------------------------------------
def test_flip_mirrors_pixels_and_swaps_left_right_labels() -> None:
    sample = _sample()
    out = FaceHorizontalFlip(p=1.0)(sample)
    s, le, rb, re, n = SKIN, LEFT_EYE, RIGHT_BROW, RIGHT_EYE, NOSE
    expected = [
        [s, s, s, s, s, s, s, s, s, s],
        [s, s, s, s, s, s, s, s, rb, rb],
        [s, s, s, s, s, s, s, re, re, s],
        [s, s, s, s, s, s, s, s, s, s],
        [s, s, s, s, s, n, s, s, s, s],
        [s, le, le, le, s, s, s, s, s, s],
        [s, s, s, s, s, s, s, s, s, s],
        [s, s, s, s, s, s, s, s, s, s],
    ]
    assert isinstance(out["mask"], tv_tensors.Mask)
    assert out["mask"].dtype == torch.uint8
    assert out["mask"].tolist() == expected
    assert torch.equal(out["image"], sample["image"].flip(-1))


def test_flip_mirrors_boxes_reorders_landmarks_negates_yaw_and_keeps_the_rest() -> None:
    sample = _sample()
    flip = FaceHorizontalFlip(p=1.0, landmark_permutation=CELEBA_LANDMARK_HFLIP_PERMUTATION)
    out = flip(sample)
    assert isinstance(out["boxes"], tv_tensors.BoundingBoxes)
    assert out["boxes"].tolist() == [[6.0, 2.0, 9.0, 6.0]]  # x -> width - x, on a width of 10
    # Keypoints mirror to width - 1 - x (torchvision's pixel convention), then left and right
    # swap: lefteye, righteye, nose, leftmouth, rightmouth.
    assert isinstance(out["landmarks"], tv_tensors.KeyPoints)
    assert out["landmarks"].tolist() == [[2.0, 5.0], [7.0, 2.0], [5.0, 4.0], [3.0, 7.0], [6.0, 6.0]]
    assert float(out["yaw"]) == -0.25
    assert out["label"] is sample["label"]
    assert out["attributes"] is sample["attributes"]
    assert list(out) == list(sample)


def test_landmarks_keep_their_order_without_a_permutation() -> None:
    sample = _sample()
    out = FaceHorizontalFlip(p=1.0)(sample)
    assert torch.equal(out["landmarks"][:, 0], 9.0 - sample["landmarks"][:, 0])


def test_flip_twice_is_identity() -> None:
    sample = _sample()
    flip = FaceHorizontalFlip(p=1.0, landmark_permutation=CELEBA_LANDMARK_HFLIP_PERMUTATION)
    twice = flip(flip(sample))
    assert list(twice) == list(sample)
    for key, value in sample.items():
        assert type(twice[key]) is type(value), key
        assert torch.equal(twice[key], value), key


def test_flip_never_takes_yaw_for_the_image() -> None:
    # No tv_tensors.Image and yaw first: torchvision alone would mirror yaw as "the image".
    image = torch.arange(12.0).view(1, 3, 4)
    out = FaceHorizontalFlip(p=1.0)({"yaw": torch.tensor(-0.5), "image": image})
    assert float(out["yaw"]) == 0.5
    assert torch.equal(out["image"], image.flip(-1))
    assert list(out) == ["yaw", "image"]


def test_no_flip_leaves_the_sample_alone() -> None:
    sample = _sample()
    out = FaceHorizontalFlip(p=0.0)(sample)
    assert out is sample


def test_celeba_landmark_table() -> None:
    names = tuple(n.replace("left", "left_").replace("right", "right_") for n in CELEBA_LANDMARKS)
    assert hflip_permutation(names) == CELEBA_LANDMARK_HFLIP_PERMUTATION


def test_label_permutation_none_keeps_labels() -> None:
    sample = _sample()
    out = FaceHorizontalFlip(p=1.0, label_permutation=None)(sample)
    assert torch.equal(out["mask"], sample["mask"].flip(-1))


def test_mask_label_outside_the_table_is_an_error() -> None:
    mask = tv_tensors.Mask(torch.full((4, 4), 255, dtype=torch.uint8))
    with pytest.raises(ValueError, match=r"255, but label_permutation covers 0\.\.10"):
        FaceHorizontalFlip(p=1.0)({"image": _image(4, 4), "mask": mask})


def test_wrong_landmark_count_is_an_error() -> None:
    points = tv_tensors.KeyPoints([[1.0, 1.0], [2.0, 2.0]], canvas_size=(4, 4))
    flip = FaceHorizontalFlip(p=1.0, landmark_permutation=CELEBA_LANDMARK_HFLIP_PERMUTATION)
    with pytest.raises(ValueError, match="5 landmarks"):
        flip({"image": _image(4, 4), "landmarks": points})


def test_bad_permutation() -> None:
    with pytest.raises(ValueError, match="label_permutation must be a permutation"):
        FaceHorizontalFlip(label_permutation=(0, 0, 1))
    assert FaceHorizontalFlip().label_permutation == HFLIP_LABEL_PERMUTATION
