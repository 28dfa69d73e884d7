from __future__ import annotations

import itertools
import math
import pickle

import numpy as np
import pytest
import torch
from torchvision import tv_tensors
from torchvision.transforms import v2

from lightning_deepvision.datasets import synthetic_faces
from lightning_deepvision.datasets.synthetic_faces import (
    ATTRIBUTE_NAMES,
    HELEN_LABELS,
    HFLIP_LABEL_PERMUTATION,
    ILLUMINATION_DIRECTIONS,
    NEUTRAL_ILLUMINATION,
    NUM_ILLUMINATIONS,
    YAW_ANGLES,
    SyntheticFacePairs,
    SyntheticFaces,
    global_identity,
    render_face,
)

ATTR = {name: i for i, name in enumerate(ATTRIBUTE_NAMES)}
FACE_PARTS = set(range(1, 10))  # skin, brows, eyes, nose, lips, inner mouth
HAIR = 10


def _equal(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


@pytest.fixture(scope="module")
def renders() -> list[tuple[int, int, dict[str, torch.Tensor]]]:
    """A fixed sample of nuisance renders: 30 identities x 4 images."""
    return [(i, s, render_face(i, s)) for i in range(30) for s in range(4)]


# ------------------------------------------------------------------------------------------
# render_face
# ------------------------------------------------------------------------------------------


def test_render_keys_shapes_dtypes() -> None:
    out = render_face(3, 1)
    assert set(out) == {"image", "mask", "attributes", "yaw", "illumination"}
    assert out["image"].shape == (3, 64, 56) and out["image"].dtype == torch.uint8
    assert out["mask"].shape == (64, 56) and out["mask"].dtype == torch.int64
    assert out["attributes"].shape == (len(ATTRIBUTE_NAMES),)
    assert out["attributes"].dtype == torch.int64
    assert set(out["attributes"].tolist()) <= {0, 1}
    assert out["yaw"].shape == () and out["yaw"].dtype == torch.float32
    assert out["illumination"].shape == () and out["illumination"].dtype == torch.int64
    assert float(out["yaw"]) in YAW_ANGLES
    assert 0 <= int(out["illumination"]) < NUM_ILLUMINATIONS == 20
    assert len(HELEN_LABELS) == 11


@pytest.mark.parametrize("size", [(55, 47), (96, 80), (32, 32)])
def test_render_other_sizes(size: tuple[int, int]) -> None:
    out = render_face(5, 2, size)
    assert out["image"].shape == (3, *size)
    assert out["mask"].shape == size


def test_render_is_deterministic_and_seeded() -> None:
    a = render_face(7, 3, seed=11)
    assert _equal(a, render_face(7, 3, seed=11))
    assert not torch.equal(a["image"], render_face(7, 3, seed=12)["image"])
    assert not torch.equal(a["image"], render_face(7, 4, seed=11)["image"])
    assert not torch.equal(a["image"], render_face(8, 3, seed=11)["image"])
    # A different seed draws a different person, not just other nuisance.
    assert not torch.equal(
        render_face(7, 0, seed=11, frontal=True)["image"],
        render_face(7, 0, seed=12, frontal=True)["image"],
    )


def test_mask_labels_in_range(renders) -> None:
    for _, _, out in renders:
        assert int(out["mask"].min()) >= 0 and int(out["mask"].max()) <= 10


@pytest.mark.parametrize("size", [(64, 56), (55, 47)])
def test_frontal_render_shows_every_face_part(size: tuple[int, int]) -> None:
    for identity in range(40):
        out = render_face(identity, 0, size, frontal=True)
        labels = set(out["mask"].unique().tolist())
        assert FACE_PARTS | {0} <= labels, (identity, FACE_PARTS - labels)
        # Hair is drawn exactly when the person is not bald.
        assert (HAIR in labels) == (not out["attributes"][ATTR["Bald"]]), identity


def test_frontal_left_and_right_parts_are_on_the_image_left_and_right() -> None:
    for identity in range(10):
        mask = render_face(identity, 0, frontal=True)["mask"]
        cols = torch.arange(mask.shape[1]).expand_as(mask).float()
        centre = cols[mask == 6].mean()  # nose
        for left, right in ((2, 3), (4, 5)):
            assert cols[mask == left].mean() < centre < cols[mask == right].mean()
        # Mirroring the frontal mask and swapping sides gives (nearly) the same mask.
        mirrored = torch.tensor(HFLIP_LABEL_PERMUTATION)[mask.flip(-1)]
        parts = (mask > 0) & (mask < HAIR)
        assert (mirrored[parts] == mask[parts]).float().mean() > 0.8


def test_frontal_target_is_canonical_and_sample_independent() -> None:
    a = render_face(4, 0, frontal=True)
    assert _equal(a, render_face(4, 9, frontal=True))
    assert float(a["yaw"]) == 0.0
    assert int(a["illumination"]) == NEUTRAL_ILLUMINATION
    attrs = a["attributes"]
    for name in ("Smiling", "Mouth_Slightly_Open", "Eyeglasses", "Heavy_Lighting"):
        assert attrs[ATTR[name]] == 0
    # Identity attributes agree between the frontal and every nuisance render of the person.
    for sample in range(5):
        other = render_face(4, sample)["attributes"]
        for name in ("Male", "Dark_Hair", "Bangs", "Bald", "Pale_Skin", "Big_Nose"):
            assert other[ATTR[name]] == attrs[ATTR[name]]
    # The nuisance renders are not the frontal view.
    assert not torch.equal(render_face(4, 0)["image"], a["image"])


def test_yaw_moves_the_nose_across_the_face(renders) -> None:
    yaws, offsets = [], []
    for _, _, out in renders:
        mask = out["mask"]
        cols = torch.arange(mask.shape[1]).expand_as(mask).float()
        face = (mask >= 1) & (mask <= 9)
        nose = mask == 6
        if nose.any():
            yaws.append(float(out["yaw"]))
            offsets.append(float(cols[nose].mean() - cols[face].mean()))
    assert len(set(yaws)) == len(YAW_ANGLES)  # every Multi-PIE pose occurs
    # Positive yaw turns the face to the image's right.
    assert np.corrcoef(yaws, offsets)[0, 1] > 0.9


def test_illumination_lights_the_side_it_comes_from(renders) -> None:
    side, contrast = [], []
    for _, _, out in renders:
        direction = ILLUMINATION_DIRECTIONS[int(out["illumination"])]
        skin = out["mask"] == 1
        if direction is None or skin.sum() < 50:
            continue
        grey = out["image"].float().mean(0)
        cols = torch.arange(skin.shape[1]).expand_as(skin).float()
        centre = cols[skin].mean()
        right, left = skin & (cols > centre), skin & (cols < centre)
        side.append(math.sin(math.radians(direction[0])))
        contrast.append(float(grey[right].mean() - grey[left].mean()))
    assert np.corrcoef(side, contrast)[0, 1] > 0.8


def test_attributes_follow_what_is_drawn(renders) -> None:
    seen = torch.stack([out["attributes"] for _, _, out in renders])
    # Every attribute takes both values, so each is informative.
    assert (seen.float().mean(0) > 0.05).all() and (seen.float().mean(0) < 0.95).all()
    glasses = 0
    open_share, closed_share = [], []
    for identity, _, out in renders:
        attrs, mask = out["attributes"], out["mask"]
        if attrs[ATTR["Bald"]]:
            assert not (mask == HAIR).any()
            assert not attrs[ATTR["Dark_Hair"]] and not attrs[ATTR["Bangs"]]
        direction = ILLUMINATION_DIRECTIONS[int(out["illumination"])]
        heavy = direction is not None and abs(direction[0]) >= 45
        assert bool(attrs[ATTR["Heavy_Lighting"]]) == heavy
        if attrs[ATTR["Eyeglasses"]]:  # sunglasses hide (almost all of) the eyes
            glasses += 1
            frontal = render_face(identity, 0, frontal=True)["mask"]
            eyes = int(((mask == 4) | (mask == 5)).sum())
            assert eyes < 0.25 * int(((frontal == 4) | (frontal == 5)).sum())
        # Share of the mouth that is inner mouth rather than lips.
        inner = int((mask == 8).sum())
        share = inner / max(inner + int(((mask == 7) | (mask == 9)).sum()), 1)
        (open_share if attrs[ATTR["Mouth_Slightly_Open"]] else closed_share).append(share)
    assert glasses > 3 and len(open_share) > 10
    assert np.mean(open_share) > np.mean(closed_share) + 0.15


def test_raw_pixels_are_a_weak_identity_cue(renders) -> None:
    """Same-person images are closer than different-person ones, but not by much."""
    x = torch.stack([out["image"].float().flatten() for _, _, out in renders])
    ids = torch.tensor([identity for identity, _, _ in renders])
    dist = torch.cdist(x, x)
    same = (ids[:, None] == ids[None]) & ~torch.eye(len(ids), dtype=torch.bool)
    different = ids[:, None] != ids[None]
    d_same, d_diff = dist[same], dist[different]
    assert d_same.mean() < d_diff.mean()
    # Substantial overlap: many matched pairs are further apart than the typical mismatch.
    assert (d_same > d_diff.median()).float().mean() > 0.2
    # Area under the ROC of -distance: above chance, far from separable.
    auc = (d_same[:, None] < d_diff[None]).float().mean()
    assert 0.52 < auc < 0.8


def test_frontal_views_of_different_people_differ() -> None:
    x = torch.stack([render_face(i, 0, frontal=True)["image"].float().flatten() for i in range(60)])
    dist = torch.cdist(x, x) + torch.eye(60) * 1e9
    # Root-mean-square difference of at least a few grey levels between any two people.
    assert dist.min() / math.sqrt(x.shape[1]) > 3.0


def test_render_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError, match="identity"):
        render_face(-1, 0)
    with pytest.raises(ValueError, match="sample"):
        render_face(0, -2)
    with pytest.raises(ValueError, match="identity"):
        render_face(True, 0)
    with pytest.raises(ValueError, match="identity"):
        render_face(1.5, 0)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="seed"):
        render_face(0, 0, seed=-1)
    with pytest.raises(ValueError, match="size"):
        render_face(0, 0, (8, 8))
    with pytest.raises(ValueError, match="size"):
        render_face(0, 0, (64,))  # type: ignore[arg-type]


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
    original = synthetic_faces.render_face

    def counting(*args, **kwargs):
        calls.append(args)
        return original(*args, **kwargs)

    monkeypatch.setattr(synthetic_faces, "render_face", counting)
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


def test_pairs_transforms_apply_to_each_image() -> None:
    seen = []

    def transform(image):
        seen.append(type(image))
        return v2.functional.resize(image, [32, 28])

    ds = SyntheticFacePairs(
        num_identities=20, images_per_identity=2, pairs_per_fold=2, transforms=transform
    )
    sample = ds[1]
    assert seen == [tv_tensors.Image, tv_tensors.Image]
    assert sample["image1"].shape == sample["image2"].shape == (3, 32, 28)


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
        i, j = synthetic_faces._unrank_pairs(np.arange(len(expected)), n)
        assert list(zip(i.tolist(), j.tolist(), strict=True)) == expected
