"""AutoencoderTask: errors, the PCA baseline, RBM unrolling into the decoder, checkpoints."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from lightning.pytorch import Callback, LightningModule, Trainer

from lightning_deepvision.callbacks.layerwise_pretraining import LayerwisePretraining
from lightning_deepvision.datamodules.digits import DigitsDataModule
from lightning_deepvision.datasets.digits import Digits
from lightning_deepvision.tasks.autoencoder import AutoencoderTask
from lightning_deepvision.testing.trainers import quiet_trainer

ENCODER = [f"encoder.{i}" for i in range(4)]
DECODER = [f"decoder.{i}" for i in (3, 2, 1, 0)]


def stack(split: str) -> np.ndarray:
    digits = Digits(split)  # type: ignore[arg-type]
    return torch.stack([digits[i]["image"].flatten() for i in range(len(digits))]).double().numpy()


def test_fine_tuning_lowers_the_error_and_pca_is_sklearns(tmp_path: Path) -> None:
    from sklearn.decomposition import PCA

    torch.manual_seed(0)
    data = DigitsDataModule(batch_size=50, eval_batch_size=500)
    task = AutoencoderTask(backbone="deep_autoencoder_tiny", lr=3e-3, num_images=4)
    trainer = quiet_trainer(max_epochs=3, default_root_dir=tmp_path, num_sanity_val_steps=0)
    images = torch.from_numpy(stack("test")).float().view(-1, 1, 28, 28)
    with torch.no_grad():
        before = float(((task.reconstruct(images)[1] - images) ** 2).flatten(1).sum(1).mean())
    trainer.fit(task, datamodule=data)
    result = trainer.test(task, datamodule=data, verbose=False)[0]
    assert result["test/reconstruction_error"] < 0.8 * before
    train, test = stack("train"), stack("test")
    pca = PCA(n_components=8).fit(train)
    expected = ((pca.inverse_transform(pca.transform(test)) - test) ** 2).sum(1).mean()
    assert result["test/pca_reconstruction_error"] == pytest.approx(expected, rel=1e-3)
    summary = task.result_summary(result)
    assert summary is not None and "PCA with 8 components" in summary
    assert list((tmp_path / "test_reconstructions").glob("epoch=*.png"))
    predictions = trainer.predict(task, datamodule=data)
    assert predictions is not None and predictions[0]["code"].shape[1] == 8  # type: ignore[index]
    path = tmp_path / "task.ckpt"
    trainer.save_checkpoint(path)
    assert torch.load(path, weights_only=True)["hyper_parameters"]["loss"] == "bce"
    reloaded = AutoencoderTask.load_from_checkpoint(path)
    torch.testing.assert_close(
        reloaded.backbone.encoder[0].weight, task.backbone.encoder[0].weight.cpu()
    )


class AtStart(Callback):
    def on_train_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self.state = {k: v.detach().clone() for k, v in pl_module.state_dict().items()}


def test_rbm_stack_unrolls_into_the_decoder(tmp_path: Path) -> None:
    torch.manual_seed(0)
    task = AutoencoderTask(backbone="deep_autoencoder_tiny", pca_components=0)
    pretraining = LayerwisePretraining(
        ENCODER,
        mirrors=DECODER,
        hidden=["bernoulli", "bernoulli", "bernoulli", "gaussian"],
        lr=[0.1, 0.1, 0.1, 0.001],
        epochs=1,
        save_checkpoint=False,
        samples=0,
    )
    start = AtStart()
    trainer = quiet_trainer(
        max_steps=1,
        limit_train_batches=2,
        callbacks=[pretraining, start],
        default_root_dir=tmp_path,
    )
    trainer.fit(task, datamodule=DigitsDataModule(batch_size=64))
    for encoder, decoder in zip(ENCODER, DECODER, strict=True):
        weight = start.state[f"backbone.{encoder}.weight"]
        torch.testing.assert_close(start.state[f"backbone.{decoder}.weight"], weight.T)
        assert start.state[f"backbone.{decoder}.bias"].abs().sum() > 0  # the visible biases
    assert pretraining.history[-1]["layer"] == 3.0


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="loss must be"):
        AutoencoderTask(loss="l1")  # type: ignore[arg-type]
