"""DetectionTask: window scores, pyramid boxes, proposals, checkpoints and the pictures."""

from __future__ import annotations

import itertools
import math
from pathlib import Path

import pytest
import torch
from torch import Tensor, nn
from torchvision.ops import box_convert, box_iou

from lightning_deepvision.datasets.caltech_results import (
    read_caltech_results,
    write_caltech_results,
)
from lightning_deepvision.tasks import DetectionTask
from lightning_deepvision.tasks.sliding_window import pyramid_scales, window_boxes, windowed_scores
from lightning_deepvision.testing import quiet_trainer


class Brightness(nn.Module):
    """A window classifier without score_map: a bright object between dark context margins.

    With the default context (0.1) an 84-pixel window holds its object in rows 7 to 77.
    """

    num_features = 1

    def forward(self, x: Tensor) -> Tensor:
        inner = x[:, :, 7:77].mean(dim=(1, 2, 3))
        outer = torch.cat([x[:, :, :7], x[:, :, 77:]], dim=2).mean(dim=(1, 2, 3))
        return (inner - outer)[:, None]


def test_pyramid_scales_cover_the_heights() -> None:
    scales = pyramid_scales(
        (480, 640), (84, 28), 0.1, min_height=50, max_height=280, scales_per_octave=2
    )
    assert scales[0] == pytest.approx(70 / 50)  # a 50-pixel pedestrian fills the 84-pixel window
    assert scales[-1] >= 70 / 280 - 1e-9 and scales[-1] * 2**-0.5 < 70 / 280
    assert all(a / b == pytest.approx(2**0.5) for a, b in itertools.pairwise(scales))


def test_window_boxes_are_centred_on_the_windows() -> None:
    scores = torch.zeros(3, 2)
    boxes = window_boxes(scores, (0.5, 0.5), 4, (84, 28), 0.1, 0.41)
    # Window (2, 1) of the half-size level is at (8, 4), its centre at (14 + 4, 42 + 8) * 2.
    x, y, w, h, _ = boxes[2 * 2 + 1].tolist()
    assert (x + w / 2, y + h / 2) == pytest.approx((36.0, 100.0))
    assert h == pytest.approx(2 * 84 / 1.2) and w == pytest.approx(0.41 * h)


def test_one_pass_scores_equal_cropped_windows() -> None:
    torch.manual_seed(0)
    task = DetectionTask(backbone="udn_tiny", preprocessing="none").eval()
    assert task.fully_convolutional
    level = torch.randn(1, 3, 100, 40)
    with torch.no_grad():
        dense, stride = task.score_windows(level)
        cropped = windowed_scores(task, level[0], (84, 28), stride, batch_size=5)
    assert stride == 4 and dense.shape == cropped.shape == (5, 4)
    assert torch.allclose(dense, cropped, atol=1e-5)


def test_tiled_input_scores_cropped_windows() -> None:
    task = DetectionTask(backbone="udn_tiny", preprocessing="tiled", window_stride=8).eval()
    assert not task.fully_convolutional
    with torch.no_grad():
        scores, stride = task.score_windows(torch.randn(1, 3, 100, 44))
    assert stride == 8 and scores.shape == (3, 3)


def test_detects_a_bright_figure() -> None:
    task = DetectionTask(
        backbone=Brightness(), preprocessing="none", min_height=40, nms_threshold=0.3
    )
    assert task.head is not None and not task.fully_convolutional
    with torch.no_grad():
        task.head.weight.fill_(1.0)
        task.head.bias.zero_()
    image = torch.full((3, 240, 320), -1.0)
    image[:, 60:160, 120:161] = 1.0  # a 100-pixel-high figure, 0.41 as wide
    with torch.no_grad():
        found = task.eval().detect(image)
    assert found.shape[1] == 5 and len(found) <= task.hp.max_detections
    best = box_convert(found[:1, :4], "xywh", "xyxy")
    truth = torch.tensor([[120.0, 60.0, 161.0, 160.0]])
    assert box_iou(best, truth).item() > 0.5
    assert torch.all(found[1:, 4] <= found[0, 4])


def test_rescores_proposals(tmp_path: Path) -> None:
    root = tmp_path / "proposals"
    candidates = torch.tensor([[100.0, 50.0, 41.0, 100.0, 0.1], [10.0, 10.0, 20.0, 50.0, 0.9]])
    write_caltech_results(root, {(6, 0, 29): candidates.double()})
    assert (6, 0, 29) in read_caltech_results(root)
    task = DetectionTask(backbone=Brightness(), preprocessing="none", proposals=str(root)).eval()
    with torch.no_grad():
        task.head.weight.fill_(1.0)
        task.head.bias.zero_()
    image = torch.full((3, 240, 320), -1.0)
    image[:, 50:150, 100:141] = 1.0  # the first candidate holds the bright figure
    with torch.no_grad():
        found = task.detect(image, (6, 0, 29))
        none = task.detect(image, (6, 0, 59))
    assert torch.allclose(found[0, :4], candidates[0, :4])  # re-scored: now the best
    assert found[0, 4] > found[1, 4] and len(none) == 0


def test_trains_a_step_and_reloads_without_the_data(tmp_path: Path) -> None:
    from lightning_deepvision.datamodules import SyntheticPedestriansDataModule

    data = SyntheticPedestriansDataModule(
        train_frames=2,
        val_frames=1,
        test_frames=1,
        frame_size=(120, 160),
        batch_size=4,
        num_workers=0,
    )
    task = DetectionTask(backbone="udn_tiny", optimizer="adam", lr=1e-3)
    trainer = quiet_trainer(max_steps=2, limit_val_batches=0, default_root_dir=tmp_path)
    before = task.backbone.conv1.weight.detach().clone()
    trainer.fit(task, data)
    assert not torch.equal(before, task.backbone.conv1.weight)
    path = tmp_path / "task.ckpt"
    trainer.save_checkpoint(path)
    torch.load(path, weights_only=True)
    loaded = DetectionTask.load_from_checkpoint(path)
    assert torch.equal(loaded.backbone.conv1.weight, task.backbone.conv1.weight)


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="preprocessing"):
        DetectionTask(backbone="udn_tiny", preprocessing="rgb")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="settings"):
        DetectionTask(backbone="udn_tiny", settings=["night"])
    with pytest.raises(ValueError, match="min_height"):
        DetectionTask(backbone="udn_tiny", min_height=0)


def test_result_summary_names_the_reasonable_setting() -> None:
    task = DetectionTask(backbone="udn_tiny", settings=["all"])
    line = task.result_summary({"test/lamr": torch.tensor(0.25), "test/lamr_all": 0.5})
    assert line == "test/lamr = 25.00% (reasonable); all 50.0%"
    assert task.result_summary({"val/lamr": math.nan}) is None
