"""FilterGridLogger: the conv1 grid's layout and scaling, PNGs each validation epoch, loggers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from lightning.pytorch.loggers import TensorBoardLogger
from PIL import Image
from torch import nn

from lightning_deepvision.callbacks import FilterGridLogger
from lightning_deepvision.callbacks.filter_grid import filter_grid, find_first_conv
from lightning_deepvision.datamodules.synthetic_objects import SyntheticObjectsDataModule
from lightning_deepvision.models import create_model
from lightning_deepvision.tasks import ClassificationTask
from lightning_deepvision.testing.trainers import quiet_trainer


def test_paper_alexnet_grid_has_96_colour_filters_in_8_rows_of_12() -> None:
    conv1 = create_model("alexnet", num_classes=0).features.conv1
    grid = filter_grid(conv1.weight, upscale=4, padding=1)
    # 12 columns and 8 rows of 44-pixel filters (11 weights x 4) with 1-pixel gaps.
    assert grid.dtype == torch.uint8 and grid.shape == (3, 8 * 45 + 1, 12 * 45 + 1)
    first = grid[:, 1:45, 1:45]
    assert first.min() == 0 and first.max() == 255  # each filter stretched to the full range
    assert not torch.equal(first[0], first[1])  # in colour: the channels differ
    assert (grid[:, 0, :] == 255).all()  # white gaps


def test_scaling_per_filter_or_per_layer() -> None:
    weight = torch.zeros(2, 3, 2, 2)
    weight[0, :, 0, 0] = 1.0  # a strong filter
    weight[1, :, 0, 0] = 0.1  # a weak one
    per_filter = filter_grid(weight, upscale=1, padding=0)
    per_layer = filter_grid(weight, normalize="layer", upscale=1, padding=0)
    assert per_filter[:, 0, 2].tolist() == [255] * 3  # the weak filter's peak, stretched
    assert per_layer[:, 0, 2].tolist() == [26] * 3  # 0.1 of the layer's range
    grey = filter_grid(torch.randn(4, 1, 3, 3), upscale=1, padding=0)
    assert grey.shape == (3, 6, 6) and torch.equal(grey[0], grey[1])


def test_find_first_conv_and_named_layers() -> None:
    task = ClassificationTask(backbone="alexnet_tiny", num_classes=3, input_size=(67, 67))
    assert find_first_conv(task) is task.backbone.features.conv1
    assert find_first_conv(task, "backbone.features.conv2") is task.backbone.features.conv2
    with pytest.raises(ValueError, match="is a ReLU, not a Conv2d"):
        find_first_conv(task, "backbone.features.relu1")
    with pytest.raises(ValueError, match="has no Conv2d"):
        find_first_conv(nn.Linear(2, 2))


def test_a_png_and_a_logged_image_each_validation_epoch(tmp_path: Path) -> None:
    data = SyntheticObjectsDataModule(
        train_images_per_class=2,
        eval_images_per_class=1,
        render_size=32,
        resize_size=72,
        image_size=67,
        batch_size=10,
        num_workers=0,
    )
    task = ClassificationTask(backbone="alexnet_tiny", input_size=(67, 67))
    logger = TensorBoardLogger(tmp_path, name="run")
    start = task.backbone.features.conv1.weight.detach().clone()
    trainer = quiet_trainer(
        max_epochs=2,
        logger=logger,
        callbacks=[FilterGridLogger(log_change=True)],
        num_sanity_val_steps=1,
    )
    trainer.fit(task, datamodule=data)
    log_dir = Path(logger.log_dir)
    pngs = sorted(str(p.relative_to(log_dir)) for p in log_dir.glob("*/*.png"))
    assert pngs == [  # one per validation epoch, none for the sanity check
        "filters_conv1/epoch=000.png",
        "filters_conv1/epoch=001.png",
        "filters_conv1_change/epoch=000.png",
        "filters_conv1_change/epoch=001.png",
    ]

    def read(name: str) -> torch.Tensor:
        with Image.open(log_dir / name) as png:
            return torch.from_numpy(np.asarray(png.convert("RGB"))).permute(2, 0, 1)

    weight = task.backbone.features.conv1.weight.detach()
    image = read(pngs[1])
    assert torch.equal(image, filter_grid(weight))  # alexnet_tiny: 8 filters, 2 rows of 4
    assert image.shape == (3, 2 * 45 + 1, 4 * 45 + 1)
    assert torch.equal(read(pngs[3]), filter_grid(weight - start))
    assert list(log_dir.glob("events.out.tfevents.*"))
