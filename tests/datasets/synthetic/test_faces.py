from __future__ import annotations

import itertools
import pickle

import numpy as np
import pytest
import torch
from torchvision import tv_tensors
from torchvision.transforms import v2

from lightning_deepvision.datasets.synthetic import (
    ATTRIBUTE_NAMES,
    SyntheticFacePairs,
    SyntheticFaces,
    global_identity,
    render_face,
)
from lightning_deepvision.datasets.synthetic import faces as faces_module


def _equal(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


# ------------------------------------------------------------------------------------------
# SyntheticFaces
# ------------------------------------------------------------------------------------------


def test_dataset_sample() -> None:
    ds = SyntheticFaces("train", num_identities=5, images_per_identity=3)
    assert len(ds) == 15 and ds.num_classes == 5
    assert ds.attribute_names == ATTRIBUTE_NAMES
    sample = ds[7]
    assert set(sample) == {
        "image",
        "label",
        "identity",
        "attributes",
        "mask",
        "yaw",
        "illumination",
        "target",
    }
    assert isinstance(sample["image"], tv_tensors.Image)
    assert isinstance(sample["mask"], tv_tensors.Mask)
    assert isinstance(sample["target"], tv_tensors.Image)
    assert sample["image"].shape == sample["target"].shape == (3, 64, 56)
    assert sample["image"].dtype == sample["target"].dtype == torch.uint8
    assert sample["mask"].shape == (64, 56) and sample["mask"].dtype == torch.int64
    assert sample["label"].dtype == sample["identity"].dtype == torch.int64
    assert int(sample["label"]) == 7 // 3 == ds.targets[7]
    assert int(sample["identity"]) == global_identity("train", 2)
    # The sample is image 7 % 3 of that person, and its target the person's frontal view.
    rendered = render_face(int(sample["identity"]), 1)
    assert torch.equal(sample["image"], rendered["image"])
    assert torch.equal(sample["mask"], rendered["mask"])
    frontal = render_face(int(sample["identity"]), 0, frontal=True)["image"]
    assert torch.equal(sample["target"], frontal)
    assert torch.equal(ds[6]["target"], frontal)  # same person, other image
    assert torch.equal(ds[-1]["image"], ds[14]["image"])
    with pytest.raises(IndexError):
        ds[15]


def test_dataset_targets_and_labels() -> None:
    ds = SyntheticFaces("val", num_identities=4, images_per_identity=5)
    assert ds.targets == [i // 5 for i in range(20)]
    assert ds.labels == ds.targets
    assert ds.identities == [3 * label + 1 for label in range(4)]
    assert [int(ds[i]["label"]) for i in (0, 4, 5, 19)] == [0, 0, 1, 3]


def test_dataset_renders_lazily(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []
    original = faces_module.render_face

    def counting(*args, **kwargs):
        calls.append(args)
        return original(*args, **kwargs)

    monkeypatch.setattr(faces_module, "render_face", counting)
    ds = SyntheticFaces(num_identities=2000, images_per_identity=50)
    pairs = SyntheticFacePairs(num_identities=2000, images_per_identity=50)
    assert calls == [] and len(ds) == 100_000 and len(pairs) == 600
    ds[123]
    assert calls


def test_dataset_deterministic_and_picklable() -> None:
    a = SyntheticFaces("test", num_identities=3, images_per_identity=2, seed=5)
    b = pickle.loads(pickle.dumps(a))
    for i in range(len(a)):
        assert _equal(a[i], b[i])
    c = SyntheticFaces("test", num_identities=3, images_per_identity=2, seed=6)
    assert not torch.equal(a[0]["image"], c[0]["image"])


def test_splits_are_identity_disjoint() -> None:
    train = set(SyntheticFaces("train", num_identities=700).identities)
    val = set(SyntheticFaces("val", num_identities=300).identities)
    test = set(SyntheticFaces("test", num_identities=900).identities)
    assert len(train) == 700 and len(val) == 300 and len(test) == 900
    assert not train & val and not train & test and not val & test
    for split in ("val", "test"):
        pairs = SyntheticFacePairs(split, num_identities=400)
        used = set(pairs.pairs[:, 0].tolist()) | set(pairs.pairs[:, 2].tolist())
        assert not used & train
        assert used <= set(SyntheticFaces(split, num_identities=400).identities)
    # Growing one split never changes the people of another.
    assert global_identity("train", 10) == SyntheticFaces("train", 11).identities[10]


def test_dataset_transforms_apply_to_the_whole_sample() -> None:
    ds = SyntheticFaces(num_identities=2, images_per_identity=2)
    flipped = SyntheticFaces(
        num_identities=2, images_per_identity=2, transforms=v2.RandomHorizontalFlip(p=1.0)
    )
    a, b = ds[3], flipped[3]
    for key in ("image", "mask", "target"):
        assert type(b[key]) is type(a[key])
        assert torch.equal(b[key], a[key].flip(-1))
    for key in ("label", "identity", "attributes", "yaw", "illumination"):
        assert torch.equal(b[key], a[key])
    resized = SyntheticFaces(
        num_identities=2, images_per_identity=2, transforms=v2.Resize((32, 28))
    )[0]
    assert resized["image"].shape == (3, 32, 28) and resized["mask"].shape == (32, 28)


def test_dataset_image_size() -> None:
    sample = SyntheticFaces(num_identities=1, images_per_identity=1, image_size=(55, 47))[0]
    assert sample["image"].shape == sample["target"].shape == (3, 55, 47)
    assert sample["mask"].shape == (55, 47)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"split": "training"}, "split"),
        ({"num_identities": 0}, "num_identities"),
        ({"images_per_identity": 0}, "images_per_identity"),
        ({"num_identities": 2.0}, "num_identities"),
        ({"image_size": (15, 64)}, "size"),
        ({"image_size": 64}, "size"),
        ({"seed": -3}, "seed"),
        ({"transforms": "flip"}, "transforms"),
    ],
)
def test_dataset_rejects_bad_arguments(kwargs, match) -> None:
    with pytest.raises(ValueError, match=match):
        SyntheticFaces(**kwargs)


# ------------------------------------------------------------------------------------------
# SyntheticFacePairs
# ------------------------------------------------------------------------------------------


def test_pairs_protocol() -> None:
    ds = SyntheticFacePairs("test", num_identities=40, images_per_identity=4, pairs_per_fold=20)
    assert len(ds) == 200 == len(ds.pairs) == len(ds.same) == len(ds.folds)
    identity1, sample1, identity2, sample2 = ds.pairs.T
    fold_people = []
    for fold in range(10):
        in_fold = ds.folds == fold
        same = ds.same[in_fold]
        # LFW order: matched pairs, then mismatched, half each.
        assert same.tolist() == [1] * 10 + [0] * 10
        fold_people.append(set(identity1[in_fold].tolist()) | set(identity2[in_fold].tolist()))
    for a, b in itertools.combinations(fold_people, 2):
        assert not a & b  # folds are identity-disjoint
    matched = ds.same == 1
    assert torch.equal(identity1[matched], identity2[matched])
    assert (sample1[matched] != sample2[matched]).all()
    assert (identity1[~matched] != identity2[~matched]).all()
    assert ((sample1 >= 0) & (sample1 < 4) & (sample2 >= 0) & (sample2 < 4)).all()
    # No pair occurs twice (in either order).
    keys = {frozenset({(a, s), (b, t)}) for a, s, b, t in ds.pairs.tolist()}
    assert len(keys) == len(ds)


def test_pairs_sample() -> None:
    ds = SyntheticFacePairs("val", num_identities=20, images_per_identity=3, pairs_per_fold=4)
    for index in (0, 2, len(ds) - 1):
        sample = ds[index]
        assert set(sample) == {"image1", "image2", "same", "fold", "index"}
        assert isinstance(sample["image1"], tv_tensors.Image)
        assert sample["image1"].shape == sample["image2"].shape == (3, 64, 56)
        assert sample["image1"].dtype == torch.uint8
        assert int(sample["index"]) == index and sample["index"].dtype == torch.int64
        assert int(sample["same"]) == int(ds.same[index])
        assert int(sample["fold"]) == int(ds.folds[index])
        identity1, sample1, identity2, sample2 = ds.pairs[index].tolist()
        assert torch.equal(sample["image1"], render_face(identity1, sample1)["image"])
        assert torch.equal(sample["image2"], render_face(identity2, sample2)["image"])


def test_pairs_deterministic() -> None:
    kwargs = {"num_identities": 30, "images_per_identity": 4, "num_folds": 3, "pairs_per_fold": 10}
    a = SyntheticFacePairs(**kwargs)
    assert torch.equal(a.pairs, SyntheticFacePairs(**kwargs).pairs)
    assert not torch.equal(a.pairs, SyntheticFacePairs(seed=1, **kwargs).pairs)
    assert torch.equal(a[5]["image1"], SyntheticFacePairs(**kwargs)[5]["image1"])


def test_pairs_transforms_receive_the_whole_sample() -> None:
    seen = []

    def transform(sample):
        seen.append({key: type(value) for key, value in sample.items()})
        return v2.Resize((32, 28))(sample)

    ds = SyntheticFacePairs(
        num_identities=20, images_per_identity=2, pairs_per_fold=2, transforms=transform
    )
    plain = SyntheticFacePairs(num_identities=20, images_per_identity=2, pairs_per_fold=2)[1]
    sample = ds[1]
    # One call with the sample dict, images as tv_tensors.Image, the rest plain tensors.
    assert seen == [
        {
            "image1": tv_tensors.Image,
            "image2": tv_tensors.Image,
            "same": torch.Tensor,
            "fold": torch.Tensor,
            "index": torch.Tensor,
        }
    ]
    assert sample["image1"].shape == sample["image2"].shape == (3, 32, 28)
    for key in ("same", "fold", "index"):
        assert torch.equal(sample[key], plain[key]) and sample[key].dtype == torch.int64


@pytest.mark.parametrize("crop", [False, True])
def test_pairs_eval_pipeline_on_the_sample_equals_per_image_calls(crop: bool) -> None:
    steps: list[v2.Transform] = [v2.ToImage()]
    if crop:
        steps.append(v2.CenterCrop((52, 44)))
    steps += [
        v2.Resize((55, 47), antialias=True),
        v2.ToDtype(torch.float32, scale=True),
        v2.Normalize([0.5, 0.45, 0.4], [0.25, 0.25, 0.25]),
    ]
    pipeline = v2.Compose(steps)
    kwargs = {"num_identities": 20, "images_per_identity": 3, "pairs_per_fold": 4}
    transformed = SyntheticFacePairs(transforms=pipeline, **kwargs)
    plain = SyntheticFacePairs(**kwargs)
    for index in (0, 3, len(plain) - 1):
        got, raw = transformed[index], plain[index]
        for key in ("image1", "image2"):
            expected = pipeline(raw[key])
            assert got[key].dtype == torch.float32 and got[key].shape == (3, 55, 47)
            assert torch.equal(got[key], expected)
        # Plain tensors pass through untouched (not taken for images, not cast, not normalised).
        for key in ("same", "fold", "index"):
            assert type(got[key]) is torch.Tensor and got[key].dtype == torch.int64
            assert torch.equal(got[key], raw[key])


def test_pairs_random_transform_draws_one_set_of_parameters_for_both_images() -> None:
    ds = SyntheticFacePairs(
        num_identities=20,
        images_per_identity=3,
        pairs_per_fold=4,
        transforms=v2.RandomHorizontalFlip(p=0.5),
    )
    plain = SyntheticFacePairs(num_identities=20, images_per_identity=3, pairs_per_fold=4)[2]
    torch.manual_seed(0)
    flips = []
    for _ in range(20):
        sample = ds[2]
        flipped = [torch.equal(sample[k], plain[k].flip(-1)) for k in ("image1", "image2")]
        kept = [torch.equal(sample[k], plain[k]) for k in ("image1", "image2")]
        assert flipped in ([True, True], [False, False]) and kept == [not f for f in flipped]
        flips.append(flipped[0])
    assert 0 < sum(flips) < len(flips)  # both outcomes occurred


def test_pairs_exhaust_a_small_fold_without_repeats() -> None:
    # Three people with two images each have exactly three distinct matched pairs.
    ds = SyntheticFacePairs(num_identities=3, images_per_identity=2, num_folds=1, pairs_per_fold=6)
    matched = {tuple(p) for p in ds.pairs[ds.same == 1].tolist()}
    assert matched == {(2, 0, 2, 1), (5, 0, 5, 1), (8, 0, 8, 1)}  # test people: 3 * label + 2
    with pytest.raises(ValueError, match="fold 0"):
        SyntheticFacePairs(num_identities=3, images_per_identity=2, num_folds=1, pairs_per_fold=8)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"split": "train"}, "split"),
        ({"num_folds": 0}, "num_folds"),
        ({"num_identities": 19}, "num_identities"),
        ({"images_per_identity": 1}, "images_per_identity"),
        ({"pairs_per_fold": 7}, "even"),
        ({"pairs_per_fold": 0}, "pairs_per_fold"),
        ({"num_identities": 20, "images_per_identity": 2, "pairs_per_fold": 10}, "fold"),
        ({"image_size": (64, 10)}, "size"),
        ({"transforms": 3}, "transforms"),
    ],
)
def test_pairs_reject_bad_arguments(kwargs, match) -> None:
    with pytest.raises(ValueError, match=match):
        SyntheticFacePairs(**kwargs)


def test_unrank_pairs_enumerates_the_upper_triangle() -> None:
    for n in range(2, 15):
        expected = list(itertools.combinations(range(n), 2))
        i, j = faces_module._unrank_pairs(np.arange(len(expected)), n)
        assert list(zip(i.tolist(), j.tolist(), strict=True)) == expected
