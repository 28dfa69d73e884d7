"""DigitsDataModule: scikit-learn's digits by default, MNIST's idx files with a root."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from lightning_deepvision.datamodules.digits import DigitsDataModule
from lightning_deepvision.datasets.digits import MNIST, Digits
from lightning_deepvision.datasets.errors import DatasetNotFoundError
from lightning_deepvision.testing.digits import write_mnist


def test_default_data_are_the_sklearn_digits_in_full_batches() -> None:
    data = DigitsDataModule(batch_size=64, eval_batch_size=100)
    data.setup("fit")
    assert isinstance(data.dataset("train"), Digits) and data.num_classes == 10
    assert data.classes == [str(d) for d in range(10)] and data.num_workers == 0
    batches = list(data.train_dataloader())
    assert all(b["image"].shape == (64, 1, 28, 28) for b in batches)
    assert len(batches) == len(data.dataset("train")) // 64
    labels = torch.cat([b["label"] for b in data.val_dataloader()])
    assert labels.numel() == len(data.dataset("val"))


def test_standardised_pixels_and_mnist_root(tmp_path: Path) -> None:
    plain = next(iter(DigitsDataModule(batch_size=8).train_dataloader()))["image"]
    data = DigitsDataModule(batch_size=8, mean=0.25, std=0.5)
    data.setup("fit")
    sample = data.dataset("train")[0]["image"]
    torch.testing.assert_close(sample, (Digits("train")[0]["image"] - 0.25) / 0.5)
    assert float(plain.min()) >= 0.0
    with pytest.raises(ValueError, match="give both mean"):
        DigitsDataModule(mean=0.1)
    root = write_mnist(tmp_path / "mnist", train_images=30, test_images=10)
    mnist = DigitsDataModule(root=root, val_size=10, batch_size=4)
    mnist.setup("test")
    assert isinstance(mnist.dataset("test"), MNIST) and len(mnist.dataset("test")) == 10
    assert len(mnist.dataset("val")) == 10
    with pytest.raises(DatasetNotFoundError, match="MNIST"):
        DigitsDataModule(root=tmp_path / "absent")
