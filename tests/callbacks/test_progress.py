"""LineProgressBar writes plain periodic lines; CompactModelSummary drops FLOPs never counted."""

import re

import pytest
import torch
from lightning.pytorch.demos.boring_classes import BoringModel

from lightning_deepvision.callbacks import CompactModelSummary, LineProgressBar
from lightning_deepvision.callbacks import progress as progress_module
from lightning_deepvision.testing.trainers import quiet_trainer


class _LoggingModel(BoringModel):
    def training_step(self, batch, batch_idx):
        out = super().training_step(batch, batch_idx)
        self.log("train_loss", out["loss"], prog_bar=True)
        return out

    def validation_step(self, batch, batch_idx):
        out = super().validation_step(batch, batch_idx)
        self.log("val_loss", out["x"], prog_bar=True)
        return out


def _fit(bar: LineProgressBar, **options) -> None:
    trainer = quiet_trainer(
        max_epochs=2,
        limit_train_batches=3,
        limit_val_batches=2,
        enable_progress_bar=True,
        callbacks=[bar],
        **options,
    )
    trainer.fit(_LoggingModel())


def test_a_line_per_batch_and_per_epoch(capsys: pytest.CaptureFixture[str]) -> None:
    _fit(LineProgressBar(interval=0))
    out = capsys.readouterr().out
    assert "\x1b[" not in out, "no colour codes outside a terminal"
    lines = out.splitlines()
    steps = [line for line in lines if re.match(r"epoch \d/1 step \d/3 ", line)]
    assert len(steps) == 6  # 2 epochs x 3 batches
    assert re.fullmatch(
        r"epoch 1/1 step 3/3 \(global 6\) \| [\d.]+ it/s \| [\d.]+s"
        r" \| train_loss=[-\d.e]+ val_loss=[-\d.e]+",
        steps[-1],
    ), steps[-1]
    done = [line for line in lines if line.startswith("epoch ") and " done: " in line]
    assert len(done) == 2 and done[0].startswith("epoch 0/1 done: 3 steps (global 3)")
    assert "val_loss=" in done[0], "the epoch line carries the validation result"
    assert sum(line.startswith("validation done") for line in lines) == 2


def test_lines_are_periodic(capsys: pytest.CaptureFixture[str]) -> None:
    _fit(LineProgressBar(interval=3600))
    lines = capsys.readouterr().out.splitlines()
    # Within an hour only the first batch of each loop is reported, then its end.
    assert [line.split(" |")[0] for line in lines if " step " in line] == [
        "epoch 0/1 step 1/3 (global 1)",
        "epoch 1/1 step 1/3 (global 4)",
    ]
    assert sum(line.startswith("validation 1/2") for line in lines) == 2
    assert not any(line.startswith("validation 2/2") for line in lines)


def test_disabled_bar_writes_nothing(capsys: pytest.CaptureFixture[str]) -> None:
    bar = LineProgressBar(interval=0)
    bar.disable()
    assert not bar.is_enabled
    trainer = quiet_trainer(
        max_steps=2, limit_val_batches=0, enable_progress_bar=True, callbacks=[bar]
    )
    trainer.fit(_LoggingModel())
    assert capsys.readouterr().out == ""


def test_test_and_predict_lines(capsys: pytest.CaptureFixture[str]) -> None:
    trainer = quiet_trainer(
        limit_test_batches=2,
        limit_predict_batches=2,
        enable_progress_bar=True,
        callbacks=[LineProgressBar(interval=0)],
    )
    model = _LoggingModel()
    trainer.test(model, verbose=False)
    trainer.predict(model)
    lines = [line.split(" |")[0] for line in capsys.readouterr().out.splitlines()]
    assert lines == [
        "test 1/2",
        "test 2/2",
        "test done",
        "predict 1/2",
        "predict 2/2",
        "predict done",
    ]


def test_interval_must_not_be_negative() -> None:
    with pytest.raises(ValueError, match="interval"):
        LineProgressBar(interval=-1)


def _summary(monkeypatch: pytest.MonkeyPatch, model: BoringModel) -> str:
    logged: list[str] = []
    monkeypatch.setattr(progress_module, "rank_zero_info", logged.append)
    trainer = quiet_trainer(max_steps=1, limit_val_batches=0, callbacks=[CompactModelSummary()])
    trainer.fit(model)
    assert len(logged) == 1
    return logged[0]


def test_summary_without_flops_when_none_were_counted(monkeypatch: pytest.MonkeyPatch) -> None:
    text = _summary(monkeypatch, BoringModel())
    assert "layer" in text and "Total params" in text
    assert "FLOPs" not in text and "Flops" not in text


def test_summary_keeps_counted_flops(monkeypatch: pytest.MonkeyPatch) -> None:
    model = BoringModel()
    model.example_input_array = torch.randn(4, 32)  # Lightning counts FLOPs on it
    text = _summary(monkeypatch, model)
    assert "FLOPs" in text and text.splitlines()[-1].endswith("Total Flops")
