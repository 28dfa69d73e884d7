"""A NaN or infinite loss stops training with the step and the loss term named."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch
from lightning.pytorch import Callback, LightningModule, Trainer
from torch import Tensor

from lightning_deepvision.datamodules.synthetic_objects import SyntheticObjectsDataModule
from lightning_deepvision.tasks import ClassificationTask, VerificationTask
from lightning_deepvision.tasks.safety import NonFiniteLossError
from lightning_deepvision.testing.trainers import quiet_trainer


class _PoisonImage(Callback):
    """Write ``value`` into one pixel of the batch at ``batch_idx`` (a corrupt input)."""

    def __init__(self, batch_idx: int, value: float) -> None:
        self.batch_idx, self.value = batch_idx, value

    def on_train_batch_start(
        self, trainer: Trainer, pl_module: LightningModule, batch: Any, batch_idx: int
    ) -> None:
        if batch_idx == self.batch_idx:
            batch["image"][0, 0, 0, 0] = self.value


def _parameters(task: torch.nn.Module) -> dict[str, Tensor]:
    return {k: v.detach().clone() for k, v in task.named_parameters()}


def test_classification_stops_at_the_step_of_a_nan_input(tmp_path: Path) -> None:
    task = ClassificationTask(backbone="alexnet_tiny", input_size=(67, 67))
    data = SyntheticObjectsDataModule(
        train_images_per_class=4,
        eval_images_per_class=1,
        render_size=32,
        resize_size=72,
        image_size=67,
        batch_size=8,
        num_workers=0,
    )
    trainer = quiet_trainer(
        max_steps=4,
        limit_val_batches=0,
        default_root_dir=tmp_path,
        callbacks=[_PoisonImage(batch_idx=2, value=float("nan"))],
    )
    before: dict[str, Tensor] = {}

    class _Snapshot(Callback):
        def on_train_batch_start(self, trainer: Trainer, module: Any, batch: Any, i: int) -> None:
            before.update(_parameters(module))

    trainer.callbacks.append(_Snapshot())
    with pytest.raises(NonFiniteLossError, match=r"global step 2 .*train/loss = nan") as caught:
        trainer.fit(task, datamodule=data)
    assert "ClassificationTask" in str(caught.value)
    assert trainer.global_step == 2
    # Stopped before the backward pass: the weights are those the poisoned step started with.
    for name, value in _parameters(task).items():
        assert torch.isfinite(value).all(), name
        torch.testing.assert_close(value, before[name], rtol=0, atol=0)


def test_verification_names_the_term_that_went_non_finite(
    tmp_path: Path, tiny_faces: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    task = VerificationTask(backbone="deepid2_tiny", flip_test="none", input_size=(55, 47))
    trainer = quiet_trainer(max_steps=3, limit_val_batches=0, default_root_dir=tmp_path)
    calls = {"n": 0}

    def infinite_from_the_second_step(module: Any, embeddings: Tensor, labels: Tensor) -> Tensor:
        calls["n"] += 1
        value = original(embeddings, labels)
        return value + float("inf") if calls["n"] >= 2 else value

    class _Inject(Callback):
        def on_fit_start(self, trainer: Trainer, module: Any) -> None:
            nonlocal original
            verification = module.joint_losses[-1].verification
            original = verification.forward
            monkeypatch.setattr(
                verification,
                "forward",
                lambda e, lab: infinite_from_the_second_step(verification, e, lab),
            )

    original: Callable[[Tensor, Tensor], Tensor] = lambda e, lab: e  # noqa: E731 - set at fit
    trainer.callbacks.append(_Inject())
    with pytest.raises(NonFiniteLossError) as caught:
        trainer.fit(task, datamodule=tiny_faces(input_size=(55, 47)))
    message = str(caught.value)
    assert "global step 1 " in message and "train/verification = inf" in message
    assert "train/identification" not in message  # finite: not blamed
