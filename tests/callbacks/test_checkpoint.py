"""TaskModelCheckpoint / TaskEarlyStopping watch the metric the task declares."""

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
