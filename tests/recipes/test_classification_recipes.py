"""The classification recipes run fit/validate/test/predict through the CLI with fast_dev_run."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import yaml

from lightning_deepvision.cli import main
from tests.recipes._support import RECIPES, run_recipe

NAMES = ["alexnet_imagenet", "transfer"]
# Small synthetic data so each run takes seconds; everything else is the recipe's own.
SMALL_DATA = [
    "--data.train_images_per_class=2",
    "--data.eval_images_per_class=2",
    "--data.render_size=32",
    "--data.resize_size=72",
    "--data.batch_size=4",
    "--data.eval_batch_size=16",
    "--data.num_workers=0",
]


def run(name: str, subcommand: str, *extra: str, tmp_path: Path):
    return run_recipe(name, subcommand, *SMALL_DATA, *extra, tmp_path=tmp_path)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("subcommand", ["fit", "validate", "test", "predict"])
def test_recipe_fast_dev_run(name: str, subcommand: str, tmp_path: Path) -> None:
    cli = run(name, subcommand, tmp_path=tmp_path)
    classes = {"alexnet_imagenet": 10, "transfer": 6}[name]
    assert cli.model.hparams.num_classes == classes
    assert cli.model.backbone.features.conv1.out_channels == 96  # the paper's conv1
    if subcommand in ("validate", "test"):
        prefix = "val" if subcommand == "validate" else "test"
        metrics = cli.trainer.callback_metrics
        assert {f"{prefix}/accuracy", f"{prefix}/accuracy_top5"} <= set(metrics)
        assert f"{prefix}/retrieval_map" in metrics
    if subcommand == "predict":
        (batch, *_) = cli.trainer.predict_loop.predictions
        assert batch["probabilities"].shape[1] == classes
        assert batch["features"].shape[1] == 4096  # fc7


def test_transfer_starts_from_the_classification_checkpoint(tmp_path: Path) -> None:
    source = run("alexnet_imagenet", "fit", tmp_path=tmp_path / "a")
    path = tmp_path / "a.ckpt"
    source.trainer.save_checkpoint(path)
    for freeze in ("true", "false"):
        cli = run(
            "transfer",
            "fit",
            f"--model.init_from={path}",
            f"--model.freeze_backbone={freeze}",
            "--trainer.fast_dev_run=false",
            "--trainer.max_epochs=1",
            "--trainer.limit_train_batches=1",
            "--trainer.limit_val_batches=1",
            "--trainer.logger=CSVLogger",
            f"--trainer.logger.save_dir={tmp_path}",
            tmp_path=tmp_path / freeze,
        )
        conv1 = cli.model.backbone.features.conv1.weight
        original = source.model.backbone.features.conv1.weight
        if freeze == "true":  # a linear probe: the backbone is the checkpoint's, unchanged
            torch.testing.assert_close(conv1, original, rtol=0, atol=0)
        else:  # fine-tuned: it started there and moved
            assert not torch.equal(conv1, original)
            assert (conv1 - original).abs().max() < 0.01
        assert cli.model.head.out_features == 6


def test_print_config_shows_recipe_defaults(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(
            args=["fit", "--print_config"],
            default_config_files=[RECIPES / "configs" / "alexnet_imagenet.yaml"],
        )
    assert exit_info.value.code == 0
    config = yaml.safe_load(capsys.readouterr().out)
    model = config["model"]["init_args"]
    assert (model["backbone"], model["lr"], model["momentum"]) == ("alexnet", 0.01, 0.9)
    assert model["weight_decay"] == 0.0005
    # omegaconf interpolation: the crops follow the network's input size.
    assert config["data"]["init_args"]["image_size"] == model["input_size"][0] == 67
