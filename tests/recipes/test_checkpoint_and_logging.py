"""A short real fit through the CLI: checkpoint, ``test --ckpt_path``, offline W&B, ROC image."""

from pathlib import Path

import torch

from lightning_deepvision.cli import main
from tests.recipes.test_recipes import RECIPES, SMALL_DATA


def test_fit_then_test_from_checkpoint_with_offline_wandb(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("WANDB_SILENT", "true")
    config = RECIPES / "configs" / "deepid2.yaml"
    common = [
        *SMALL_DATA,
        f"--trainer.default_root_dir={tmp_path}",
        f"--trainer.logger.init_args.save_dir={tmp_path / 'logs'}",
        "--trainer.enable_progress_bar=false",
    ]
    fit_args = ["fit", *common, "--trainer.max_steps=2", "--trainer.limit_val_batches=1"]
    cli = main(args=fit_args, default_config_files=[config])
    best = (
        cli.trainer.checkpoint_callback.best_model_path
        or cli.trainer.checkpoint_callback.last_model_path
    )
    assert best and Path(best).is_file()
    torch.load(best, weights_only=True)  # plain hyperparameters only
    assert list((tmp_path / "logs" / "wandb").glob("offline-run-*")), "W&B must run offline"

    test_args = ["test", *common, f"--ckpt_path={best}"]
    cli = main(args=test_args, default_config_files=[config])
    assert "test/accuracy" in cli.trainer.callback_metrics
    assert list(tmp_path.rglob("test_roc.png")), "the ROC curve image is written at test"
    # Both runs keep their configuration; the second never overwrites the first.
    assert (tmp_path / "logs" / "config.yaml").is_file()
    assert (tmp_path / "logs" / "config-test.yaml").is_file()
