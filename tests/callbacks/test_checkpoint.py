"""TaskModelCheckpoint / TaskEarlyStopping watch the metric the task declares."""

import warnings
from pathlib import Path

import pytest
import torch
from lightning.pytorch.callbacks import EarlyStopping, ModelCheckpoint

from lightning_deepvision.callbacks import TaskEarlyStopping, TaskModelCheckpoint
from lightning_deepvision.tasks import VerificationTask
from lightning_deepvision.testing.trainers import quiet_trainer


class _MinTask(VerificationTask):
    monitor = "val/accuracy_std"
    mode = "min"


@pytest.mark.parametrize("task_class", [VerificationTask, _MinTask])
def test_monitor_and_mode_come_from_the_task(tmp_path: Path, tiny_faces, task_class) -> None:
    checkpoint = TaskModelCheckpoint(dirpath=tmp_path / "ckpt", save_last=True)
    stopping = TaskEarlyStopping(patience=5, min_delta=0.01)
    task = task_class(backbone="deepid2_tiny", flip_test="none")
    trainer = quiet_trainer(
        max_epochs=2,
        limit_train_batches=1,
        limit_val_batches=2,
        enable_checkpointing=True,
        callbacks=[checkpoint, stopping],
        default_root_dir=tmp_path,
    )
    trainer.fit(task, datamodule=tiny_faces())
    assert checkpoint.monitor == stopping.monitor == task_class.monitor
    assert checkpoint.mode == stopping.mode == task_class.mode
    # The direction decides which value counts as better.
    assert stopping.min_delta == (0.01 if task_class.mode == "max" else -0.01)
    assert checkpoint.best_model_path and Path(checkpoint.best_model_path).is_file()
    assert torch.isfinite(checkpoint.best_model_score) and torch.isfinite(stopping.best_score)


def test_explicit_monitor_wins(tmp_path: Path, tiny_faces) -> None:
    checkpoint = TaskModelCheckpoint(monitor="val/auc", mode="max", dirpath=tmp_path)
    stopping = TaskEarlyStopping(monitor="val/auc", mode="max")
    trainer = quiet_trainer(
        fast_dev_run=True,
        enable_checkpointing=True,
        callbacks=[checkpoint, stopping],
        default_root_dir=tmp_path,
    )
    trainer.fit(VerificationTask(backbone="deepid2_tiny"), datamodule=tiny_faces())
    assert checkpoint.monitor == stopping.monitor == "val/auc"
    assert isinstance(checkpoint, ModelCheckpoint) and isinstance(stopping, EarlyStopping)


def test_a_module_without_monitor_needs_one_given() -> None:
    from lightning.pytorch.demos.boring_classes import BoringModel

    with pytest.raises(ValueError, match="declaring `monitor` and `mode`"):
        TaskModelCheckpoint().setup(quiet_trainer(), BoringModel(), "fit")


def test_fast_dev_run_saves_no_checkpoint(tmp_path: Path, monkeypatch, tiny_faces) -> None:
    # With a logger, fast_dev_run swaps it for a dummy and Lightning's save_last would write
    # <default_root_dir>/checkpoints/last.ckpt (the current directory by default).
    monkeypatch.chdir(tmp_path)
    checkpoint = TaskModelCheckpoint(save_last=True)
    trainer = quiet_trainer(
        fast_dev_run=True, enable_checkpointing=True, callbacks=[checkpoint], logger=True
    )
    trainer.fit(VerificationTask(backbone="deepid2_tiny", flip_test="none"), tiny_faces())
    assert not list(tmp_path.rglob("*.ckpt"))


def test_evaluating_a_checkpoint_keeps_its_best_path_quietly(tmp_path: Path) -> None:
    task = VerificationTask(backbone="deepid2_tiny")
    state = {
        "monitor": "val/accuracy",
        "best_model_score": torch.tensor(0.9),
        "best_model_path": str(tmp_path / "earlier" / "best.ckpt"),
        "current_score": torch.tensor(0.9),
        "dirpath": str(tmp_path / "earlier"),
        "best_k_models": {str(tmp_path / "earlier" / "best.ckpt"): torch.tensor(0.9)},
        "kth_best_model_path": str(tmp_path / "earlier" / "best.ckpt"),
        "kth_value": torch.tensor(0.9),
        "last_model_path": str(tmp_path / "earlier" / "last.ckpt"),
    }
    checkpoint = TaskModelCheckpoint(dirpath=tmp_path / "now")
    checkpoint.setup(quiet_trainer(default_root_dir=tmp_path), task, "test")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # Lightning would warn that the dirpath has changed
        checkpoint.load_state_dict(state)
    assert checkpoint.best_model_path == state["best_model_path"]
    assert checkpoint.best_k_models == {}, "nothing of the earlier run's ranking is adopted"
    # Resuming a fit restores as Lightning does, warning included.
    checkpoint = TaskModelCheckpoint(dirpath=tmp_path / "now")
    checkpoint.setup(quiet_trainer(default_root_dir=tmp_path), task, "fit")
    with pytest.warns(UserWarning, match="dirpath has changed"):
        checkpoint.load_state_dict(state)
    assert checkpoint.best_model_path == state["best_model_path"]
