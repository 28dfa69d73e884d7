import subprocess
import sys
from pathlib import Path
from unittest.mock import MagicMock, PropertyMock

import torch
from lightning.pytorch.loggers import TensorBoardLogger, WandbLogger
from matplotlib.figure import Figure

from lightning_deepvision.callbacks import VerificationROCLogger


def _trainer(tmp_path: Path, *loggers: object) -> MagicMock:
    trainer = MagicMock()
    trainer.is_global_zero = True
    trainer.log_dir = str(tmp_path)
    trainer.global_step = 7
    trainer.loggers = list(loggers)
    return trainer


def test_plot_and_log(tmp_path: Path) -> None:
    callback = VerificationROCLogger()
    g = torch.Generator().manual_seed(0)
    scores = torch.cat([torch.randn(50, generator=g) + 2, torch.randn(50, generator=g)])
    same = torch.cat([torch.ones(50), torch.zeros(50)]).long()
    index = torch.arange(100)
    wandb = MagicMock(spec=WandbLogger)
    tensorboard = MagicMock(spec=TensorBoardLogger)
    trainer = _trainer(tmp_path, wandb, tensorboard)
    module = MagicMock()
    module.all_gather = lambda t: t
    seen = []
    original_plot = callback.plot
    callback.plot = lambda s, y: seen.append(s.numel()) or original_plot(s, y)  # type: ignore[method-assign]
    callback.on_test_epoch_start(trainer, module)
    # The same pairs arrive twice (padding): the curve must count each once.
    for part in (slice(0, 60), slice(40, 100), slice(0, 10)):
        out = {"scores": scores[part], "same": same[part], "index": index[part]}
        callback.on_test_batch_end(trainer, module, out, None, 0)
    figure = callback.plot(scores, same)
    assert isinstance(figure, Figure)
    axes = figure.axes[0]
    assert "100 pairs" in axes.get_legend().get_texts()[0].get_text()
    assert (axes.get_xlabel(), axes.get_ylabel()) == ("false accept rate", "true accept rate")
    assert axes.get_xscale() == "log"
    callback.on_test_epoch_end(trainer, module)
    assert seen[-1] == 100  # 160 outputs, 100 distinct pairs
    assert (tmp_path / "test_roc.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    wandb.log_image.assert_called_once()
    image = wandb.log_image.call_args.kwargs["images"][0]
    assert image.shape == (400, 450, 3) and image.dtype.name == "uint8"
    assert image.min() < 100 < 250 < image.max()  # something is drawn on a light background
    (args, kwargs) = tensorboard.experiment.add_image.call_args
    assert args[0] == "test/roc" and (args[1] == image).all()
    assert kwargs == {"global_step": 7, "dataformats": "HWC"}


def test_one_class_logs_nothing(tmp_path: Path) -> None:
    callback = VerificationROCLogger()
    wandb = MagicMock(spec=WandbLogger)
    trainer = _trainer(tmp_path, wandb)
    module = MagicMock()
    module.all_gather = lambda t: t
    callback.on_test_epoch_start(trainer, module)
    out = {"scores": torch.randn(5), "same": torch.ones(5).long(), "index": torch.arange(5)}
    callback.on_test_batch_end(trainer, module, out, None, 0)
    callback.on_test_epoch_end(trainer, module)
    wandb.log_image.assert_not_called()
    assert not (tmp_path / "test_roc.png").exists()


def test_plotting_leaves_matplotlib_global_state_alone(tmp_path: Path) -> None:
    # A fresh interpreter, whose backend nothing has chosen yet. (torchmetrics imports pyplot
    # on import, without choosing a backend; the callback must neither choose one nor open a
    # figure that pyplot would keep alive.)
    code = (
        "import sys, torch, matplotlib\n"
        "from unittest.mock import MagicMock\n"
        "from lightning_deepvision.callbacks import VerificationROCLogger\n"
        "from lightning_deepvision.callbacks.pictures import log_figure\n"
        "backend = dict.__getitem__(matplotlib.rcParams, 'backend')\n"
        "trainer = MagicMock(loggers=[], log_dir=sys.argv[1])\n"
        "callback = VerificationROCLogger()\n"
        "scores, same = torch.randn(20), torch.arange(20) % 2\n"
        "figure = callback.plot(scores, same)\n"
        "pyplot = sys.modules.get('matplotlib.pyplot')\n"
        "assert pyplot is None or pyplot.get_fignums() == [], 'pyplot holds the figure'\n"
        "log_figure(trainer, 'test/roc', figure, directory=sys.argv[1])\n"
        "assert dict.__getitem__(matplotlib.rcParams, 'backend') == backend, 'backend changed'\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "test_roc.png").is_file()


def _pairs() -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    return {
        "scores": torch.randn(20, generator=g),
        "same": torch.arange(20) % 2,
        "index": torch.arange(20),
    }


def test_a_second_test_keeps_the_first_picture(tmp_path: Path) -> None:
    callback = VerificationROCLogger()
    trainer = _trainer(tmp_path)
    module = MagicMock()
    module.all_gather = lambda t: t
    for _ in range(2):
        callback.on_test_epoch_start(trainer, module)
        callback.on_test_batch_end(trainer, module, _pairs(), None, 0)
        callback.on_test_epoch_end(trainer, module)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["test_roc-1.png", "test_roc.png"]


def test_every_process_asks_for_the_log_directory(tmp_path: Path) -> None:
    # trainer.log_dir broadcasts rank zero's directory: a process that skipped the call would
    # leave rank zero waiting in the broadcast (or pair it with the next collective).
    callback = VerificationROCLogger()
    trainer = _trainer(tmp_path)
    trainer.is_global_zero = False
    log_dir = PropertyMock(return_value=str(tmp_path))
    type(trainer).log_dir = log_dir
    module = MagicMock()
    module.all_gather = lambda t: t
    callback.on_test_epoch_start(trainer, module)
    callback.on_test_batch_end(trainer, module, _pairs(), None, 0)
    callback.on_test_epoch_end(trainer, module)
    log_dir.assert_called_once()
    assert not list(tmp_path.iterdir()), "only rank zero writes the picture"
