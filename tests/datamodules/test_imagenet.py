"""ImageNetDataModule: every layout, the paper's pipeline, test on val, ten-crop averaging."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from lightning_deepvision.datamodules.imagenet import ImageNetDataModule
from lightning_deepvision.datasets.errors import DatasetNotFoundError
from lightning_deepvision.tasks import ClassificationTask
from lightning_deepvision.testing import write_imagenet
from lightning_deepvision.testing.trainers import quiet_trainer
from lightning_deepvision.transforms.classification import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    LightingNormalize,
    ResizeSquareCrop,
)
from lightning_deepvision.transforms.classification_batch import DrawLighting, NormalizeBatch


def test_defaults_are_the_papers(tmp_path: Path) -> None:
    data = ImageNetDataModule(tmp_path, batch_normalize=False)
    assert (data.image_size, data.resize_size, data.lighting_std) == (227, 256, 0.1)
    _, crop, colour = data.transforms("train").transforms
    assert isinstance(crop, ResizeSquareCrop) and isinstance(colour, LightingNormalize)
    assert (crop.size, crop.square_size, crop.random, crop.flip_p) == (227, 256, True, 0.5)
    assert colour.lighting_std == 0.1
    assert (colour.mean, colour.std) == (list(IMAGENET_MEAN), list(IMAGENET_STD))
    _, crop, colour = data.transforms("val").transforms
    assert (crop.size, crop.square_size, crop.random) == (227, 256, False)
    assert colour.lighting_std == 0
    assert {data.split_of(s) for s in ("val", "test", "predict")} == {"val"}
    # batch_normalize (the default): the workers stop at the uint8 crop (and draw the shift).
    data = ImageNetDataModule(tmp_path)
    assert data.batch_normalize
    _, crop, colour = data.transforms("train").transforms
    assert isinstance(crop, ResizeSquareCrop) and isinstance(colour, DrawLighting)
    assert colour.std == 0.1
    assert [type(step) for step in data.transforms("val").transforms][1:] == [ResizeSquareCrop]
    assert isinstance(data.normalize_batch, NormalizeBatch)
    assert (data.normalize_batch.mean, data.normalize_batch.std) == (
        list(IMAGENET_MEAN),
        list(IMAGENET_STD),
    )


@pytest.mark.parametrize("layout", ["devkit", "sorted", "kaggle"])
def test_every_layout_fits_and_tests(tmp_path: Path, layout: str) -> None:
    root = write_imagenet(tmp_path / layout, layout=layout, num_classes=4)
    data = ImageNetDataModule(
        root, image_size=67, resize_size=76, batch_size=4, eval_batch_size=8, num_workers=0
    )
    data.setup("fit")
    assert data.num_classes == 4 and data.classes == sorted(data.classes)  # wnid order
    batch = next(iter(data.train_dataloader()))
    assert batch["image"].shape == (4, 3, 67, 67)
    task = ClassificationTask(backbone="alexnet_tiny", input_size=(67, 67))
    trainer = quiet_trainer(fast_dev_run=True)
    trainer.fit(task, datamodule=data)
    assert task.hparams.num_classes == 4
    results = trainer.test(task, datamodule=data)[0]
    assert 0.0 <= results["test/accuracy"] <= results["test/accuracy_top5"] == 1.0  # 4 classes


def test_ten_crop_test_averages_the_softmax_over_the_crops(tmp_path: Path) -> None:
    root = write_imagenet(tmp_path / "sorted", layout="sorted", num_classes=3)
    data = ImageNetDataModule(
        root,
        image_size=67,
        resize_size=80,
        ten_crop_test=True,
        eval_batch_size=6,
        num_workers=0,
        batch_normalize=False,  # float crops straight from the loader, outside a Trainer
    )
    data.setup("test")
    batch = next(iter(data.test_dataloader()))
    assert batch["image"].shape == (6, 10, 3, 67, 67)
    task = ClassificationTask(backbone="alexnet_tiny", input_size=(67, 67), num_classes=3).eval()
    with torch.no_grad():
        log_probs, _ = task.classify(batch["image"])
        expected = torch.stack([task(crops).softmax(-1).mean(0) for crops in batch["image"]])
    torch.testing.assert_close(log_probs.exp(), expected)
    plain = ImageNetDataModule(
        root, 67, 80, eval_batch_size=6, num_workers=0, batch_normalize=False
    )
    centre = next(iter(plain.test_dataloader()))["image"]
    torch.testing.assert_close(batch["image"][:, 4], centre)  # crop 5 is the centre crop


def test_missing_root_names_it(tmp_path: Path) -> None:
    data = ImageNetDataModule(tmp_path / "nowhere")
    with pytest.raises(DatasetNotFoundError, match="nowhere"):
        data.setup("fit")
