import pickle
from typing import Any

import pytest
import torch
from torchvision import tv_tensors

from lightning_deepvision.transforms import detection_transforms


def _window(h: int = 168, w: int = 56) -> dict[str, Any]:
    """A window twice UDN's size with three boxes: two pedestrians and one degenerate box."""
    return {
        "image": tv_tensors.Image(torch.randint(0, 256, (3, h, w), dtype=torch.uint8)),
        "boxes": tv_tensors.BoundingBoxes(
            [[4, 8, 40, 160], [30, 20, 50, 100], [10, 10, 11, 10.5]],
            format="XYXY",
            canvas_size=(h, w),
        ),
        "labels": torch.tensor([1, 2, 3]),
        "ignore": torch.tensor([False, True, False]),
        "label": torch.tensor(1),
    }


@pytest.mark.parametrize("train", [False, True])
def test_output_window_shape_and_dtype(train: bool) -> None:
    out = detection_transforms(train=train)(_window())
    assert out["image"].shape == (3, 84, 28)
    assert out["image"].dtype == torch.float32
    assert float(out["image"].min()) >= -1.0 and float(out["image"].max()) <= 1.0
    assert tuple(out["boxes"].canvas_size) == (84, 28)
    assert int(out["label"]) == 1


def test_eval_scales_boxes_and_drops_degenerate_ones_with_their_labels() -> None:
    out = detection_transforms()(_window())
    # Halved; the third box (under a pixel once halved) is dropped with its label and flag.
    assert out["boxes"].tolist() == [[2.0, 4.0, 20.0, 80.0], [15.0, 10.0, 25.0, 50.0]]
    assert out["labels"].tolist() == [1, 2]
    assert out["ignore"].tolist() == [False, True]


def test_training_keeps_labels_and_ignore_aligned_with_boxes() -> None:
    t = detection_transforms(train=True)
    torch.manual_seed(0)
    for _ in range(30):
        out = t(_window())
        n = len(out["boxes"])
        assert len(out["labels"]) == len(out["ignore"]) == n
        # Sanitising keeps the order: the labels say which boxes survived, and the ignore
        # flags travel with them (only box 2 is ignored).
        assert out["labels"].tolist() in ([1, 2], [1], [2], [])
        assert out["ignore"].tolist() == [label == 2 for label in out["labels"].tolist()]
        assert 3 not in out["labels"].tolist()
        boxes = out["boxes"]
        assert bool(
            (boxes[:, 2] - boxes[:, 0] >= 1).all() and (boxes[:, 3] - boxes[:, 1] >= 1).all()
        )


def test_training_flip_mirrors_boxes() -> None:
    t = detection_transforms(train=True, scale_jitter=0.0, color_jitter=0.0)
    plain = detection_transforms()(_window())["boxes"]
    mirrored = plain.clone()
    mirrored[:, 0], mirrored[:, 2] = 28 - plain[:, 2], 28 - plain[:, 0]
    torch.manual_seed(0)
    seen = set()
    for _ in range(20):
        window = _window()
        out = t(window)
        if torch.equal(out["boxes"], plain):
            seen.add("plain")
            expected_image = detection_transforms()(window)["image"]
        else:
            assert torch.equal(out["boxes"], mirrored)
            seen.add("mirrored")
            expected_image = detection_transforms()(window)["image"].flip(-1)
        assert torch.allclose(out["image"], expected_image, atol=1e-6)
    assert seen == {"plain", "mirrored"}


def test_samples_without_ignore_or_boxes() -> None:
    window = _window()
    del window["ignore"]
    out = detection_transforms()(window)
    assert out["labels"].tolist() == [1, 2]
    negative = {"image": window["image"], "label": torch.tensor(0)}
    out = detection_transforms(train=True)(negative)
    assert out["image"].shape == (3, 84, 28) and int(out["label"]) == 0


def test_empty_boxes() -> None:
    window = _window()
    window["boxes"] = tv_tensors.BoundingBoxes(
        torch.zeros(0, 4), format="XYXY", canvas_size=(168, 56)
    )
    window["labels"] = torch.zeros(0, dtype=torch.long)
    window["ignore"] = torch.zeros(0, dtype=torch.bool)
    out = detection_transforms(train=True)(window)
    assert out["boxes"].shape == (0, 4) and out["labels"].shape == (0,)


def test_bare_image_input() -> None:
    out = detection_transforms(train=True)(torch.randint(0, 256, (3, 100, 40), dtype=torch.uint8))
    assert isinstance(out, tv_tensors.Image)
    assert out.shape == (3, 84, 28)


def test_pipeline_pickles_for_loader_workers() -> None:
    t = pickle.loads(pickle.dumps(detection_transforms(train=True)))
    assert t(_window())["image"].shape == (3, 84, 28)


def test_bad_scale_jitter() -> None:
    with pytest.raises(ValueError, match="scale_jitter"):
        detection_transforms(scale_jitter=1.0)
