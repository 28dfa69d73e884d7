"""AttributesTask: loss, metrics by name, the table, predictions, LFWA subsets, transfer."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

from lightning_deepvision.datamodules.synthetic_attributes import SyntheticAttributesDataModule
from lightning_deepvision.datasets.synthetic import ATTRIBUTE_NAMES
from lightning_deepvision.tasks import VerificationTask
from lightning_deepvision.tasks.attributes import AttributesTask
from lightning_deepvision.testing.trainers import quiet_trainer

TINY = {
    "num_train_identities": 6,
    "images_per_train_identity": 4,
    "num_eval_identities": 4,
    "images_per_eval_identity": 3,
    "batch_size": 8,
    "eval_batch_size": 12,
    "num_workers": 0,
}


def tiny_data(**overrides) -> SyntheticAttributesDataModule:
    return SyntheticAttributesDataModule(**{**TINY, **overrides})


def test_sizes_and_names_come_from_the_data_module() -> None:
    task = AttributesTask(backbone="anet_tiny")
    data = tiny_data()
    trainer = quiet_trainer(fast_dev_run=True)
    trainer.fit(task, data)
    assert task.hparams.num_attributes == len(ATTRIBUTE_NAMES)
    assert task.attribute_names == list(ATTRIBUTE_NAMES)
    assert task.head.out_features == len(ATTRIBUTE_NAMES)
    metrics = trainer.callback_metrics
    assert {"val/mean_accuracy", "val/balanced_accuracy", "val/majority_accuracy"} <= set(metrics)
    assert {f"val/accuracy/{n}" for n in ATTRIBUTE_NAMES} <= set(metrics)
    mean = sum(float(metrics[f"val/accuracy/{n}"]) for n in ATTRIBUTE_NAMES) / 12
    assert float(metrics["val/mean_accuracy"]) == pytest.approx(mean, abs=1e-5)


def test_test_prints_the_table_and_predict_keys_by_name(caplog: pytest.LogCaptureFixture) -> None:
    task = AttributesTask(backbone="anet_tiny", attribute_names=list(ATTRIBUTE_NAMES))
    trainer = quiet_trainer(fast_dev_run=True)
    with caplog.at_level("INFO"):
        trainer.test(task, tiny_data())
    assert "Heavy_Lighting" in caplog.text and "majority class" in caplog.text
    summary = task.result_summary(trainer.callback_metrics)
    assert summary is not None and "mean accuracy" in summary and "chance 0.5" in summary
    (batch,) = trainer.predict(task, tiny_data())
    assert set(batch["probabilities"]) == set(ATTRIBUTE_NAMES)
    probabilities = batch["probabilities"]["Male"]
    assert probabilities.shape == (12,) and ((probabilities >= 0) & (probabilities <= 1)).all()
    assert batch["present"].shape == (12, 12)


def test_loss_is_bce_with_positive_weights() -> None:
    weights = [float(i + 1) for i in range(3)]
    task = AttributesTask(
        backbone=nn.Sequential(nn.Flatten(), nn.Linear(12, 4)),
        num_attributes=3,
        input_size=(2, 2),
        pos_weight=weights,
    )
    images, targets = torch.randn(5, 3, 2, 2), torch.randint(0, 2, (5, 3))
    logits = task(images)
    expected = nn.functional.binary_cross_entropy_with_logits(
        logits, targets.float(), pos_weight=torch.tensor(weights)
    )
    torch.testing.assert_close(task._loss(logits, targets), expected)
    with pytest.raises(ValueError, match="pos_weight has 2 values"):
        AttributesTask(backbone="anet_tiny", num_attributes=3, pos_weight=[1.0, 2.0])


def test_balance_positives_reads_the_training_rates() -> None:
    task = AttributesTask(backbone="anet_tiny", balance_positives=True)
    data = tiny_data()
    quiet_trainer(fast_dev_run=True).fit(task, data)
    rates = data.attribute_positive_rates().clamp(1e-3, 1 - 1e-3)
    torch.testing.assert_close(task.pos_weight, (1 - rates) / rates)


class _Subset(SyntheticAttributesDataModule):
    """Only some of the attributes, in another order (as LFW's shared with CelebA)."""

    names = ["Smiling", "Male"]

    @property
    def attribute_names(self) -> list[str]:
        return self.names

    @property
    def num_attributes(self) -> int:
        return 2

    def build_dataset(self, stage: str):
        dataset = super().build_dataset(stage)
        columns = [ATTRIBUTE_NAMES.index(n) for n in self.names]
        dataset.attributes = dataset.attributes[:, columns]
        return dataset


def test_evaluation_on_a_subset_of_attributes_matches_by_name() -> None:
    task = AttributesTask(backbone="anet_tiny", attribute_names=list(ATTRIBUTE_NAMES))
    trainer = quiet_trainer(fast_dev_run=True)
    trainer.test(task, _Subset(**TINY))
    metrics = trainer.callback_metrics
    assert {"test/accuracy/Smiling", "test/accuracy/Male"} <= set(metrics)
    assert "test/accuracy/Bald" not in metrics
    # The same images scored on all 12: the two columns agree.
    full = quiet_trainer(fast_dev_run=True)
    full.test(task, tiny_data())
    for name in _Subset.names:
        assert float(full.callback_metrics[f"test/accuracy/{name}"]) == pytest.approx(
            float(metrics[f"test/accuracy/{name}"])
        )


def test_transfer_from_a_verification_checkpoint(tiny_faces, tmp_path: Path) -> None:
    source = VerificationTask(backbone="deepid2_tiny", input_size=(55, 47))
    faces = tiny_faces(input_size=(55, 47))
    trainer = quiet_trainer(max_steps=2, limit_val_batches=1, num_sanity_val_steps=0)
    trainer.fit(source, faces)
    path = tmp_path / "verification.ckpt"
    trainer.save_checkpoint(path)
    original = source.backbone.state_dict()
    for freeze in (True, False):
        task = AttributesTask(
            backbone="deepid2_tiny",
            input_size=(55, 47),
            init_from=str(path),
            freeze_backbone=freeze,
            lr=0.05,
        )
        quiet_trainer(max_steps=3, limit_val_batches=1, num_sanity_val_steps=0).fit(
            task, tiny_data(input_size=(55, 47))
        )
        moved = [not torch.equal(v, task.backbone.state_dict()[k]) for k, v in original.items()]
        if freeze:  # a linear probe on the DeepID2 features: the backbone is the checkpoint's
            assert not any(moved)
        else:  # fine-tuned from it
            assert any(moved)
        assert task.head.in_features == source.backbone.num_features
