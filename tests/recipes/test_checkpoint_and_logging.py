"""A short real fit through the CLI: checkpoint, ``test --ckpt_path``, offline W&B, ROC image."""

from pathlib import Path

import torch

from lightning_deepvision.cli import main
from tests.recipes.test_recipes import RECIPES, SMALL_DATA


def test_fit_then_test_from_checkpoint_with_offline_wandb(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    config = RECIPES / "configs" / "deepid2.yaml"
    common = [
        *SMALL_DATA,
        f"--trainer.default_root_dir={tmp_path}",
        f"--trainer.logger.init_args.save_dir={tmp_path / 'logs'}",
        "--trainer.enable_progress_bar=false",
    ]
    # One short epoch, validated, so that the best checkpoint is chosen on val/accuracy.
    short = ["--trainer.max_epochs=1", "--trainer.limit_train_batches=2"]
    short += ["--trainer.limit_val_batches=1", "--trainer.log_every_n_steps=1"]
    cli = main(args=["fit", *common, *short], default_config_files=[config])
    best = cli.trainer.checkpoint_callback.best_model_path
    fit_dir = tmp_path / "logs" / "deepid2" / "version_0"
    assert best and Path(best).is_file() and Path(best).parent == fit_dir / "checkpoints"
    torch.load(best, weights_only=True)  # plain hyperparameters only
    assert list((fit_dir / "wandb").glob("offline-run-*")), "W&B must run offline"

    test_args = ["test", *common, f"--ckpt_path={best}"]
    cli = main(args=test_args, default_config_files=[config])
    assert "test/accuracy" in cli.trainer.callback_metrics
    test_dir = tmp_path / "logs" / "deepid2" / "version_1"
    assert (test_dir / "test_roc.png").is_file(), "the ROC curve image is written at test"
    # Each run keeps its configuration in its own directory; none overwrites another.
    assert (fit_dir / "config.yaml").is_file() and (test_dir / "config.yaml").is_file()
    assert len(list((test_dir / "wandb").glob("offline-run-*"))) == 1, "test starts a new run"
