"""RetrievalGridLogger: queries and their nearest test images, framed by class agreement."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from lightning_deepvision.callbacks import RetrievalGridLogger
from lightning_deepvision.callbacks.retrieval_grid import _OTHER, _QUERY, _SAME
from lightning_deepvision.datamodules.synthetic_objects import SyntheticObjectsDataModule
from lightning_deepvision.tasks import ClassificationTask
from lightning_deepvision.testing.trainers import quiet_trainer


class _Images(torch.utils.data.Dataset):
    def __init__(self, images: torch.Tensor) -> None:
        self.images = images

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        return {"image": self.images[index]}


def _frame(cell: torch.Tensor) -> tuple[float, ...]:
    return tuple(round(float(v), 2) for v in cell[:, 0, 0])


def test_rows_are_a_query_then_its_neighbours_framed_by_class() -> None:
    # Items 0-2 point one way, 3-5 another; item 2 carries the other class's label.
    features = torch.tensor(
        [[1.0, 0.0], [0.95, 0.1], [0.9, 0.2], [0.0, 1.0], [0.1, 0.95], [0.2, 0.9]]
    )
    labels = torch.tensor([0, 0, 1, 1, 1, 1])
    images = torch.rand(6, 3, 16, 16)
    callback = RetrievalGridLogger(num_queries=2, k=2, thumbnail=16, mean=(0, 0, 0), std=(1, 1, 1))
    grid = callback.draw(_Images(images), features, labels, torch.arange(6))
    assert grid.dtype == torch.uint8 and grid.shape == (3, 2 * 18 + 2, 3 * 18 + 2)
    cells = [
        grid[:, 2 + 18 * r : 2 + 18 * r + 16, 2 + 18 * c : 2 + 18 * c + 16].float() / 255
        for r in range(2)
        for c in range(3)
    ]
    rounded = [tuple(round(v, 2) for v in frame) for frame in (_QUERY, _SAME, _OTHER)]
    # Query 0: neighbours 1 (label 0, green) then 2 (label 1, red); query 5: 4, 3 (both green).
    assert [_frame(c) for c in cells] == [
        rounded[0],
        rounded[1],
        rounded[2],
        rounded[0],
        rounded[1],
        rounded[1],
    ]
    inner = torch.nn.functional.interpolate(
        images[0][None], size=(14, 14), mode="bilinear", antialias=True
    )
    torch.testing.assert_close(cells[0][:, 1:-1, 1:-1], inner[0], atol=1 / 255, rtol=0)


def test_written_after_a_test_run(tmp_path: Path) -> None:
    data = SyntheticObjectsDataModule(
        train_images_per_class=1,
        eval_images_per_class=2,
        render_size=32,
        resize_size=72,
        image_size=67,
        eval_batch_size=8,  # three batches: positions must follow the loader's order
        num_workers=0,
        ten_crop_test=True,
    )
    task = ClassificationTask(backbone="alexnet_tiny", input_size=(67, 67), num_classes=10)
    callback = RetrievalGridLogger(num_queries=3, k=4)
    trainer = quiet_trainer(callbacks=[callback], default_root_dir=tmp_path)
    trainer.test(task, datamodule=data)
    with Image.open(Path(trainer.log_dir) / "test_retrieval.png") as png:
        picture = torch.from_numpy(np.asarray(png.convert("RGB"))).permute(2, 0, 1)
    assert picture.shape == (3, 3 * 66 + 2, 5 * 66 + 2)
    # Each row starts with its query: test images 0, 10 and 19 of 20, read back from the set.
    dataset = data.dataset("test")
    for row, position in enumerate((0, 10, 19)):
        expected = (callback._cell(dataset, position, _QUERY) * 255).round().to(torch.uint8)
        cell = picture[:, 2 + 66 * row : 66 * (row + 1), 2:66]
        assert torch.equal(cell, expected)
    with pytest.raises(ValueError, match="must be positive"):
        RetrievalGridLogger(k=0)
