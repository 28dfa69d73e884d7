"""LayerwisePretraining: errors fall, layers freeze then fine-tune, a resume continues exactly."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
from lightning.pytorch import Callback, LightningModule, Trainer
from torch import nn
from torch.utils.data import DataLoader

from lightning_deepvision.callbacks.layerwise_pretraining import LayerwisePretraining
from lightning_deepvision.datamodules.digits import DigitsDataModule
from lightning_deepvision.datasets.digits import Digits
from lightning_deepvision.tasks import ClassificationTask
from lightning_deepvision.testing.trainers import quiet_trainer

LAYERS = ["layers.0", "layers.1", "layers.2"]


def tiny_task() -> ClassificationTask:
    torch.manual_seed(0)
    return ClassificationTask(
        backbone="dbn_mlp_tiny",
        num_classes=10,
        in_chans=1,
        input_size=(28, 28),
        lr=0.1,
        lr_schedule="none",
        weight_decay=0.0,
    )


class Snapshot(Callback):
    """Copies of the named parameters when training starts and after each epoch."""

    def __init__(self) -> None:
        self.start: dict[str, torch.Tensor] = {}
        self.epochs: list[dict[str, torch.Tensor]] = []

    @staticmethod
    def copy(module: LightningModule) -> dict[str, torch.Tensor]:
        return {k: v.detach().clone() for k, v in module.state_dict().items()}

    def on_train_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self.start = self.copy(pl_module)

    def on_train_epoch_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self.epochs.append(self.copy(pl_module))


def test_rbm_pretraining_lowers_each_layers_error_and_logs_samples(tmp_path: Path) -> None:
    task = tiny_task()
    before = {n: task.backbone.get_submodule(n).weight.detach().clone() for n in LAYERS}
    callback = LayerwisePretraining(LAYERS, epochs=3, save_checkpoint=False, gibbs_steps=20)
    snapshot = Snapshot()
    trainer = quiet_trainer(
        max_epochs=1,
        limit_train_batches=2,
        callbacks=[callback, snapshot],
        default_root_dir=tmp_path,
    )
    trainer.fit(task, datamodule=DigitsDataModule(batch_size=64))
    assert len(callback.history) == 9 and callback.done
    for index, name in enumerate(LAYERS):
        records = [r for r in callback.history if r["layer"] == index]
        assert [r["epoch"] for r in records] == [1.0, 2.0, 3.0]
        assert records[-1]["reconstruction_error"] < records[0]["reconstruction_error"], name
        assert all("free_energy_gap" in r and "val_reconstruction_error" in r for r in records)
        # The network's own layer was trained in place.
        assert not torch.equal(snapshot.start[f"backbone.{name}.weight"], before[name])
    assert (tmp_path / "pretraining_gibbs_samples.png").is_file()


class ConvNet(nn.Module):
    """A convolution, then a linear layer: auto-encoder pre-training of both kinds of layer."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 5, stride=2, padding=2)
        self.fc = nn.Linear(4 * 14 * 14, 16)
        self.num_features = 16

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.fc(torch.sigmoid(self.conv(x)).flatten(1)))


def test_denoising_autoencoder_pretraining_of_conv_and_linear_layers(tmp_path: Path) -> None:
    torch.manual_seed(0)
    task = ClassificationTask(backbone=ConvNet(), num_classes=10, lr=0.1, lr_schedule="none")
    callback = LayerwisePretraining(
        ["conv", "fc"],
        mode="autoencoder",
        epochs=[4, 3],
        lr=[0.02, 0.05],
        noise_level=0.2,
        tied=False,
        save_checkpoint=False,
    )
    trainer = quiet_trainer(
        max_steps=1, limit_train_batches=3, callbacks=[callback], default_root_dir=tmp_path
    )
    trainer.fit(task, datamodule=DigitsDataModule(batch_size=64))
    for index in (0, 1):
        records = [r for r in callback.history if r["layer"] == index]
        assert records[-1]["reconstruction_error"] < records[0]["reconstruction_error"]
        assert "free_energy_gap" not in records[0]


def test_frozen_then_fine_tuned(tmp_path: Path) -> None:
    task = tiny_task()
    callback = LayerwisePretraining(LAYERS[:2], epochs=1, freeze_epochs=1, save_checkpoint=False)
    snapshot = Snapshot()
    trainer = quiet_trainer(
        max_epochs=2,
        limit_train_batches=3,
        limit_val_batches=1,
        callbacks=[callback, snapshot],
        default_root_dir=tmp_path,
    )
    trainer.fit(task, datamodule=DigitsDataModule(batch_size=64))
    start, first, second = snapshot.start, *snapshot.epochs
    for name in ("backbone.layers.0.weight", "backbone.layers.1.bias"):
        assert torch.equal(first[name], start[name]), f"{name} moved while frozen"
        assert not torch.equal(second[name], first[name]), f"{name} not fine-tuned"
    for name in ("backbone.layers.2.weight", "head.weight"):  # not pre-trained: always trained
        assert not torch.equal(first[name], start[name])
    assert all(p.requires_grad for p in task.parameters())


class Interrupt(RuntimeError):
    pass


class InterruptedPretraining(LayerwisePretraining):
    """Stops the run after its ``stop_after``-th checkpoint."""

    def __init__(self, *args: Any, stop_after: int, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.stop_after, self.saves = stop_after, 0

    def _save(self, trainer: Trainer) -> None:
        super()._save(trainer)
        self.saves += 1
        if self.saves == self.stop_after:
            raise Interrupt


def test_a_resume_from_mid_pretraining_gives_the_uninterrupted_weights(tmp_path: Path) -> None:
    loader = DataLoader(Digits("train"), batch_size=100, shuffle=False)
    options: dict[str, Any] = {"layers": LAYERS[:2], "epochs": 3, "persistent": True, "k": 2}

    def run(callback: LayerwisePretraining, root: Path, ckpt: Path | None = None) -> Snapshot:
        snapshot = Snapshot()
        trainer = quiet_trainer(
            max_steps=1,
            limit_train_batches=2,
            default_root_dir=root,
            callbacks=[callback, snapshot],
        )
        trainer.fit(tiny_task(), train_dataloaders=loader, ckpt_path=ckpt)
        return snapshot

    reference = run(LayerwisePretraining(**options), tmp_path / "whole")
    with pytest.raises(Interrupt):
        run(InterruptedPretraining(**options, stop_after=2), tmp_path / "cut")  # in layer 0
    checkpoint = tmp_path / "cut" / "checkpoints" / "pretraining.ckpt"
    state = torch.load(checkpoint, weights_only=True)
    assert not next(iter(state["callbacks"].values()))["done"]
    resumed_callback = LayerwisePretraining(**options)
    resumed = run(resumed_callback, tmp_path / "resumed", checkpoint)
    for name in ("backbone.layers.0.weight", "backbone.layers.1.weight", "backbone.layers.1.bias"):
        torch.testing.assert_close(resumed.start[name], reference.start[name], msg=name)
    assert len(resumed_callback.history) == 6


def test_configuration_errors_name_the_layer(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="one value per layer"):
        LayerwisePretraining(LAYERS, epochs=[1, 2])
    with pytest.raises(ValueError, match="mode must be"):
        LayerwisePretraining(LAYERS, mode="boltzmann")  # type: ignore[arg-type]
    for layers, error, message in (
        (["layers.7"], ValueError, "no layer 'layers.7'.*layers.0"),
        (["conv"], TypeError, "needs an nn.Linear layer, 'conv' is a Conv2d"),
    ):
        backbone: Any = "dbn_mlp_tiny" if layers == ["layers.7"] else ConvNet()
        task = ClassificationTask(backbone=backbone, num_classes=10, in_chans=1)
        callback = LayerwisePretraining(layers, epochs=1, save_checkpoint=False)
        trainer = quiet_trainer(
            max_steps=1, limit_train_batches=1, callbacks=[callback], default_root_dir=tmp_path
        )
        with pytest.raises(error, match=message):
            trainer.fit(task, datamodule=DigitsDataModule(batch_size=16))


class WeightSpread(Callback):
    """After pre-training: the largest difference of layers.0's weight from rank zero's."""

    def on_train_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        weight = pl_module.backbone.layers[0].weight.detach().clone()
        reference = trainer.strategy.broadcast(weight, src=0)
        spread = (weight - reference).abs().max()
        spread = trainer.strategy.reduce(spread, reduce_op="max")
        trainer.callback_metrics["weight_spread"] = spread


@pytest.mark.slow
@pytest.mark.skipif(
    not torch.distributed.is_available(),
    reason="this torch build has no torch.distributed: multi-process check skipped",
)
def test_two_processes_train_their_shards_and_stay_synchronised(tmp_path: Path) -> None:
    task = tiny_task()
    callback = LayerwisePretraining(LAYERS[:1], epochs=2, save_checkpoint=False, samples=0)
    trainer = quiet_trainer(
        max_steps=1,
        limit_train_batches=3,
        limit_val_batches=1,
        devices=2,
        strategy="ddp_spawn",
        default_root_dir=tmp_path,
        callbacks=[callback, WeightSpread()],
    )
    trainer.fit(task, datamodule=DigitsDataModule(batch_size=32))
    assert float(trainer.callback_metrics["weight_spread"]) == 0.0
