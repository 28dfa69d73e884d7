from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from lightning_deepvision.datasets.synthetic import (
    ATTRIBUTE_NAMES,
    HELEN_LABELS,
    HFLIP_LABEL_PERMUTATION,
    ILLUMINATION_DIRECTIONS,
    NEUTRAL_ILLUMINATION,
    NUM_ILLUMINATIONS,
    YAW_ANGLES,
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
