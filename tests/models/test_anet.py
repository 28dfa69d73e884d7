"""ANet, LNet and LNet+ANet: the paper's layers, shapes, patch averaging and localisation."""

from __future__ import annotations

import pytest
import torch

from lightning_deepvision.models import create_model
from lightning_deepvision.models.anet import (
    ANet,
    LNet,
    LNetANet,
    patch_windows,
    windows_from_response,
)
from lightning_deepvision.models.layers import LocallySharedConv2d
from lightning_deepvision.models.lnet_threshold import select_face_window_threshold


def test_anet_has_the_paper_layers() -> None:
    net = create_model("anet")
    convs = [m for m in net.features if isinstance(m, torch.nn.Conv2d | LocallySharedConv2d)]
    assert [m.out_channels for m in convs] == [20, 40, 60, 80]
    assert [tuple(m.kernel_size) for m in convs] == [(4, 4), (3, 3), (3, 3), (2, 2)]
    # C1, C2 share filters globally; C3, C4 are locally shared.
    assert [type(m) for m in convs] == [torch.nn.Conv2d] * 2 + [LocallySharedConv2d] * 2
    assert sum(isinstance(m, torch.nn.MaxPool2d) for m in net.features) == 3
    assert net(torch.randn(2, 3, 64, 56)).shape == (2, 256) and net.num_features == 256


def test_anet_features_average_the_patch_features() -> None:
    net = ANet(input_size=(56, 52), patch_size=(44, 40), patch_grid=(2, 3), feature_dim=8)
    assert len(net.windows) == 6
    x = torch.randn(3, 3, 56, 52)
    patches = net.forward_patches(x)
    assert patches.shape == (3, 6, 8)
    torch.testing.assert_close(net.forward_features(x), patches.mean(1))
    # Patch k of image b is the crop at window k: the same trunk applied to it alone.
    (y, x0) = net.windows[4]
    net.eval()
    patches = net.forward_patches(x)
    alone = net.fc(net.features(x[1:2, :, y : y + 44, x0 : x0 + 40]))
    torch.testing.assert_close(patches[1, 4], alone[0])
    # Averaging linear scores over patches equals scoring the averaged features.
    head = torch.nn.Linear(8, 5)
    torch.testing.assert_close(head(patches).mean(1), head(net.forward_features(x)))
    with pytest.raises(ValueError, match="56x52"):
        net(torch.randn(1, 3, 50, 52))


def test_patch_windows_touch_the_borders_and_overlap() -> None:
    assert patch_windows((64, 56), (48, 40), (2, 2)) == [(0, 0), (0, 16), (16, 0), (16, 16)]
    with pytest.raises(ValueError, match="do not fit"):
        patch_windows((20, 20), (24, 20), (1, 1))


def test_lnet_window_covers_the_strongest_response() -> None:
    lnet = LNet(width=0.05, stem_stride=2, threshold=0.5)
    image = torch.zeros(1, 3, 64, 56)
    image[..., 30:50, 30:50] = 1.0
    boxes = lnet.face_window(torch.cat([image, torch.zeros(1, 3, 64, 56)]))
    assert boxes.shape == (2, 4)
    x1, y1, x2, y2 = boxes[0].tolist()
    assert 0 <= x1 < x2 <= 56 and 0 <= y1 < y2 <= 64
    # A response that is zero everywhere falls back to the whole image.
    assert boxes[1].tolist() == [0.0, 0.0, 56.0, 64.0]


def test_lnet_anet_crops_then_describes(tmp_path) -> None:
    net = create_model("lnet_anet", lnet_width=0.05, lnet_stem_stride=2, anet_feature_dim=16)
    assert isinstance(net, LNetANet)
    out = net(torch.randn(2, 3, 80, 70))  # LNet takes the whole image at any size
    assert out.shape == (2, 16)
    assert net.localise(torch.randn(2, 3, 80, 70)).shape == (2, 3, 64, 56)
    # LNet weights come from a checkpoint of a task whose backbone was LNet.
    source = create_model("lnet", width=0.05, stem_stride=2)
    path = tmp_path / "lnet.ckpt"
    torch.save({"state_dict": {f"backbone.{k}": v for k, v in source.state_dict().items()}}, path)
    loaded = create_model(
        "lnet_anet", lnet_width=0.05, lnet_stem_stride=2, lnet_checkpoint=str(path)
    )
    torch.testing.assert_close(loaded.lnet.trunk[0].weight, source.trunk[0].weight)


def test_no_pretrained_weights() -> None:
    with pytest.raises(ValueError, match="no pretrained"):
        create_model("anet", pretrained=True)


def test_threshold_selection_keeps_the_window_that_matches_the_face_boxes() -> None:
    lnet = LNet(width=0.05, stem_stride=2, threshold=0.5)
    # A response map of 16x16 cells for 64x64 images (4 pixels a cell): background 0.1, the
    # face (cells 4..11, pixels 16..48) 0.4, its centre (cells 6..9, pixels 24..40) 1.0.
    response = torch.full((16, 16), 0.1)
    response[4:12, 4:12] = 0.4
    response[6:10, 6:10] = 1.0
    lnet.response = lambda x: response.expand(len(x), 16, 16)  # type: ignore[method-assign]
    faces = torch.tensor([[16.0, 16.0, 48.0, 48.0]]).expand(5, 4)
    batches = [(torch.zeros(3, 3, 64, 64), faces[:3]), (torch.zeros(2, 3, 64, 64), faces[3:])]
    choice = select_face_window_threshold(lnet, batches, num_images=4)
    # 0.05 and 0.10 keep the background (the whole image), 0.15-0.40 the face, above 0.40 the
    # centre only; ties go to the lowest threshold.
    assert choice.threshold == 0.15 and lnet.threshold == pytest.approx(0.15)
    assert choice.num_images == 4  # the first four images only
    iou = dict(zip(choice.candidates, choice.mean_iou, strict=True))
    assert iou[0.1] == pytest.approx(1024 / 4096) and iou[0.4] == pytest.approx(1.0)
    assert iou[0.5] == pytest.approx(256 / 1024) and iou[0.95] == pytest.approx(256 / 1024)
    # The chosen threshold is part of the state, so a checkpoint keeps it.
    fresh = LNet(width=0.05, stem_stride=2, threshold=0.5)
    fresh.load_state_dict(lnet.state_dict())
    assert fresh.threshold == pytest.approx(0.15)
    # A state written before the threshold was saved still loads (the constructor's stays).
    old = {k: v for k, v in lnet.state_dict().items() if k != "face_threshold"}
    fresh.load_state_dict(old)
    assert fresh.threshold == pytest.approx(0.15)
    with pytest.raises(ValueError, match="candidates"):
        select_face_window_threshold(lnet, batches, candidates=[0.2, 1.5])
    with pytest.raises(ValueError, match="no images"):
        select_face_window_threshold(lnet, [])
    with pytest.raises(ValueError, match="one x1, y1, x2, y2 box per image"):
        select_face_window_threshold(lnet, [(torch.zeros(2, 3, 64, 64), faces[:3])])


def test_windows_for_several_thresholds_match_face_window() -> None:
    lnet = LNet(width=0.05, stem_stride=2, threshold=0.3)
    x = torch.rand(2, 3, 64, 56)
    windows = windows_from_response(lnet.response(x), torch.tensor([0.3, 0.9]), (64, 56))
    torch.testing.assert_close(windows[0], lnet.face_window(x))
    lnet.threshold = 0.9
    torch.testing.assert_close(windows[1], lnet.face_window(x))
