"""SyntheticPedestrians: samples in Caltech's format, served directly and written as .seq/.vbb."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from torchvision import tv_tensors

from lightning_deepvision.datasets import CaltechPedestrian, CaltechWindows, SyntheticPedestrians
from lightning_deepvision.datasets.caltech import CALTECH_LABELS
from lightning_deepvision.datasets.synthetic.pedestrians import draw_scene
from lightning_deepvision.testing import write_synthetic_caltech

SIZE = (120, 160)


def test_samples_have_the_caltech_keys_and_types() -> None:
    frames = SyntheticPedestrians("test", 3, frame_size=SIZE, height_range=(20.0, 100.0))
    assert len(frames) == 3
    sample = frames[1]
    assert isinstance(sample["image"], tv_tensors.Image)
    assert sample["image"].dtype == torch.uint8 and sample["image"].shape == (3, *SIZE)
    n = len(sample["labels"])
    assert n >= 1 and isinstance(sample["boxes"], tv_tensors.BoundingBoxes)
    assert sample["boxes"].shape == sample["visible_boxes"].shape == (n, 4)
    assert sample["ignore"].dtype == torch.bool and sample["occluded"].shape == (n,)
    assert int(sample["set"]) == 6 and int(sample["frame"]) == 59 and int(sample["index"]) == 1
    names = {CALTECH_LABELS[int(c)] for c in sample["labels"]}
    assert names <= {"person", "people"}


def test_scenes_are_deterministic_and_splits_differ() -> None:
    a = SyntheticPedestrians("train", 2, frame_size=SIZE)
    b = SyntheticPedestrians("train", 2, frame_size=SIZE)
    assert torch.equal(a[0]["image"], b[0]["image"])
    assert torch.equal(a[0]["boxes"], b[0]["boxes"])
    other = SyntheticPedestrians("test", 2, frame_size=SIZE)
    assert not torch.equal(a[0]["image"], other[0]["image"])


def test_boxes_follow_the_drawing_and_the_setting() -> None:
    frames = SyntheticPedestrians(
        "train", 12, frame_size=(240, 320), occlusion_probability=0.7, group_probability=0.5
    )
    occluded = heights = people = 0
    for index in range(len(frames)):
        ann = frames.annotation(index)
        boxes, visible = ann["boxes"], ann["visible_boxes"]
        hidden = ann["occluded"]
        # Visible parts lie inside the full boxes: the top of the figure, cut at a height.
        assert torch.all(visible[hidden, 3] < boxes[hidden, 3])
        assert torch.allclose(visible[hidden, :3], boxes[hidden, :3])
        assert torch.equal(visible[~hidden], boxes[~hidden])
        h = boxes[:, 3] - boxes[:, 1]
        counted = ~ann["ignore"]
        assert torch.all(h[counted] >= 50)  # the reasonable setting's height rule
        occluded += int(hidden.sum())
        heights += int((h < 50).sum())
        people += int((ann["labels"] == CALTECH_LABELS.index("people")).sum())
        assert torch.all(ann["ignore"][ann["labels"] == CALTECH_LABELS.index("people")])
        raw, ignore = frames.frame_boxes(index)  # x, y, w, h without rendering
        assert torch.allclose(torch.from_numpy(raw[:, 3]).float(), h)
        assert torch.equal(torch.from_numpy(ignore), ann["ignore"])
    assert occluded > 0 and heights > 0 and people > 0


def test_figures_are_drawn_inside_their_boxes() -> None:
    frames = SyntheticPedestrians("val", 3, frame_size=(240, 320), occlusion_probability=0.0)
    for index in range(len(frames)):
        scene = frames.scene(index)
        with_figures = draw_scene(scene).float()
        without = draw_scene(dataclasses.replace(scene, figures=[])).float()
        changed = (with_figures - without).abs().amax(dim=0) > 30
        inside = torch.zeros_like(changed)
        for obj in scene.objects:
            x, y, w, h = obj["box"]
            inside[max(int(y) - 2, 0) : int(y + h) + 3, max(int(x) - 2, 0) : int(x + w) + 3] = True
        assert changed.any()
        assert not (changed & ~inside).any()  # nothing drawn outside the annotated boxes


def test_windows_are_cut_from_synthetic_frames() -> None:
    frames = SyntheticPedestrians("train", 3, frame_size=(240, 320), height_range=(60.0, 120.0))
    windows = CaltechWindows(frames, negatives_per_frame=2)  # type: ignore[arg-type]
    assert windows.num_positives >= 3 and len(windows) == windows.num_positives + 6
    sample = windows[0]
    assert sample["image"].shape == (3, 84, 28) and int(sample["label"]) == 1


def test_written_as_caltech_and_read_back(tmp_path) -> None:
    root = write_synthetic_caltech(tmp_path / "caltech", frames_per_set=2, frame_size=SIZE)
    caltech = CaltechPedestrian(root, "test")
    direct = SyntheticPedestrians("test", 2, frame_size=SIZE)
    assert len(caltech) == 2
    for index in range(2):
        read, drawn = caltech[index], direct[index]
        assert torch.allclose(read["boxes"], drawn["boxes"])
        assert torch.equal(read["ignore"], drawn["ignore"])
        assert int(read["frame"]) == int(drawn["frame"]) and int(read["set"]) == int(drawn["set"])
        # JPEG-compressed, but the same picture.
        assert (read["image"].float() - drawn["image"].float()).abs().mean() < 8
    with pytest.raises(FileExistsError):
        write_synthetic_caltech(root, frames_per_set=2, frame_size=SIZE)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"split": "dev"}, "split"),
        ({"num_frames": 0}, "num_frames"),
        ({"pedestrians": (3, 1)}, "pedestrians"),
        ({"height_range": (4.0, 10.0)}, "height_range"),
        ({"occlusion_probability": 1.5}, "occlusion"),
    ],
)
def test_bad_arguments(kwargs, match) -> None:
    with pytest.raises(ValueError, match=match):
        SyntheticPedestrians(**kwargs)


def test_index_out_of_range() -> None:
    with pytest.raises(IndexError):
        SyntheticPedestrians("test", 2, frame_size=SIZE)[2]
