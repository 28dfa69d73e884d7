"""SyntheticMultiView: poses, target modes and the render cache."""

from __future__ import annotations

import torch

from lightning_deepvision.datasets.synthetic.face_renderer import frontal_image, render_face
from lightning_deepvision.datasets.synthetic.multiview import SyntheticMultiView

SMALL = {"num_identities": 2, "images_per_identity": 7, "image_size": (16, 16)}


def test_cached_samples_equal_fresh_renders() -> None:
    fresh = SyntheticMultiView(**SMALL, target_view="random", target_seed=3)
    cached = SyntheticMultiView(**SMALL, target_view="random", target_seed=3, cache=True)
    for index in (0, 5, 13, 5):
        a, b = fresh[index], cached[index]
        for key in ("image", "yaw", "illumination", "target", "target_yaw", "identity"):
            torch.testing.assert_close(a[key], b[key], msg=key)
    assert sorted(cached._rendered) == [0, 5, 13] and not fresh._rendered
    # A caller that edits its sample leaves the cached copy alone.
    cached[0]["image"].zero_()
    torch.testing.assert_close(cached[0]["image"], fresh[0]["image"])


def test_random_canonical_target_is_the_person_at_that_pose_in_canonical_conditions() -> None:
    data = SyntheticMultiView(**SMALL, target_view="random_canonical", target_seed=0)
    seen = set()
    for index in range(len(data)):
        sample = data[index]
        identity, yaw = int(sample["identity"]), float(sample["target_yaw"])
        expected = render_face(identity, 0, (16, 16), frontal=True, yaw=yaw)["image"]
        torch.testing.assert_close(sample["target"], expected)
        seen.add(yaw)
    assert len(seen) > 2
    # At yaw 0 it is FIP's canonical view.
    frontal = render_face(data.identities[0], 0, (16, 16), frontal=True, yaw=0.0)["image"]
    torch.testing.assert_close(frontal, frontal_image(data.identities[0], 16, 16, 0))
    # Seen from another pose the canonical face changes.
    side = render_face(data.identities[0], 0, (16, 16), frontal=True, yaw=45.0)["image"]
    assert not torch.equal(side, frontal)
