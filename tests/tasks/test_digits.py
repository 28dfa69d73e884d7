"""Real data end to end: scikit-learn's 1,797 handwritten digits through ImageFolderDataModule.

The digits (8×8, 16 grey levels; Alpaydin & Kaynak, UCI "Optical Recognition of Handwritten
Digits") are written as PNG files in ``root/{train,val}/<digit>/``, read back as 3-channel
images, and classified by a small ConvNet trained with ``ClassificationTask``. A logistic
regression on the raw 64 pixels of the same split is the baseline; the network must match it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from lightning_deepvision.datamodules.image_folder import ImageFolderDataModule
from lightning_deepvision.tasks import ClassificationTask
from lightning_deepvision.testing import save_image
from lightning_deepvision.testing.trainers import quiet_trainer

pytestmark = pytest.mark.slow


def write_digits(root: Path, val_fraction: float = 0.3) -> tuple[np.ndarray, ...]:
    """The digits as ``root/<split>/<digit>/<n>.png``; returns the pixel arrays of the split."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    train_x, val_x, train_y, val_y, train_i, val_i = train_test_split(
        digits.data,
        digits.target,
        np.arange(len(digits.target)),
        test_size=val_fraction,
        stratify=digits.target,
        random_state=0,
    )
    for split, indices in (("train", train_i), ("val", val_i)):
        for index in indices:
            folder = root / split / str(digits.target[index])
            folder.mkdir(parents=True, exist_ok=True)
            pixels = torch.from_numpy(
                (digits.images[index] * 255.0 / 16.0).round().astype(np.uint8)
            )
            save_image(pixels[None], folder / f"{index:04d}.png")
    return train_x, val_x, train_y, val_y


def test_a_small_convnet_matches_logistic_regression_on_pixels(tmp_path: Path) -> None:
    from sklearn.linear_model import LogisticRegression

    train_x, val_x, train_y, val_y = write_digits(tmp_path / "digits")
    baseline = LogisticRegression(max_iter=2000).fit(train_x, train_y).score(val_x, val_y)

    data = ImageFolderDataModule(
        tmp_path / "digits",
        image_size=32,
        resize_size=32,
        augment=False,  # a mirror changes a digit
        mean=(0.5, 0.5, 0.5),
        std=(0.5, 0.5, 0.5),
        batch_size=64,
        eval_batch_size=256,
        num_workers=0,
    )
    torch.manual_seed(0)
    task = ClassificationTask(
        backbone="resnet10t", lr=0.05, lr_schedule="cosine", weight_decay=5e-4
    )
    trainer = quiet_trainer(max_epochs=8, num_sanity_val_steps=0)
    trainer.fit(task, datamodule=data)
    accuracy = float(trainer.validate(task, datamodule=data)[0]["val/accuracy"])
    print(f"digits: ConvNet {accuracy:.4f} vs logistic regression on pixels {baseline:.4f}")
    assert task.hparams.num_classes == 10 and data.classes == [str(d) for d in range(10)]
    assert baseline > 0.9
    assert accuracy >= baseline - 0.01
