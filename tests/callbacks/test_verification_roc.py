from pathlib import Path
from unittest.mock import MagicMock

import torch
from lightning.pytorch.loggers import WandbLogger

from lightning_deepvision.callbacks import VerificationROCLogger
from lightning_deepvision.callbacks.verification_roc import _first_occurrence


def test_first_occurrence_drops_padded_duplicates() -> None:
    index = torch.tensor([4, 1, 2, 4, 1, 3])
    unique, first = _first_occurrence(index)
    assert unique.tolist() == [1, 2, 3, 4]
    assert first.tolist() == [1, 2, 5, 0]


def test_plot_and_log(tmp_path: Path) -> None:
    callback = VerificationROCLogger()
    scores = torch.cat([torch.randn(50) + 2, torch.randn(50)])
    same = torch.cat([torch.ones(50), torch.zeros(50)]).long()
    index = torch.arange(100)
    trainer = MagicMock()
    trainer.is_global_zero = True
    trainer.log_dir = str(tmp_path)
    wandb = MagicMock(spec=WandbLogger)
    trainer.loggers = [wandb]
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
    assert "100 pairs" in figure.axes[0].get_legend().get_texts()[0].get_text()
    callback.on_test_epoch_end(trainer, module)
    assert seen[-1] == 100  # 160 outputs, 100 distinct pairs
    assert (tmp_path / "test_roc.png").is_file()
    wandb.log_image.assert_called_once()
    image = wandb.log_image.call_args.kwargs["images"][0]
    assert image.ndim == 3 and image.shape[2] == 3
