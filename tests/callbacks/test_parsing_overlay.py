"""parsing_overlay: image | prediction | truth cells, each class painted in its own colour."""

from __future__ import annotations

import torch

from lightning_deepvision.callbacks.parsing_overlay import PARSING_PALETTE, parsing_overlay


def test_cells_are_image_prediction_truth_in_the_class_colours() -> None:
    images = torch.full((1, 3, 4, 4), 100, dtype=torch.uint8)
    prediction = torch.zeros(1, 4, 4, dtype=torch.int64)
    truth = torch.zeros(1, 4, 4, dtype=torch.int64)
    prediction[0, 0, 0] = 3  # right eyebrow
    truth[0, 0, 0] = 5  # right eye
    grid = parsing_overlay(images, prediction, truth, num_classes=11, alpha=1.0)
    # One row of three 4x4 cells with 2-pixel padding.
    assert grid.shape == (3, 2 + 4 + 2, 2 + 3 * (4 + 2))
    cells = [grid[:, 2:6, 2 + 6 * c : 6 + 6 * c] for c in range(3)]
    assert torch.equal(cells[0], images[0])
    assert cells[1][:, 0, 0].tolist() == list(PARSING_PALETTE[3])
    assert cells[2][:, 0, 0].tolist() == list(PARSING_PALETTE[5])
    # Background is left unpainted in both maps.
    assert torch.equal(cells[1][:, 1:, :], images[0, :, 1:, :])
    assert torch.equal(cells[2][:, 1:, :], images[0, :, 1:, :])
