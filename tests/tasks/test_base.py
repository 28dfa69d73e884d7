"""BaseTask: backbone contract, heads sized from the data, metric clones, optimisers, transfer."""

from pathlib import Path
from typing import Any

import pytest
import torch
from torch import Tensor, nn
from torchmetrics import MeanMetric, MetricCollection

from lightning_deepvision.tasks import BaseTask, VerificationTask
from lightning_deepvision.testing.trainers import quiet_trainer
from tests.tasks.my_verifier import TinyFaceNet


class ProbeTask(BaseTask):
    """A minimal task on the base: a linear head sized by the data module's ``num_classes``."""

    monitor = "val/loss"
    mode = "min"
    data_hparams = {"num_classes": "num_classes"}

    def __init__(
        self,
        backbone: str | nn.Module = "deepid2_tiny",
        num_classes: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(backbone=backbone, **kwargs)

    def build_backbone(self, name: str, **kwargs: Any) -> nn.Module:
        return super().build_backbone(name, num_classes=0, **kwargs)

    def configure_heads(self) -> None:
        self.head = nn.Linear(self.backbone.num_features, int(self.hp.num_classes))

    def configure_metrics(self) -> MetricCollection:
        return MetricCollection({"loss": MeanMetric()})

    def training_step(self, batch: dict[str, Tensor], batch_idx: int) -> Tensor:
        logits = self.head(self.backbone(batch["image"]))
        return nn.functional.cross_entropy(logits, batch["label"])


def test_metric_collection_is_cloned_per_stage() -> None:
    task = ProbeTask(num_classes=3)
    assert {"train_metrics", "val_metrics", "test_metrics"} <= set(dict(task.named_children()))
    assert list(task.val_metrics.keys(keep_base=False)) == ["val/loss"]
    assert task.val_metrics is not task.test_metrics
    verification = VerificationTask(backbone="deepid2_tiny", num_identities=2)
    assert not hasattr(verification, "train_metrics")  # pair metrics: val and test only
    assert set(verification.test_metrics.keys()) >= {"test/accuracy", "test/auc"}


def test_heads_wait_for_the_data_module_then_reload_without_it(tmp_path: Path, tiny_faces) -> None:
    task = ProbeTask()
    assert not task.heads_configured and not hasattr(task, "head")
    trainer = quiet_trainer(fast_dev_run=True, default_root_dir=tmp_path)
    trainer.fit(task, datamodule=tiny_faces())
    assert task.hparams.num_classes == 12 and task.head.out_features == 12
    path = tmp_path / "probe.ckpt"
    trainer.save_checkpoint(path)
    restored = ProbeTask.load_from_checkpoint(path)  # no data module needed
    assert restored.head.out_features == 12
    torch.testing.assert_close(restored.head.weight, task.head.weight)


def test_fit_without_a_size_source_fails_clearly(tmp_path: Path) -> None:
    task = ProbeTask()
    loader = torch.utils.data.DataLoader(
        [{"image": torch.zeros(3, 55, 47), "label": torch.tensor(0)}] * 2, batch_size=2
    )
    with pytest.raises(ValueError, match=r"needs num_classes \(data module attribute"):
        quiet_trainer(fast_dev_run=True, default_root_dir=tmp_path).fit(task, loader)


def test_module_backbone_must_be_passed_again(tmp_path: Path, tiny_faces) -> None:
    task = VerificationTask(backbone=TinyFaceNet(), num_identities=12)
    assert task.hparams.backbone == "module:tests.tasks.my_verifier.TinyFaceNet"
    path = tmp_path / "module.ckpt"
    trainer = quiet_trainer(max_steps=1, limit_val_batches=0, default_root_dir=tmp_path)
    trainer.fit(task, datamodule=tiny_faces())
    trainer.save_checkpoint(path)
    with pytest.raises(ValueError, match=r"pass it again.*load_from_checkpoint\(path, backbone="):
        VerificationTask.load_from_checkpoint(path)
    again = VerificationTask.load_from_checkpoint(path, backbone=TinyFaceNet())
    for name, value in task.state_dict().items():
        if isinstance(value, Tensor):
            torch.testing.assert_close(again.state_dict()[name], value)


@pytest.mark.parametrize(
    ("optimizer", "kind"),
    [("sgd", torch.optim.SGD), ("adam", torch.optim.Adam), ("adamw", torch.optim.AdamW)],
)
@pytest.mark.parametrize(
    ("schedule", "scheduler"),
    [
        ("cosine", torch.optim.lr_scheduler.CosineAnnealingLR),
        ("step", torch.optim.lr_scheduler.StepLR),
        ("plateau", torch.optim.lr_scheduler.ReduceLROnPlateau),
        ("none", None),
    ],
)
def test_optimiser_and_schedule_branches(optimizer, kind, schedule, scheduler) -> None:
    task = ProbeTask(
        num_classes=3,
        optimizer=optimizer,
        lr_schedule=schedule,
        lr=0.1,
        weight_decay=0.01,
        momentum=0.5,
    )
    configured = task.configure_optimizers()
    if scheduler is None:
        assert isinstance(configured, kind)
        return
    assert isinstance(configured, dict)
    assert isinstance(configured["optimizer"], kind)
    assert isinstance(configured["lr_scheduler"]["scheduler"], scheduler)
    if schedule == "plateau":  # per epoch, on the metric the task declares
        assert configured["lr_scheduler"]["interval"] == "epoch"
        assert configured["lr_scheduler"]["monitor"] == "val/loss"
        assert configured["lr_scheduler"]["scheduler"].mode == "min"
    else:
        assert configured["lr_scheduler"]["interval"] == "step"
    groups = configured["optimizer"].param_groups
    assert {g["lr"] for g in groups} == {0.1} and {g["weight_decay"] for g in groups} == {0.01}
    if optimizer == "sgd":
        assert groups[0]["momentum"] == 0.5


def test_unknown_optimiser_or_schedule_is_an_error() -> None:
    with pytest.raises(ValueError, match="optimizer must be"):
        ProbeTask(num_classes=3, optimizer="lbfgs").configure_optimizers()
    with pytest.raises(ValueError, match="lr_schedule must be"):
        ProbeTask(num_classes=3, lr_schedule="poly").configure_optimizers()


def test_a_task_that_drops_the_optimiser_arguments_fails_loudly() -> None:
    task = ProbeTask(num_classes=3)
    del task.hparams["lr"]
    with pytest.raises(TypeError, match=r"no hyperparameters \['lr'\].*\*\*kwargs"):
        task.configure_optimizers()


def test_backbone_lr_scale_gives_the_backbone_its_own_rate() -> None:
    task = ProbeTask(num_classes=3, lr=0.1, backbone_lr_scale=0.25, lr_schedule="none")
    groups = {g["name"]: g for g in task.configure_optimizers().param_groups}
    assert groups["backbone"]["lr"] == pytest.approx(0.025)
    assert groups["heads"]["lr"] == pytest.approx(0.1)
    backbone_ids = {id(p) for p in task.backbone.parameters()}
    assert {id(p) for p in groups["backbone"]["params"]} == backbone_ids
    assert {id(p) for p in groups["heads"]["params"]} == {id(p) for p in task.head.parameters()}
    with pytest.raises(ValueError, match="backbone_lr_scale"):
        ProbeTask(num_classes=3, backbone_lr_scale=-1.0)


def test_frozen_backbone_does_not_change(tmp_path: Path, tiny_faces) -> None:
    task = ProbeTask(freeze_backbone=True, lr=0.5)
    before = {k: v.clone() for k, v in task.backbone.state_dict().items()}
    quiet_trainer(max_steps=3, limit_val_batches=0, default_root_dir=tmp_path).fit(
        task, datamodule=tiny_faces()
    )
    assert not task.backbone.training and task.training  # eval mode kept through fit
    for name, value in task.backbone.state_dict().items():
        torch.testing.assert_close(value, before[name], rtol=0, atol=0)
    groups = task.configure_optimizers()["optimizer"].param_groups
    assert [g["name"] for g in groups] == ["heads"]
    assert task.head.weight.grad is not None  # the head did train


def test_init_from_a_verification_checkpoint_initialises_another_task(
    tmp_path: Path, tiny_faces
) -> None:
    source = VerificationTask(backbone="deepid2_tiny", num_identities=12, flip_test="none")
    trainer = quiet_trainer(max_steps=2, limit_val_batches=0, default_root_dir=tmp_path)
    trainer.fit(source, datamodule=tiny_faces())
    path = tmp_path / "verification.ckpt"
    trainer.save_checkpoint(path)

    target = ProbeTask(init_from=str(path), freeze_backbone=True)
    quiet_trainer(max_steps=1, limit_val_batches=0, default_root_dir=tmp_path).fit(
        target, datamodule=tiny_faces(num_train_identities=5)
    )
    for name, value in source.backbone.state_dict().items():
        torch.testing.assert_close(target.backbone.state_dict()[name], value, rtol=0, atol=0)
    assert target.head.out_features == 5  # its own head, never the identity softmax


def test_init_from_a_plain_state_dict_and_report(tmp_path: Path) -> None:
    from lightning_deepvision.models import create_model
    from lightning_deepvision.tasks import load_matching_weights

    net = create_model("deepid2_tiny", num_classes=7)
    path = tmp_path / "net.pt"
    torch.save(net.state_dict(), path)
    task = ProbeTask(num_classes=3)
    report = load_matching_weights(task, path)
    assert report.loaded and all(name.startswith("backbone.") for name in report.loaded)
    assert any(name.startswith("head.") for name in report.missing)
    for name, value in task.backbone.state_dict().items():
        if f"backbone.{name}" in report.loaded:
            torch.testing.assert_close(value, net.state_dict()[name])
    mismatched = [m for m in report.mismatched if m.startswith("backbone.")]
    assert all("->" in m for m in mismatched)


def test_init_from_refuses_a_file_that_matches_nothing(tmp_path: Path) -> None:
    from lightning_deepvision.tasks import load_matching_weights

    path = tmp_path / "other.pt"
    torch.save({"weight": torch.zeros(2)}, path)
    with pytest.raises(ValueError, match=r"no tensor of .* matches ProbeTask"):
        load_matching_weights(ProbeTask(num_classes=3), path)
    with pytest.raises(FileNotFoundError, match="init_from: no such file"):
        load_matching_weights(ProbeTask(num_classes=3), tmp_path / "missing.ckpt")
