"""A run killed mid-epoch (SIGKILL) and resumed with ``ckpt_path="last"`` ends as if never killed.

The test runs this file as a script (``python test_resume.py <out> [--kill-at N | --resume]``):
a tiny AlexNet (dropout on) on SyntheticObjects (random crops and flips), ``deterministic=True``,
a CSV logger and a :class:`ResumeCheckpoint` every few steps. Three processes: an
uninterrupted run; a run that stops at a step past a checkpoint, mid-epoch, and is killed by
the test with SIGKILL (no handler runs, as when a machine fails); and its resumption. The
resumed run's final weights and metrics must equal the uninterrupted run's exactly: the same
batches in the same order (the loader's position), the same dropout masks and crops (the
random state), the same optimiser and schedule state.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

STEPS_PER_EPOCH = 6  # 36 images / batch 6
EVERY = 4  # a checkpoint at steps 4, 8 (epoch 1, mid-epoch), ...
KILL_AT = 10  # epoch 1, batch 4: two steps past the step-8 checkpoint
MAX_EPOCHS = 2


def _run(out: Path, kill_at: int | None, resume: bool) -> None:
    """Fit (or resume) the tiny run and write its final metrics and weights under ``out``."""
    import torch
    from lightning.pytorch import Callback, LightningModule, Trainer, seed_everything
    from lightning.pytorch.loggers import CSVLogger

    from lightning_deepvision.callbacks import ResumeCheckpoint
    from lightning_deepvision.datamodules.synthetic_objects import SyntheticObjectsDataModule
    from lightning_deepvision.tasks import ClassificationTask

    class StopAt(Callback):
        """Signal the test at step ``kill_at`` and wait for its SIGKILL."""

        def on_train_batch_start(
            self, trainer: Trainer, pl_module: LightningModule, batch: Any, batch_idx: int
        ) -> None:
            if kill_at is not None and trainer.global_step == kill_at:
                (out / "waiting").write_text(str(os.getpid()))
                time.sleep(600)

    torch.set_num_threads(1)
    seed_everything(0, workers=True)
    data = SyntheticObjectsDataModule(
        classes=["disc", "bullseye", "square", "triangle", "cross", "stripes"],
        train_images_per_class=6,
        eval_images_per_class=3,
        render_size=32,
        resize_size=72,
        image_size=67,
        batch_size=6,
        eval_batch_size=9,
        num_workers=0,
    )
    task = ClassificationTask(
        backbone="alexnet_tiny", input_size=(67, 67), lr=0.02, lr_schedule="cosine"
    )
    trainer = Trainer(
        accelerator="cpu",
        devices=1,
        max_epochs=MAX_EPOCHS,
        deterministic=True,
        logger=CSVLogger(out, name="logs", version=0),
        callbacks=[
            ResumeCheckpoint(every_n_train_steps=EVERY, dirpath=str(out / "resume")),
            StopAt(),
        ],
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        log_every_n_steps=1,
    )
    trainer.fit(task, datamodule=data, ckpt_path="last" if resume else None)
    # Epoch-level training metrics accumulate over the epoch in memory, which a checkpoint
    # does not hold; the validation metrics and the weights are what must be equal.
    metrics = {k: float(v) for k, v in trainer.callback_metrics.items() if k.startswith("val/")}
    (out / "metrics.json").write_text(json.dumps({"metrics": metrics, "step": trainer.global_step}))
    torch.save(task.state_dict(), out / "weights.pt")


def _start(out: Path, *args: str) -> subprocess.Popen[bytes]:
    root = Path(__file__).parents[2]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(root)}
    return subprocess.Popen(
        [sys.executable, __file__, str(out), *args],
        cwd=out,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )


def _finish(process: subprocess.Popen[bytes], timeout: float = 300) -> tuple[int, str]:
    output, _ = process.communicate(timeout=timeout)
    return process.returncode, output.decode(errors="replace")


def test_sigkill_mid_epoch_then_resume_last_equals_an_uninterrupted_run(tmp_path: Path) -> None:
    import torch

    whole, broken = tmp_path / "whole", tmp_path / "broken"
    whole.mkdir()
    broken.mkdir()
    uninterrupted = _start(whole)
    killed = _start(broken, "--kill-at", str(KILL_AT))
    deadline = time.monotonic() + 300
    while not (broken / "waiting").exists():
        assert killed.poll() is None, _finish(killed)[1][-3000:]
        assert time.monotonic() < deadline, "the run never reached the step to kill it at"
        time.sleep(0.2)
    os.kill(killed.pid, signal.SIGKILL)
    code, _ = _finish(killed)
    assert code == -signal.SIGKILL
    saved = torch.load(broken / "resume" / "last-step.ckpt", weights_only=True)
    # The checkpoint resumed from is mid-epoch, and steps after it were lost.
    assert saved["global_step"] == EVERY * (KILL_AT // EVERY)
    assert saved["global_step"] % STEPS_PER_EPOCH != 0
    assert not (broken / "metrics.json").exists()

    code, output = _finish(_start(broken, "--resume"))
    assert code == 0, output[-3000:]
    assert "not resumable" not in output  # Lightning's warning for a loader without state
    code, output = _finish(uninterrupted)
    assert code == 0, output[-3000:]

    resumed = json.loads((broken / "metrics.json").read_text())
    reference = json.loads((whole / "metrics.json").read_text())
    assert resumed["step"] == reference["step"] == STEPS_PER_EPOCH * MAX_EPOCHS
    assert {"val/accuracy", "val/loss"} <= reference["metrics"].keys()
    assert resumed["metrics"] == reference["metrics"]
    weights = torch.load(broken / "weights.pt", weights_only=True)
    expected = torch.load(whole / "weights.pt", weights_only=True)
    assert weights.keys() == expected.keys()
    for name, value in expected.items():
        assert torch.equal(weights[name], value), name


def test_resume_checkpoint_state_round_trips_the_random_state() -> None:
    import torch

    from lightning_deepvision.callbacks import ResumeCheckpoint

    callback = ResumeCheckpoint(every_n_train_steps=3)
    assert callback.save_top_k == 0 and callback.save_last is True
    torch.manual_seed(1)
    state = callback.state_dict()
    expected = torch.rand(4)
    torch.rand(10)  # move on
    callback.load_state_dict(state)
    trainer = SimpleNamespace(fit_loop=None)
    callback.on_train_start(trainer, None)  # type: ignore[arg-type]
    assert torch.equal(torch.rand(4), expected)
    with pytest.raises(ValueError, match="every_n_train_steps"):
        ResumeCheckpoint(every_n_train_steps=0)


def test_resume_checkpoint_keeps_its_defaults_through_the_cli_parser(tmp_path: Path) -> None:
    # LightningCLI passes every argument of a callback explicitly, its declared defaults too.
    from jsonargparse import ArgumentParser

    from lightning_deepvision.callbacks import ResumeCheckpoint

    parser = ArgumentParser()
    parser.add_class_arguments(ResumeCheckpoint, "resume")
    callback = parser.instantiate_classes(parser.parse_args([])).resume
    assert callback.save_top_k == 0 and callback.save_last is True
    assert callback._every_n_train_steps == 100
    # ckpt_path="last" also looks in the run's other version directories (the CLI's layout).
    old = tmp_path / "run" / "version_0" / "checkpoints"
    old.mkdir(parents=True)
    (old / "last-step.ckpt").write_bytes(b"")
    (old / "last.ckpt").write_bytes(b"")
    callback.dirpath = str(tmp_path / "run" / "version_1" / "checkpoints")
    found = callback._find_last_checkpoints(SimpleNamespace())  # type: ignore[arg-type]
    assert found == {str(old / "last-step.ckpt")}


if __name__ == "__main__":
    arguments = sys.argv[1:]
    target = Path(arguments[0])
    at = int(arguments[arguments.index("--kill-at") + 1]) if "--kill-at" in arguments else None
    _run(target, at, "--resume" in arguments)
