"""The command line as a new user meets it: exit status, where runs go, help, quiet output.

Runs go through ``cli.main(args=...)`` in this process; a subprocess only where a fresh
process matters (the console script's exit status, Lightning's ``ddp`` launcher). The runs on
two processes use ``ddp_fork`` (the ``ddp_spawn`` launcher with forked processes: the same
collectives, without importing everything again in each process).
"""

from __future__ import annotations

import re
import subprocess
import sys
import warnings
from importlib.metadata import entry_points
from pathlib import Path

import pytest
from lightning.pytorch.callbacks import RichProgressBar

from lightning_deepvision import cli
from lightning_deepvision.callbacks import LineProgressBar
from lightning_deepvision.cli import main
from tests.recipes.test_recipes import RECIPES, SMALL_DATA

CONFIG = RECIPES / "configs" / "deepid2.yaml"
# One short epoch with a validation, so that fit saves a best and a last checkpoint.
SHORT_FIT = [
    "--trainer.max_epochs=1",
    "--trainer.limit_train_batches=2",
    "--trainer.limit_val_batches=1",
    "--trainer.log_every_n_steps=1",
]
TWO_PROCESSES = ["--trainer.strategy=ddp_fork", "--trainer.accelerator=cpu", "--trainer.devices=2"]


def _files(root: Path) -> set[Path]:
    return {p for p in root.rglob("*") if p.is_file()}


@pytest.fixture
def dirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    """An empty current directory and a separate root for the runs."""
    cwd, root = tmp_path / "cwd", tmp_path / "runs"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    # Lightning warns when pytest's own arguments are in sys.argv beside ``args``.
    monkeypatch.setattr(sys, "argv", ["deepvision"])
    return cwd, root


def _run(*args: str, root: Path, config: Path = CONFIG):
    return main(
        args=[*args, *SMALL_DATA, f"--trainer.default_root_dir={root}"],
        default_config_files=[config],
    )


# -- 1. exit status ---------------------------------------------------------------------------
def test_console_script_is_run() -> None:
    (script,) = [e for e in entry_points(group="console_scripts") if e.name == "deepvision"]
    assert script.value == "lightning_deepvision.cli:run"


def test_console_script_exits_0_after_a_run(tmp_path: Path) -> None:
    executable = Path(sys.executable).with_name("deepvision")
    # What pip's generated script does, where the script is not installed beside Python.
    generated = "import sys; from lightning_deepvision.cli import run; sys.exit(run())"
    command = [str(executable)] if executable.is_file() else [sys.executable, "-c", generated]
    result = subprocess.run(
        [
            *command,
            "fit",
            f"--config={CONFIG}",
            "--trainer.fast_dev_run=true",
            f"--trainer.default_root_dir={tmp_path}",
            *SMALL_DATA,
        ],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "DeepVisionCLI object" not in result.stdout + result.stderr


def test_console_script_exits_2_on_a_bad_argument(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(sys, "argv", ["deepvision", "fit", "--trainer.max_epochs=many"])
    with pytest.raises(SystemExit) as exit_info:
        cli.run()
    assert exit_info.value.code == 2
    assert "max_epochs" in capsys.readouterr().err


# -- 2, 4, 6, 8. where a run writes, what it prints -------------------------------------------
def test_runs_write_only_into_their_run_directories(
    dirs: tuple[Path, Path], capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    cwd, root = dirs
    _run("fit", "--trainer.fast_dev_run=true", root=root)
    assert not _files(cwd) and not _files(root), "fast_dev_run writes nothing"
    capsys.readouterr()

    runs = root / "lightning_logs" / "deepid2"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fit = _run("fit", *SHORT_FIT, root=root)
        best = Path(fit.trainer.checkpoint_callback.best_model_path)
        after_fit = _files(root)
        fit_out, fit_err = capsys.readouterr()
        _run("test", f"--ckpt_path={best}", root=root)
        after_test = _files(root)
        test_out, test_err = capsys.readouterr()
        _run("predict", f"--ckpt_path={best}", root=root)
    after_predict = _files(root)

    assert not _files(cwd), f"written into the current directory: {sorted(_files(cwd))}"
    # Each command has one directory, named after the run and a version.
    for files, version in ((after_fit, 0), (after_test - after_fit, 1)):
        assert files and all(runs / f"version_{version}" in f.parents for f in files), files
    assert after_predict - after_test
    assert all(runs / "version_2" in f.parents for f in after_predict - after_test)
    fit_dir = runs / "version_0"
    assert best.parent == fit_dir / "checkpoints"
    for name in ("config.yaml", "metrics.csv", "checkpoints/last.ckpt"):
        assert (fit_dir / name).is_file(), name
    assert len(list((fit_dir / "wandb").glob("offline-run-*"))) == 1
    assert (runs / "version_1" / "test_roc.png").is_file()

    # fit ends with the result and where everything went; every path printed exists.
    assert "Verification on held-out pairs: val/accuracy = " in fit_out
    assert f"Run directory: {fit_dir}" in fit_out
    for label in ("best checkpoint", "last checkpoint", "config", "metrics", "W&B run (offline)"):
        assert re.search(rf"^  {re.escape(label)}: +/", fit_out, re.M), label
    printed = re.findall(r"^  [\w&() ]+: +(/\S+)$", fit_out + test_out, re.M)
    assert printed and all(Path(p).exists() for p in printed), printed
    assert re.search(r"^  picture: +\S+test_roc\.png$", test_out, re.M)
    assert "Verification on held-out pairs: test/accuracy = " in test_out
    # Output to a file: progress lines, no colour codes, no Rich boxes in the summary.
    assert re.search(r"^epoch 0/0 step 1/2 \(global 1\) \| ", fit_out, re.M)
    assert re.search(r"^validation done \| .*val/accuracy=", fit_out, re.M)
    for text in (fit_out, fit_err, test_out, test_err):
        assert "\x1b[" not in text
    # Quiet: none of the warnings a default run used to print.
    printed_or_logged = fit_out + fit_err + test_out + test_err + caplog.text
    assert "Total params" in caplog.text, "the model summary is logged"
    for noise in ("anonymous setting", "git root", "FLOPs", "Flops", "litlogger", "You can sync"):
        assert noise not in printed_or_logged, noise
    ours = [w for w in caught if "lightning_deepvision" in w.filename]
    assert not [w for w in ours if "deprecated" in str(w.message)], ours
    assert not [w for w in caught if "dirpath has changed" in str(w.message)]


def test_a_terminal_gets_the_rich_bar(
    dirs: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    _, root = dirs
    args = ("validate", "--trainer.fast_dev_run=true", "--model.num_identities=12")
    assert isinstance(_run(*args, root=root).trainer.progress_bar_callback, LineProgressBar)
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True)
    assert isinstance(_run(*args, root=root).trainer.progress_bar_callback, RichProgressBar)


# -- 5. help ----------------------------------------------------------------------------------
def test_model_help_fits_on_a_screen(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(args=["fit", "--model.help", "VerificationTask"], default_config_files=[CONFIG])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    assert len(text.splitlines()) < 150
    for option in ("--model.lr", "--model.scoring", "--model.init_from", "--model.backbone"):
        assert option in text
    backbone = text[text.index("  --model.backbone BACKBONE") :]
    assert "registry names: " in backbone and "deepid2plus" in backbone
    assert "torch.nn.Linear" not in text, "nn.Module subclasses are not listed"


def test_help_says_what_the_library_is(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(args=["--help"])
    text = capsys.readouterr().out
    assert "DeepID" in text
    for name in ("recipes/deepid2plus.py", "VerificationTask", "SyntheticFacesDataModule"):
        assert name in text


# -- 3. several processes ---------------------------------------------------------------------
LOGGERS = {
    "wandb": [],  # the recipe's own: W&B offline, plus metrics.csv beside it
    "csv": ["--trainer.logger=CSVLogger", "--trainer.logger.save_dir=logs"],
    "tensorboard": ["--trainer.logger=TensorBoardLogger", "--trainer.logger.save_dir=logs"],
}
EXPECTED = {"wandb": "wandb", "csv": "metrics.csv", "tensorboard": "events.out.tfevents.*"}


@pytest.mark.parametrize(
    "logger",
    [
        "wandb",
        pytest.param("csv", marks=pytest.mark.slow),
        pytest.param("tensorboard", marks=pytest.mark.slow),
    ],
)
def test_fit_on_two_processes(logger: str, dirs: tuple[Path, Path]) -> None:
    cwd, root = dirs
    fit = _run("fit", *TWO_PROCESSES, *SHORT_FIT, *LOGGERS[logger], root=root)
    assert fit.trainer.world_size == 2
    (run_dir,) = {p.parent for p in root.rglob("config.yaml")}
    assert run_dir.name == "version_0"
    assert {p.name for p in (run_dir / "checkpoints").iterdir()} >= {"last.ckpt"}
    assert list(run_dir.glob(EXPECTED[logger]))
    if logger == "wandb":
        assert (run_dir / "metrics.csv").is_file()
    assert not _files(cwd)


def test_test_and_predict_from_a_checkpoint_on_two_processes(dirs: tuple[Path, Path]) -> None:
    cwd, root = dirs
    # One process; the CSV logger keeps the recipe's run name: logs/deepid2/version_0.
    fit = _run("fit", *SHORT_FIT, *LOGGERS["csv"], root=root)
    checkpoint = fit.trainer.checkpoint_callback.best_model_path
    test = _run("test", *TWO_PROCESSES, f"--ckpt_path={checkpoint}", *LOGGERS["csv"], root=root)
    assert "test/accuracy" in test.trainer.callback_metrics
    test_dir = root / "logs" / "deepid2" / "version_1"
    assert {"config.yaml", "metrics.csv", "test_roc.png"} <= {p.name for p in test_dir.iterdir()}
    _run("predict", *TWO_PROCESSES, f"--ckpt_path={checkpoint}", *LOGGERS["tensorboard"], root=root)
    assert (root / "logs" / "deepid2" / "version_2" / "config.yaml").is_file()
    assert not _files(cwd)


@pytest.mark.slow
def test_recipe_script_tests_a_checkpoint_with_ddp(tmp_path: Path) -> None:
    """The reported case: the recipe script, Lightning's ``ddp`` launcher, a CSV logger."""
    fit = main(
        args=["fit", *SMALL_DATA, *SHORT_FIT, f"--trainer.default_root_dir={tmp_path}"],
        default_config_files=[CONFIG],
    )
    checkpoint = fit.trainer.checkpoint_callback.best_model_path
    result = subprocess.run(
        [
            sys.executable,
            str(RECIPES / "deepid2.py"),
            "test",
            f"--ckpt_path={checkpoint}",
            "--trainer.strategy=ddp",
            "--trainer.devices=2",
            "--trainer.accelerator=cpu",
            "--trainer.logger=CSVLogger",
            f"--trainer.logger.save_dir={tmp_path / 'ddp'}",
            *SMALL_DATA,
        ],
        capture_output=True,
        text=True,
        timeout=900,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert (tmp_path / "ddp" / "deepid2" / "version_0" / "test_roc.png").is_file()
    assert "test/accuracy = " in result.stdout
