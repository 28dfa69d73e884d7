"""PatchEnsemble: patch geometry, colour modes, mirrors, selection, supervision levels."""

import pytest
import torch

from lightning_deepvision.models import DEEPID2_PATCHES, PatchEnsemble, create_model


def test_patches_are_the_boxes_relative_to_the_face() -> None:
    # A face whose value is the row index: a crop of rows [top, top + height) averages to the
    # middle row of the box, at any face resolution.
    ensemble = PatchEnsemble("deepid2_tiny", [[0.0, 0.0, 1.0, 1.0], [0.5, 0.0, 0.5, 1.0]])
    for height in (64, 128):
        rows = torch.arange(height, dtype=torch.float32)[:, None].expand(height, 56)
        face = rows.expand(2, 3, height, 56).contiguous()
        whole, lower = ensemble.crops(face)
        assert whole.shape == lower.shape == (2, 3, 55, 47)
        assert whole.mean().item() == pytest.approx((height - 1) / 2, rel=1e-3)
        assert lower.mean().item() == pytest.approx((height / 2 + height - 1) / 2, rel=1e-3)
        # The first output row averages its bin of the box: rows height/2 .. height/2 + bin.
        first_bin = (height / 2) / 55
        assert lower[0, 0, 0, 0].item() == pytest.approx(height / 2 + first_bin / 2 - 0.5, abs=0.01)


def test_grey_mode_gives_one_channel_luma() -> None:
    ensemble = PatchEnsemble("deepid2_tiny", [[0, 0, 1, 1, "grey"], [0, 0, 1, 1, "rgb"]])
    face = torch.zeros(1, 3, 64, 56)
    face[:, 1] = 1.0  # pure green
    grey, rgb = ensemble.crops(face)
    assert grey.shape[1] == 1 and rgb.shape[1] == 3
    torch.testing.assert_close(grey, torch.full_like(grey, 0.587))
    assert ensemble.nets[0].in_chans == 1  # type: ignore[union-attr]


def test_levels_features_mirrors_and_selection() -> None:
    torch.manual_seed(0)
    ensemble = PatchEnsemble("deepid2plus_tiny", [[0, 0, 1, 1], [0, 0, 0.6, 1], [0.4, 0, 0.6, 1]])
    ensemble.eval()
    assert ensemble.level_features == [16] * 12  # FC-1..FC-4 of each of the three nets
    faces = torch.randn(2, 3, 64, 56)
    assert len(ensemble.forward_levels(faces)) == 12
    features = ensemble(faces)
    assert features.shape == (2, 48) and ensemble.num_features == 48
    # Each net's share is its own top level on its own patch.
    patches = ensemble.crops(faces)
    torch.testing.assert_close(features[:, 16:32], ensemble.nets[1](patches[1]))
    # The mirror of a patch is the patch flipped, not the patch at the mirrored position.
    mirrored = ensemble.mirrored_features(faces)
    torch.testing.assert_close(mirrored[:, 32:], ensemble.nets[2](patches[2].flip(-1)))
    ensemble.selected.copy_(torch.tensor([True, False, True]))
    assert ensemble.num_features == 32
    torch.testing.assert_close(ensemble(faces), torch.cat([features[:, :16], features[:, 32:]], 1))
    # The selection is state: it travels in the state dict.
    assert ensemble.state_dict()["selected"].tolist() == [True, False, True]


def test_default_patch_list_and_registry() -> None:
    assert len(DEEPID2_PATCHES) == 25
    ensemble = create_model("patch_ensemble", net="deepid2_tiny", in_chans=1)
    assert ensemble.num_patches == 25
    assert sum(mode == "grey" for mode in ensemble.modes) == 10


@pytest.mark.parametrize(
    ("patch", "message"),
    [([0, 0, 1], "top, left, height, width"), ([0, 0, 1, 1, "hsv"], "rgb"), ([0, 0, 0, 1], "size")],
)
def test_malformed_patch_is_named(patch: list, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        PatchEnsemble("deepid2_tiny", [[0, 0, 1, 1], patch])
