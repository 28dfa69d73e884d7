"""SyntheticObjects: classes, splits, determinism, errors, and how hard raw pixels find it."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
import torch
from torchvision import tv_tensors
from torchvision.transforms import v2

from lightning_deepvision.datasets.synthetic import (
    OBJECT_CLASSES,
    SHAPES_A,
    SHAPES_B,
    SyntheticObjects,
    render_object,
)
from lightning_deepvision.datasets.synthetic.objects import global_instance


def test_length_keys_types_and_balanced_order() -> None:
    objects = SyntheticObjects("train", images_per_class=3, image_size=(40, 48))
    assert len(objects) == 30 and objects.num_classes == 10
    assert objects.classes == list(SHAPES_A)
    assert objects.targets == [i % 10 for i in range(30)]
    sample = objects[13]
    assert set(sample) == {"image", "label"}
    assert isinstance(sample["image"], tv_tensors.Image)
    assert sample["image"].dtype == torch.uint8 and sample["image"].shape == (3, 40, 48)
    assert sample["label"].dtype == torch.int64 and int(sample["label"]) == 3
    assert torch.equal(objects[-1]["image"], objects[29]["image"])


def test_groups_are_disjoint_and_cover_every_class() -> None:
    assert set(SHAPES_A).isdisjoint(SHAPES_B)
    assert (*SHAPES_A, *SHAPES_B) == OBJECT_CLASSES
    assert len(SyntheticObjects(classes=None).classes) == 10


def test_an_image_does_not_depend_on_the_other_classes_chosen() -> None:
    subset = SyntheticObjects("val", images_per_class=2, classes=["hash", "disc"])
    assert subset.classes == ["hash", "disc"] and subset.targets == [0, 1, 0, 1]
    disc = OBJECT_CLASSES.index("disc")
    expected = render_object(disc, global_instance("val", 1), (64, 64), 0)
    assert torch.equal(subset[3]["image"], expected)
    assert int(subset[3]["label"]) == 1


def test_deterministic_and_distinct_across_splits_seeds_and_instances() -> None:
    a = SyntheticObjects("train", images_per_class=2, seed=3)[4]["image"]
    assert torch.equal(a, SyntheticObjects("train", images_per_class=2, seed=3)[4]["image"])
    others = [
        SyntheticObjects("val", images_per_class=2, seed=3)[4]["image"],
        SyntheticObjects("train", images_per_class=2, seed=4)[4]["image"],
        SyntheticObjects("train", images_per_class=2, seed=3)[14]["image"],
    ]
    for other in others:
        assert not torch.equal(a, other)
    assert len({global_instance(s, i) for s in ("train", "val", "test") for i in range(50)}) == 150


def test_every_class_draws_an_object_over_the_background() -> None:
    # Two renders of one class differ in everything but the object, and the objects of two
    # classes differ in shape: check the renders are not blank and not all alike.
    images = torch.stack([render_object(k, 0, (48, 48)) for k in range(len(OBJECT_CLASSES))])
    assert images.float().std(dim=(1, 2, 3)).min() > 20
    flat = images.flatten(1).float()
    distances = torch.cdist(flat, flat)
    assert distances[~torch.eye(len(OBJECT_CLASSES), dtype=torch.bool)].min() > 100


def test_transforms_get_the_whole_sample() -> None:
    seen = []

    def record(sample):
        seen.append(set(sample))
        return sample

    objects = SyntheticObjects(images_per_class=1, transforms=record)
    objects[0]
    assert seen == [{"image", "label"}]
    pipeline = v2.Compose(
        [v2.RandomResizedCrop(32, antialias=True), v2.ToDtype(torch.float32, scale=True)]
    )
    out = SyntheticObjects(images_per_class=1, transforms=pipeline)[2]
    assert out["image"].shape == (3, 32, 32) and int(out["label"]) == 2


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"split": "extra"}, "split must be one of"),
        ({"images_per_class": 0}, "images_per_class must be an integer >= 1"),
        ({"classes": ["disc", "kite"]}, "classes must be distinct names"),
        ({"classes": ["disc", "disc"]}, "classes must be distinct names"),
        ({"classes": []}, "classes must be distinct names"),
        ({"image_size": (8, 64)}, r"image size must be \(height, width\)"),
        ({"seed": -1}, "seed must be a non-negative integer"),
        ({"transforms": 3}, "transforms must be callable"),
    ],
)
def test_bad_arguments(kwargs, message) -> None:
    with pytest.raises(ValueError, match=message):
        SyntheticObjects(**kwargs)


def test_bad_index_and_render_arguments() -> None:
    objects = SyntheticObjects(images_per_class=1)
    with pytest.raises(IndexError, match="out of range"):
        objects[10]
    with pytest.raises(ValueError, match="label must be below 16"):
        render_object(16, 0)
    with pytest.raises(ValueError, match="instance must be a non-negative integer"):
        render_object(0, -1)


# sha256 (first 24 hex digits) of renders: any change to the renderer's random-number
# consumption or arithmetic changes them, and with them every figure the recipes report.
DIGESTS = {
    (0, 0, (64, 64), 0): "37ebc71d05d6b14adaf5bc76",
    (6, 5, (64, 64), 0): "4582b834663140725e2919ca",
    (8, 1, (56, 48), 2): "70597fd801733cc91e951697",
    (15, 3, (32, 32), 1): "db51664668f9fee218481039",
}


def _digest(image: torch.Tensor) -> str:
    return hashlib.sha256(image.contiguous().numpy().tobytes()).hexdigest()[:24]


@pytest.mark.parametrize("case", list(DIGESTS))
def test_renders_stay_bit_identical(case) -> None:
    assert _digest(render_object(*case)) == DIGESTS[case]


@pytest.mark.slow
def test_raw_pixels_are_a_weak_baseline() -> None:
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    def arrays(split: str, per_class: int) -> tuple[np.ndarray, np.ndarray]:
        objects = SyntheticObjects(split, images_per_class=per_class, image_size=(32, 32))
        images = np.stack([objects[i]["image"].numpy().reshape(-1) for i in range(len(objects))])
        return images.astype(np.float32) / 255.0, np.asarray(objects.targets)

    train_x, train_y = arrays("train", 300)
    test_x, test_y = arrays("test", 100)
    scaler = StandardScaler().fit(train_x)
    model = LogisticRegression(max_iter=300, C=0.01).fit(scaler.transform(train_x), train_y)
    accuracy = model.score(scaler.transform(test_x), test_y)
    assert accuracy < 0.2  # chance is 0.1; measured 0.128
