"""MVP: identity and view neurons, output at a requested view, view prediction."""

from __future__ import annotations

import pytest
import torch

from lightning_deepvision.models import create_model, list_models
from lightning_deepvision.models.mvp import MULTIPIE_YAWS, MVP


def test_registered_with_a_tiny_variant() -> None:
    assert {"mvp", "mvp_tiny"} <= set(list_models())
    assert create_model("mvp").in_size == (32, 32)  # specs §11: 32x32 grey
    assert create_model("mvp_tiny").num_views == len(MULTIPIE_YAWS) == 7


def test_parameter_count_follows_the_layers() -> None:
    model = MVP(in_chans=1, in_size=8, hidden=10, identity_dim=6, view_dim=3, yaws=(-15, 0, 15))
    pixels = 64
    expected = (
        (pixels * 10 + 10)  # first hidden layer
        + (10 * 6 + 6)  # identity neurons
        + (10 * 3 + 3)  # view neurons
        + (3 * 3 + 3)  # view classifier
        + 3 * 3  # requested-view codes
        + ((6 + 3) * 10 + 10)  # decoder hidden layer
        + (10 * pixels + pixels)  # output image
    )
    assert sum(p.numel() for p in model.parameters()) == expected
    assert model.num_features == 6


def test_view_index_picks_the_nearest_pose() -> None:
    model = create_model("mvp_tiny")
    yaws = torch.tensor([-45.0, -40.0, 0.0, 14.0, 29.0, 90.0])
    assert model.view_index(yaws).tolist() == [0, 0, 3, 4, 5, 6]


def test_outputs_depend_on_the_requested_view_only_through_the_decoder() -> None:
    torch.manual_seed(0)
    model = create_model("mvp_tiny").eval()
    x = torch.rand(2, 1, 16, 16)
    front = model.forward_all(x, torch.tensor([3, 3]))
    side = model.forward_all(x, torch.tensor([0, 6]))
    assert front["reconstruction"].shape == (2, 1, 16, 16)
    assert front["view_logits"].shape == (2, 7) and front["features"].shape == (2, 16)
    # Identity features and view prediction come from the input alone.
    torch.testing.assert_close(front["features"], side["features"])
    torch.testing.assert_close(front["view_logits"], side["view_logits"])
    assert not torch.allclose(front["reconstruction"], side["reconstruction"])
    # Without a view the face is rendered frontal (yaw 0).
    torch.testing.assert_close(model(x), front["reconstruction"])


def test_the_loss_trains_every_layer() -> None:
    torch.manual_seed(0)
    model = create_model("mvp_tiny")
    x = torch.rand(4, 1, 16, 16)
    out = model.forward_all(x, torch.tensor([0, 1, 2, 3]))
    loss = ((out["reconstruction"] - x) ** 2).mean()
    loss = loss + torch.nn.functional.cross_entropy(out["view_logits"], torch.tensor([6, 5, 4, 3]))
    loss.backward()
    unused = {"view_code.weight"}  # only the requested rows get a gradient
    for name, p in model.named_parameters():
        assert p.grad is not None, name
        if name not in unused:
            assert p.grad.abs().sum() > 0, name
    assert model.view_code.weight.grad is not None
    assert model.view_code.weight.grad[4:].abs().sum() == 0


def test_rejects_no_views() -> None:
    with pytest.raises(ValueError, match="at least one view"):
        MVP(yaws=())


def test_standardize_removes_exposure_and_contrast() -> None:
    torch.manual_seed(0)
    model = create_model("mvp_tiny").eval()
    x = torch.rand(2, 1, 16, 16)
    # The same image brighter and with more contrast gives the same identity features.
    torch.testing.assert_close(model.forward_features(0.1 + 0.5 * x), model.forward_features(x))
    raw = create_model("mvp_tiny", standardize=False).eval()
    raw.load_state_dict(model.state_dict())
    assert not torch.allclose(raw.forward_features(0.1 + 0.5 * x), raw.forward_features(x))
    # A flat image stays finite.
    assert torch.isfinite(model.forward_features(torch.full((1, 1, 16, 16), 0.5))).all()
