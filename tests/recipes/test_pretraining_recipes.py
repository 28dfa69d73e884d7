"""The pre-training recipes (dbn_digits, deep_autoencoder) through the CLI with fast_dev_run."""

from __future__ import annotations

from pathlib import Path

import pytest

from lightning_deepvision.callbacks.layerwise_pretraining import LayerwisePretraining
from tests.recipes._support import run_recipe


def pretraining(cli) -> LayerwisePretraining:
    (callback,) = [c for c in cli.trainer.callbacks if isinstance(c, LayerwisePretraining)]
    return callback


@pytest.mark.parametrize("subcommand", ["fit", "validate", "test", "predict"])
def test_dbn_digits(subcommand: str, tmp_path: Path) -> None:
    cli = run_recipe("dbn_digits", subcommand, tmp_path=tmp_path)
    layers = cli.model.backbone.layers
    assert [layer.out_features for layer in layers] == [500, 500, 2000]  # Hinton's DBN
    if subcommand == "fit":
        history = pretraining(cli).history
        assert [record["layer"] for record in history] == [0.0, 1.0, 2.0]  # one batch each
    elif subcommand == "predict":
        (batch, *_) = cli.trainer.predict_loop.predictions
        assert batch["probabilities"].shape[1] == 10
    else:
        prefix = "val" if subcommand == "validate" else "test"
        assert f"{prefix}/accuracy" in cli.trainer.callback_metrics


def test_dbn_digits_without_pretraining(tmp_path: Path) -> None:
    cli = run_recipe(
        "dbn_digits", "fit", "--trainer.callbacks.init_args.epochs=0", tmp_path=tmp_path
    )
    assert pretraining(cli).history == [] and pretraining(cli).done


@pytest.mark.parametrize("subcommand", ["fit", "validate", "test", "predict"])
def test_deep_autoencoder(subcommand: str, tmp_path: Path) -> None:
    cli = run_recipe("deep_autoencoder", subcommand, tmp_path=tmp_path)
    encoder = cli.model.backbone.encoder
    assert [layer.out_features for layer in encoder] == [1000, 500, 250, 30]  # Science 2006
    if subcommand == "fit":
        assert [r["layer"] for r in pretraining(cli).history] == [0.0, 1.0, 2.0, 3.0]
    elif subcommand == "predict":
        (batch, *_) = cli.trainer.predict_loop.predictions
        assert batch["code"].shape[1] == 30
    else:
        prefix = "val" if subcommand == "validate" else "test"
        metrics = cli.trainer.callback_metrics
        assert {f"{prefix}/reconstruction_error", f"{prefix}/pca_reconstruction_error"} <= set(
            metrics
        )
