from pathlib import Path
from unittest.mock import MagicMock

import numpy as np
import torch
from lightning.pytorch.loggers import TensorBoardLogger, WandbLogger
from PIL import Image

from lightning_deepvision.callbacks.pictures import free_path, log_image


def _trainer(log_dir: Path, *loggers: object) -> MagicMock:
    return MagicMock(loggers=list(loggers), log_dir=str(log_dir), global_step=7)


def test_log_image_reaches_every_logger_and_writes_the_same_pixels(tmp_path: Path) -> None:
    wandb = MagicMock(spec=WandbLogger)
    tensorboard = MagicMock(spec=TensorBoardLogger)
    image = torch.randint(0, 256, (3, 5, 4), dtype=torch.uint8)
    path = log_image(_trainer(tmp_path, wandb, tensorboard), "val/grid", image)
    assert path == tmp_path / "val_grid.png"
    written = np.asarray(Image.open(path))
    assert np.array_equal(written, image.permute(1, 2, 0).numpy())
    (sent,) = wandb.log_image.call_args.kwargs["images"]
    assert np.array_equal(sent, written)
    args, kwargs = tensorboard.experiment.add_image.call_args
    assert args[0] == "val/grid" and kwargs["global_step"] == 7
    assert kwargs["dataformats"] == "HWC"
    assert torch.equal(args[1], image.permute(1, 2, 0))


def test_a_given_directory_wins_and_the_log_dir_is_not_read(tmp_path: Path) -> None:
    trainer = MagicMock(loggers=[])
    type(trainer).log_dir = property(lambda _: (_ for _ in ()).throw(AssertionError("read")))
    pixels = np.zeros((2, 2, 3), np.uint8)
    assert log_image(trainer, "k", pixels, directory=tmp_path / "d") == tmp_path / "d" / "k.png"
    assert log_image(trainer, "k", pixels, directory=None) is None


def test_keep_existing_never_replaces_a_picture(tmp_path: Path) -> None:
    trainer = _trainer(tmp_path)
    pixels = np.zeros((2, 2, 3), np.uint8)
    first = log_image(trainer, "test/roc", pixels, keep_existing=True)
    second = log_image(trainer, "test/roc", pixels, keep_existing=True)
    assert first == tmp_path / "test_roc.png"
    assert second == tmp_path / "test_roc-1.png"
    assert free_path(tmp_path / "other.png") == tmp_path / "other.png"
