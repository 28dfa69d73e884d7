"""ClassificationTask: heads from the backbone, metrics, multi-crop averaging, transfer, predict."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import Tensor, nn

from lightning_deepvision.datamodules.synthetic_objects import SyntheticObjectsDataModule
from lightning_deepvision.tasks import ClassificationTask, VerificationTask
from lightning_deepvision.testing.trainers import quiet_trainer
from tests.tasks.my_verifier import TinyFaceNet

TINY_OBJECTS: dict[str, Any] = {
    "train_images_per_class": 4,
    "eval_images_per_class": 2,
    "render_size": 32,
    "resize_size": 72,
    "image_size": 67,
    "batch_size": 8,
    "eval_batch_size": 10,
    "num_workers": 0,
}


@pytest.fixture
def tiny_objects() -> Callable[..., SyntheticObjectsDataModule]:
    def make(**overrides: Any) -> SyntheticObjectsDataModule:
        return SyntheticObjectsDataModule(**{**TINY_OBJECTS, **overrides})

    return make


def tiny_task(**kwargs: Any) -> ClassificationTask:
    options: dict[str, Any] = {"backbone": "alexnet_tiny", "input_size": (67, 67)}
    return ClassificationTask(**{**options, **kwargs})


def test_classifier_is_the_backbones_own_taken_out_of_it() -> None:
    task = tiny_task(num_classes=7)
    assert isinstance(task.head, nn.Linear) and task.head.out_features == 7
    assert task.head.in_features == task.backbone.num_features == 64
    # AlexNet's fc8 initialisation (N(0, 0.01), zero bias) and a backbone without classifier.
    assert task.head.weight.std().item() == pytest.approx(0.01, rel=0.2)
    assert torch.count_nonzero(task.head.bias) == 0
    assert isinstance(task.backbone.get_classifier(), nn.Identity)
    images = torch.randn(3, 3, 67, 67)
    task.eval()
    assert task.forward_features(images).shape == (3, 64)
    torch.testing.assert_close(task(images), task.head(task.forward_features(images)))


def test_timm_backbone_and_plain_module_backbones() -> None:
    timm_task = ClassificationTask(backbone="test_resnet", num_classes=4)
    assert timm_task.head.in_features == timm_task.backbone.num_features
    assert timm_task(torch.randn(2, 3, 32, 32)).shape == (2, 4)
    plain = ClassificationTask(backbone=TinyFaceNet(dim=24), num_classes=3, input_size=(55, 47))
    assert isinstance(plain.head, nn.Linear) and plain.head.in_features == 24
    with pytest.raises(ValueError, match="cannot tell the feature width"):
        ClassificationTask(backbone=TinyFaceNet(), num_classes=3)


def test_metrics_are_named_after_the_paper_and_sized_by_the_data(tiny_objects) -> None:
    task = tiny_task()
    assert not task.heads_configured and not hasattr(task, "val_metrics")
    trainer = quiet_trainer(fast_dev_run=True)
    trainer.fit(task, datamodule=tiny_objects())
    assert task.hparams.num_classes == 10 and task.head.out_features == 10
    metrics = trainer.callback_metrics
    assert {"train/loss", "train/accuracy_step", "val/loss", "val/accuracy"} <= set(metrics)
    assert "val/accuracy_top5" in metrics
    assert metrics["val/accuracy"] <= metrics["val/accuracy_top5"]


def test_top_k_accuracy_counts_a_hit_anywhere_in_the_top_k() -> None:
    task = tiny_task(num_classes=6, top_k=3)
    logits = torch.tensor([[0.0, 1.0, 5.0, 3.0, 2.0, -1.0]]).repeat(4, 1)
    labels = torch.tensor([2, 3, 4, 1])  # ranks 1, 2, 3, 4
    task.test_metrics.update(logits, labels)
    results = task.test_metrics.compute()
    assert float(results["test/accuracy"]) == 0.25
    assert float(results["test/accuracy_top3"]) == 0.75
    capped = tiny_task(num_classes=3)  # top-5 of 3 classes: always a hit
    capped.val_metrics.update(torch.randn(5, 3), torch.randint(0, 3, (5,)))
    assert float(capped.val_metrics.compute()["val/accuracy_top5"]) == 1.0


def test_crops_are_averaged_in_probability() -> None:
    task = tiny_task(num_classes=5).eval()
    crops = torch.randn(2, 10, 3, 67, 67)
    log_probs, features = task.classify(crops)
    with torch.no_grad():
        per_crop = torch.stack([task(crops[i]).softmax(-1) for i in range(2)])
        crop_features = torch.stack([task.forward_features(crops[i]) for i in range(2)])
    torch.testing.assert_close(log_probs.exp(), per_crop.mean(dim=1))
    torch.testing.assert_close(features, crop_features.mean(dim=1))
    single, _ = task.classify(crops[:, 0])
    torch.testing.assert_close(single, task(crops[:, 0]).log_softmax(-1))


def test_label_smoothing_reaches_the_training_loss() -> None:
    logits, labels = torch.randn(4, 5), torch.tensor([0, 1, 2, 3])
    smooth = tiny_task(num_classes=5, label_smoothing=0.1).criterion(logits, labels)
    plain = tiny_task(num_classes=5).criterion(logits, labels)
    expected = nn.functional.cross_entropy(logits, labels, label_smoothing=0.1)
    torch.testing.assert_close(smooth, expected)
    assert not torch.allclose(smooth, plain)
    for bad in ({"label_smoothing": 1.0}, {"top_k": 0}, {"retrieval_k": []}):
        with pytest.raises(ValueError):
            tiny_task(num_classes=5, **bad)


def test_paper_optimiser_defaults() -> None:
    task = tiny_task(num_classes=5)
    hp = task.hparams
    assert (hp.optimizer, hp.lr, hp.momentum, hp.weight_decay) == ("sgd", 0.01, 0.9, 5e-4)
    assert hp.lr_schedule == "step"
    assert (ClassificationTask.monitor, ClassificationTask.mode) == ("val/accuracy", "max")


def test_predict_returns_probabilities_and_top_hidden_features(tiny_objects) -> None:
    task = tiny_task(num_classes=10)
    batches = quiet_trainer(fast_dev_run=True).predict(task, datamodule=tiny_objects())
    out = batches[0]
    assert out["probabilities"].shape == (10, 10) and out["features"].shape == (10, 64)
    torch.testing.assert_close(out["probabilities"].sum(dim=1), torch.ones(10))
    assert out["label"].tolist() == list(range(10))


def test_ten_crop_test_and_retrieval_metrics(tiny_objects) -> None:
    task = tiny_task(num_classes=10, retrieval_k=[1, 3])
    trainer = quiet_trainer(fast_dev_run=True)
    data = tiny_objects(ten_crop_test=True, eval_batch_size=20)  # two images a class
    results = trainer.test(task, datamodule=data)[0]
    assert {"test/retrieval_recall_at_1", "test/retrieval_recall_at_3"} <= set(results)
    assert 0.0 <= results["test/retrieval_map"] <= 1.0
    assert results["test/retrieval_recall_at_1"] <= results["test/retrieval_recall_at_3"]
    summary = task.result_summary(trainer.callback_metrics)
    assert summary is not None and "top-1 error" in summary and "top-5 error" in summary
    assert "chance: top-1 90.0 %, top-5 50.0 %" in summary and "retrieval_map" in summary


def test_result_summary_reports_errors() -> None:
    task = tiny_task(num_classes=100)
    metrics = {"val/accuracy": torch.tensor(0.625), "val/accuracy_top5": torch.tensor(0.847)}
    summary = task.result_summary(metrics)
    assert summary == (
        "Classification on val: top-1 error 37.50 %, top-5 error 15.30 % "
        "(chance: top-1 99.0 %, top-5 95.0 %; 100 classes)"
    )
    assert task.result_summary({}) is None


def test_checkpoint_reloads_without_data_and_with_weights_only(
    tmp_path: Path, tiny_objects
) -> None:
    task = tiny_task()
    trainer = quiet_trainer(max_steps=1, limit_val_batches=0, default_root_dir=tmp_path)
    trainer.fit(task, datamodule=tiny_objects())
    path = tmp_path / "classifier.ckpt"
    trainer.save_checkpoint(path)
    torch.load(path, weights_only=True)
    restored = ClassificationTask.load_from_checkpoint(path)
    assert restored.head.out_features == 10
    for name, value in task.state_dict().items():
        torch.testing.assert_close(restored.state_dict()[name], value)


def test_linear_probe_keeps_the_backbone_fixed(tmp_path: Path, tiny_objects) -> None:
    task = tiny_task(freeze_backbone=True, lr=0.5)
    before = {k: v.clone() for k, v in task.backbone.state_dict().items()}
    quiet_trainer(max_steps=3, limit_val_batches=0, default_root_dir=tmp_path).fit(
        task, datamodule=tiny_objects()
    )
    assert not task.backbone.training  # no dropout in the frozen fc6/fc7
    for name, value in task.backbone.state_dict().items():
        torch.testing.assert_close(value, before[name], rtol=0, atol=0)
    groups = task.configure_optimizers()["optimizer"].param_groups
    assert [g["name"] for g in groups] == ["heads"]
    assert {id(p) for p in groups[0]["params"]} == {id(p) for p in task.head.parameters()}


def test_a_verification_checkpoint_initialises_the_backbone(
    tmp_path: Path, tiny_faces, tiny_objects
) -> None:
    # "Train on A, freeze, classify B": a face-verification trunk, then objects.
    size = (55, 55)
    source = VerificationTask(
        backbone="deepid2_tiny", num_identities=12, flip_test="none", input_size=size
    )
    trainer = quiet_trainer(max_steps=2, limit_val_batches=0, default_root_dir=tmp_path)
    trainer.fit(source, datamodule=tiny_faces(input_size=size))
    path = tmp_path / "verification.ckpt"
    trainer.save_checkpoint(path)

    target = ClassificationTask(
        backbone="deepid2_tiny", input_size=size, init_from=str(path), freeze_backbone=True
    )
    quiet_trainer(max_steps=1, limit_val_batches=0, default_root_dir=tmp_path).fit(
        target, datamodule=tiny_objects(resize_size=64, image_size=55)
    )
    for name, value in source.backbone.state_dict().items():
        torch.testing.assert_close(target.backbone.state_dict()[name], value, rtol=0, atol=0)
    assert target.head.out_features == 10  # its own classifier, never the identity softmax


def test_forward_features_of_a_training_batch_have_gradients() -> None:
    task = tiny_task(num_classes=4).train()
    loss = task.training_step(
        {"image": torch.randn(4, 3, 67, 67), "label": torch.tensor([0, 1, 2, 3])}, 0
    )
    assert isinstance(loss, Tensor) and loss.requires_grad
    assert math.isfinite(float(loss))
