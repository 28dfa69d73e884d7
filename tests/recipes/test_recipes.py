"""Every recipe runs fit/validate/test/predict through the CLI with fast_dev_run on CPU."""

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from lightning_deepvision.testing import write_identity_folder, write_lfw
from tests.recipes._support import RECIPES, SMALL_FACES, run_recipe

NAMES = ["deepid2plus", "deepid2"]
SMALL_DATA = SMALL_FACES


def run(name: str, subcommand: str, *extra: str, tmp_path: Path):
    return run_recipe(name, subcommand, *extra, tmp_path=tmp_path)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("subcommand", ["fit", "validate", "test", "predict"])
def test_recipe_fast_dev_run(name: str, subcommand: str, tmp_path: Path) -> None:
    extra = [] if subcommand == "fit" else ["--model.num_identities=12"]
    cli = run(name, subcommand, *SMALL_DATA, *extra, tmp_path=tmp_path)
    expected_backbone = {"deepid2plus": 4, "deepid2": 1}[name]
    assert len(cli.model.level_features) == expected_backbone
    if subcommand in ("validate", "test"):
        prefix = "val" if subcommand == "validate" else "test"
        assert f"{prefix}/accuracy" in cli.trainer.callback_metrics


def test_recipe_on_real_layout_data(tmp_path: Path) -> None:
    train_root = write_identity_folder(tmp_path / "train", num_identities=6, images_per_identity=4)
    lfw_root = write_lfw(tmp_path / "lfw", num_people=20, images_per_person=3, pairs_per_fold=2)
    data = [
        "--data=FaceVerificationDataModule",
        f"--data.train_root={train_root}",
        f"--data.lfw_root={lfw_root}",
        "--data.identities_per_batch=3",
        "--data.images_per_identity=2",
        "--data.eval_batch_size=16",
        "--data.num_workers=0",
    ]
    cli = run("deepid2plus", "fit", *data, tmp_path=tmp_path)
    assert cli.model.hparams.num_identities == 6
    cli = run("deepid2plus", "test", *data, "--model.num_identities=6", tmp_path=tmp_path)
    assert "test/accuracy" in cli.trainer.callback_metrics


def test_print_config_shows_recipe_defaults(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        run("deepid2plus", "fit", "--print_config", tmp_path=tmp_path)
    assert exit_info.value.code == 0
    config = yaml.safe_load(capsys.readouterr().out)
    assert config["model"]["init_args"]["backbone"] == "deepid2plus"
    assert config["model"]["init_args"]["verification_weight"] == 0.05
    # omegaconf interpolation: the data input size follows the model's.
    assert config["data"]["init_args"]["input_size"] == [55, 47]


def test_recipe_script_runs_as_a_user_would(tmp_path: Path) -> None:
    result = subprocess.run(
        [
            sys.executable,
            str(RECIPES / "deepid2.py"),
            "fit",
            "--trainer.fast_dev_run=true",
            "--trainer.enable_progress_bar=false",
            f"--trainer.default_root_dir={tmp_path}",
            *SMALL_DATA,
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-3000:]


@pytest.mark.parametrize("logger", ["false", "null"])
def test_recipe_fit_without_a_logger(tmp_path: Path, logger: str) -> None:
    """``--trainer.logger false`` drops the recipe's LearningRateMonitor (Lightning refuses it);
    ``null`` is Lightning's default logger, and the monitor stays."""
    cli = run_recipe(
        "deepid2",
        "fit",
        *SMALL_DATA,
        "--trainer.fast_dev_run=false",
        "--trainer.max_steps=2",
        "--trainer.limit_val_batches=1",
        f"--trainer.logger={logger}",
        "--trainer.enable_progress_bar=false",
        tmp_path=tmp_path,
    )
    assert cli.trainer.global_step == 2
    monitors = [c for c in cli.trainer.callbacks if type(c).__name__ == "LearningRateMonitor"]
    assert bool(cli.trainer.loggers) == bool(monitors) == (logger == "null")
