"""Parsing scores on hand-made label maps, checked against numbers worked out by hand."""

from __future__ import annotations

import pytest
import torch

from lightning_deepvision.datasets.face_parts import HELEN_LABELS
from lightning_deepvision.metrics import ParsingScores, parsing_scores

NAMES = ("background", "face", "hair")


def test_iou_f1_and_miou_by_hand() -> None:
    # Truth: 4 background, 3 face, 1 hair pixels. Prediction: one face pixel called hair,
    # one background pixel called face.
    truth = torch.tensor([[0, 0, 0, 0], [1, 1, 1, 2]])
    prediction = torch.tensor([[0, 0, 0, 1], [1, 1, 2, 2]])
    metric = ParsingScores(NAMES, components={})
    metric.update(prediction[None], truth[None])
    scores = metric.compute()
    # background: hits 3, truth 4, predicted 3 -> IoU 3/4, F1 6/7
    # face: hits 2, truth 3, predicted 3 -> IoU 2/4, F1 4/6
    # hair: hits 1, truth 1, predicted 2 -> IoU 1/2, F1 2/3
    torch.testing.assert_close(scores["iou_background"], torch.tensor(0.75))
    torch.testing.assert_close(scores["iou_face"], torch.tensor(0.5))
    torch.testing.assert_close(scores["iou_hair"], torch.tensor(0.5))
    torch.testing.assert_close(scores["f1_background"], torch.tensor(6 / 7))
    torch.testing.assert_close(scores["f1_face"], torch.tensor(2 / 3))
    torch.testing.assert_close(scores["f1_hair"], torch.tensor(2 / 3))
    torch.testing.assert_close(scores["miou"], torch.tensor((0.75 + 0.5 + 0.5) / 3))
    torch.testing.assert_close(scores["pixel_accuracy"], torch.tensor(6 / 8))
    assert "f1_overall" not in scores  # no component groups


def test_accumulates_over_batches_like_one_batch() -> None:
    generator = torch.Generator().manual_seed(0)
    truth = torch.randint(0, 3, (4, 5, 6), generator=generator)
    prediction = torch.randint(0, 3, (4, 5, 6), generator=generator)
    whole, parts = ParsingScores(NAMES), ParsingScores(NAMES)
    whole.update(prediction, truth)
    for k in range(4):
        parts.update(prediction[k : k + 1], truth[k : k + 1])
    expected, got = whole.compute(), parts.compute()
    assert expected.keys() == got.keys()
    for key, value in expected.items():
        torch.testing.assert_close(got[key], value)


def test_overall_f1_merges_components_and_pools_pixels() -> None:
    k = {name: i for i, name in enumerate(HELEN_LABELS)}
    truth = torch.tensor(
        [k["left_eye"], k["right_eye"], k["upper_lip"], k["inner_mouth"], k["nose"],
         k["face_skin"], k["face_skin"], k["background"]]
    )  # fmt: skip
    prediction = torch.tensor(
        [k["right_eye"], k["right_eye"], k["inner_mouth"], k["inner_mouth"], k["face_skin"],
         k["nose"], k["left_eyebrow"], k["background"]]
    )  # fmt: skip
    scores = parsing_scores(_confusion(prediction, truth, 11), HELEN_LABELS)
    # Component truth: 5 pixels (2 eyes, 2 mouth, 1 nose). Hits within groups: left eye called
    # right eye and lip called inner mouth count, so 4 (eyes 2, mouth 2); the nose is missed.
    # Component predictions: 2 eyes + 2 mouth + 1 nose + 1 brow = 6.
    precision, recall = 4 / 6, 4 / 5
    expected = 2 * precision * recall / (precision + recall)
    torch.testing.assert_close(scores["f1_overall"], torch.tensor(expected))
    # Per class the left eye was never predicted: its F1 is 0, the right eye's 2/3.
    assert float(scores["f1_left_eye"]) == 0.0
    torch.testing.assert_close(scores["f1_right_eye"], torch.tensor(2 / 3))


def test_absent_class_is_left_out_of_the_mean() -> None:
    truth = torch.zeros(1, 2, 2, dtype=torch.long)
    scores = ParsingScores(NAMES)
    scores.update(truth, truth)
    result = scores.compute()
    assert float(result["miou"]) == 1.0 and float(result["iou_hair"]) == 0.0


def test_class_names_must_match_the_matrix() -> None:
    with pytest.raises(ValueError, match="2 class names for a 3-class"):
        parsing_scores(torch.eye(3), ("a", "b"))


def _confusion(prediction: torch.Tensor, truth: torch.Tensor, classes: int) -> torch.Tensor:
    return torch.bincount(truth * classes + prediction, minlength=classes**2).view(classes, -1)
