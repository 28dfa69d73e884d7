"""ImageFolderDataModule: splits (test = val without test/), AlexNet's transforms, ten crops."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from lightning_deepvision.datamodules.image_folder import (
    ImageFolderDataModule,
    ten_crop_transforms,
)
from lightning_deepvision.tasks import ClassificationTask
from lightning_deepvision.testing import write_image_folder
from lightning_deepvision.testing.trainers import quiet_trainer

CLASSES = ["class_00", "class_01", "class_02"]


def write_tree(root: Path, splits: tuple[str, ...] = ("train", "val"), per_class: int = 3) -> Path:
    """Three classes of jpg, png and grey pgm images in ``root/<split>/<class>/``."""
    return write_image_folder(
        root,
        num_classes=3,
        images_per_class=dict.fromkeys(splits, per_class),
        image_size=(40, 48),
        ext=["jpg", "png", "pgm"],
    )


def test_splits_classes_and_test_falls_back_to_val(tmp_path: Path) -> None:
    data = ImageFolderDataModule(write_tree(tmp_path / "tree"), image_size=32, num_workers=0)
    assert data.split_of("test") == "val" and data.split_of("predict") == "val"
    data.setup("test")
    assert data.classes == CLASSES and data.num_classes == 3
    assert len(data.dataset("test")) == 9
    with_test = ImageFolderDataModule(
        write_tree(tmp_path / "three", ("train", "val", "test"), per_class=2), image_size=32
    )
    assert with_test.split_of("test") == "test"
    with_test.setup("fit")
    assert len(with_test.dataset("train")) == 6


def test_transforms_give_fixed_size_three_channel_batches(tmp_path: Path) -> None:
    data = ImageFolderDataModule(
        write_tree(tmp_path / "tree"),
        image_size=32,
        batch_size=4,
        eval_batch_size=9,
        num_workers=0,
    )
    assert data.resize_size == 37  # 32 * 8 / 7, AlexNet's 224 -> 256 ratio
    data.setup("fit")
    batch = next(iter(data.train_dataloader()))
    assert batch["image"].shape == (4, 3, 32, 32) and batch["image"].dtype == torch.float32
    val = next(iter(data.val_dataloader()))
    assert val["image"].shape == (9, 3, 32, 32)
    assert val["label"].tolist() == [0, 0, 0, 1, 1, 1, 2, 2, 2]
    # Evaluation is deterministic (centre crop), training is not (random crop, flip, colour).
    again = next(iter(data.val_dataloader()))
    torch.testing.assert_close(val["image"], again["image"])
    sample = data.dataset("train")[0]
    assert not all(
        torch.equal(sample["image"], data.dataset("train")[0]["image"]) for _ in range(3)
    )


def test_without_augmentation_training_images_are_the_evaluation_ones(tmp_path: Path) -> None:
    data = ImageFolderDataModule(write_tree(tmp_path / "tree"), image_size=32, augment=False)
    data.setup("fit")
    train = data.dataset("train")
    evaluation = data.transforms("val")(train.load_sample(4))["image"]
    torch.testing.assert_close(train[4]["image"], evaluation)


def test_ten_crops_are_the_corners_centre_and_mirrors(tmp_path: Path) -> None:
    data = ImageFolderDataModule(
        write_tree(tmp_path / "tree"),
        image_size=24,
        resize_size=32,
        ten_crop_test=True,
        eval_batch_size=3,
        num_workers=0,
    )
    data.setup("test")
    batch = next(iter(data.test_dataloader()))
    assert batch["image"].shape == (3, 10, 3, 24, 24)
    crops = batch["image"][0]
    square = data.transforms("val")  # the centre crop of the same image
    centre = square(data.dataset("test").load_sample(0))["image"]
    torch.testing.assert_close(crops[4], centre)
    torch.testing.assert_close(crops[9], centre.flip(-1))
    full = ten_crop_transforms(32, 32)(data.dataset("test").load_sample(0))["image"]
    torch.testing.assert_close(crops[0], full[0, :, :24, :24])  # the top-left corner


def test_bad_sizes(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"image_size \(64\) must not exceed resize_size \(48\)"):
        ImageFolderDataModule(tmp_path, image_size=64, resize_size=48)


def test_classification_task_fits_and_tests_on_a_folder(tmp_path: Path) -> None:
    data = ImageFolderDataModule(
        write_tree(tmp_path / "tree"),
        image_size=32,
        batch_size=4,
        eval_batch_size=9,
        num_workers=0,
    )
    task = ClassificationTask(backbone="test_resnet")
    trainer = quiet_trainer(fast_dev_run=True)
    trainer.fit(task, datamodule=data)
    assert task.hparams.num_classes == 3
    results = trainer.test(task, datamodule=data)[0]
    assert 0.0 <= results["test/accuracy"] <= 1.0


def test_batch_normalize_moves_uint8_and_gives_the_same_input(tmp_path: Path) -> None:
    root = write_tree(tmp_path / "tree", splits=("train", "val", "test"))
    options = dict(image_size=24, resize_size=32, batch_size=4, num_workers=0)
    deferred = ImageFolderDataModule(root, batch_normalize=True, ten_crop_test=True, **options)
    plain = ImageFolderDataModule(root, ten_crop_test=True, **options)
    for data in (deferred, plain):
        data.setup("fit")
        data.setup("test")
    for stage in ("train", "val", "test"):
        torch.manual_seed(stage == "train")
        raw = next(iter(getattr(deferred, f"{stage}_dataloader")()))
        torch.manual_seed(stage == "train")
        expected = next(iter(getattr(plain, f"{stage}_dataloader")()))["image"]
        assert raw["image"].dtype == torch.uint8  # a quarter of the bytes through the loader
        assert ("lighting" in raw) == (stage == "train")
        batch = deferred.on_after_batch_transfer(raw, 0)
        assert "lighting" not in batch and batch["image"].shape == expected.shape
        torch.testing.assert_close(batch["image"], expected, rtol=0, atol=2e-6)
    assert plain.on_after_batch_transfer(expected, 0) is expected  # the default: no batch step
    task = ClassificationTask(backbone="test_resnet")
    trainer = quiet_trainer(fast_dev_run=True)
    trainer.fit(task, datamodule=deferred)  # the trainer calls the batch step
    assert 0.0 <= trainer.test(task, datamodule=deferred)[0]["test/accuracy"] <= 1.0
    predictions = trainer.predict(task, datamodule=deferred)
    assert predictions and all(p["probabilities"].dtype == torch.float32 for p in predictions)
