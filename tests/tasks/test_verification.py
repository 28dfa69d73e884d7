from pathlib import Path

import pytest
import torch
from lightning.pytorch import Callback, Trainer, seed_everything
from lightning.pytorch.loggers import CSVLogger

from lightning_deepvision.tasks import VerificationTask
from lightning_deepvision.testing.trainers import quiet_trainer


def cpu_trainer(tmp_path: Path, **overrides) -> Trainer:
    options = {"logger": CSVLogger(tmp_path), "default_root_dir": tmp_path, **overrides}
    return quiet_trainer(enable_checkpointing=True, **options)


def test_fast_dev_run_all_stages_deepid2plus_tiny(tmp_path: Path, tiny_faces) -> None:
    model = VerificationTask(backbone="deepid2plus_tiny")
    data = tiny_faces()
    trainer = cpu_trainer(tmp_path, fast_dev_run=True)
    trainer.fit(model, datamodule=data)
    assert model.hparams.num_identities == 12
    assert len(model.identity_heads) == 4  # FC-1 … FC-4 each supervised
    for key in ("train/loss", "train/identification", "train/verification", "train/margin"):
        assert key in trainer.callback_metrics
    trainer.validate(model, datamodule=data)
    assert {
        "val/accuracy",
        "val/accuracy_std",
        "val/auc",
        "val/tar_at_far_1e-2",
    } <= trainer.callback_metrics.keys()
    trainer.test(model, datamodule=data)
    assert 0.0 <= trainer.callback_metrics["test/accuracy"].item() <= 1.0
    predictions = trainer.predict(model, datamodule=data)
    first = predictions[0]
    dim = 2 * model.level_features[-1]  # flip_test="concat"
    assert first["embedding1"].shape == (8, dim)
    assert first["score"].shape == (8,)
    assert set(first) >= {"embedding2", "same", "fold", "index"}


def test_monitor_and_mode() -> None:
    assert VerificationTask.monitor == "val/accuracy"
    assert VerificationTask.mode == "max"


def test_checkpoint_is_weights_only_and_restores(tmp_path: Path, tiny_faces) -> None:
    seed_everything(0)
    model = VerificationTask(backbone="deepid2_tiny", flip_test="none")
    data = tiny_faces()
    trainer = cpu_trainer(tmp_path, max_steps=2, limit_val_batches=1)
    trainer.fit(model, datamodule=data)
    path = tmp_path / "model.ckpt"
    trainer.save_checkpoint(path)
    checkpoint = torch.load(path, weights_only=True)
    assert checkpoint["hyper_parameters"]["num_identities"] == 12
    restored = VerificationTask.load_from_checkpoint(path)
    assert restored.identity_heads is not None
    model.eval()
    restored.eval()
    images = torch.randn(3, 3, 55, 47)
    torch.testing.assert_close(restored(images), model(images))
    margin = model.joint_losses[-1].verification.margin
    torch.testing.assert_close(restored.joint_losses[-1].verification.margin, margin)


def test_module_backbone_is_left_out_of_hparams(tmp_path: Path, tiny_faces) -> None:
    from tests.tasks.my_verifier import TinyFaceNet

    model = VerificationTask(backbone=TinyFaceNet(dim=24), num_identities=5, flip_test="mean")
    assert model.hparams.backbone == "module:tests.tasks.my_verifier.TinyFaceNet"
    assert model.level_features == [24]
    trainer = cpu_trainer(tmp_path, max_steps=1, limit_val_batches=0)
    trainer.fit(model, datamodule=tiny_faces(num_train_identities=5))
    path = tmp_path / "m.ckpt"
    trainer.save_checkpoint(path)
    torch.load(path, weights_only=True)
    with pytest.raises(ValueError, match="pass it again"):
        VerificationTask.load_from_checkpoint(path)
    restored = VerificationTask.load_from_checkpoint(path, backbone=TinyFaceNet(dim=24))
    assert restored.level_features == [24]


def test_level_weights_must_match_levels() -> None:
    with pytest.raises(ValueError, match="level_weights"):
        VerificationTask(backbone="deepid2plus_tiny", level_weights=[1.0, 1.0])


def _train_batch(tiny_faces, **overrides) -> dict:
    data = tiny_faces(**overrides)
    data.setup("fit")
    return next(iter(data.train_dataloader()))


def test_level_weights_scale_the_loss(tiny_faces) -> None:
    batch = _train_batch(tiny_faces)
    model = VerificationTask(
        backbone="deepid2plus_tiny", num_identities=12, level_weights=[0.0, 0.0, 0.0, 2.0]
    )
    model.eval()  # no dropout, no margin updates: both computations see the same values
    with torch.no_grad():
        total = model.training_step(batch, 0)
        final = model.forward_levels(batch["image"])[-1]
        expected = model.joint_losses[-1](final, model.identity_heads[-1](final), batch["label"])[
            "loss"
        ]
    torch.testing.assert_close(total, 2.0 * expected)


@pytest.mark.parametrize("scoring", ["l2", "hamming", "joint_bayesian"])
def test_scoring_methods_validate(tmp_path: Path, scoring: str, tiny_faces) -> None:
    model = VerificationTask(backbone="deepid2_tiny", num_identities=12, scoring=scoring)
    trainer = cpu_trainer(tmp_path, limit_val_batches=2)
    metrics = trainer.validate(model, datamodule=tiny_faces())[0]
    assert 0.0 <= metrics["val/accuracy"] <= 1.0
    if scoring == "joint_bayesian":
        assert model.scorer.is_fitted


def test_training_reduces_the_loss(tiny_faces) -> None:
    seed_everything(0)
    batch = _train_batch(
        tiny_faces,
        num_train_identities=6,
        images_per_train_identity=6,
        identities_per_batch=6,
        images_per_identity=4,
    )
    model = VerificationTask(backbone="deepid2_tiny", num_identities=6, flip_test="none")
    optimizer = torch.optim.SGD(model.parameters(), lr=0.02, momentum=0.9)
    model.train()
    losses = []
    for _ in range(60):
        loss = model.training_step(batch, 0)
        losses.append(loss.item())
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert losses[-1] < 0.5 * losses[0]


def test_verification_warmup_ramps_lambda(tmp_path: Path, tiny_faces) -> None:
    model = VerificationTask(
        backbone="deepid2_tiny", verification_weight=0.05, verification_warmup_steps=4
    )
    trainer = cpu_trainer(tmp_path, max_steps=3, limit_val_batches=0)
    seen = []

    class Spy(Callback):
        def on_train_batch_end(self, trainer, pl_module, *args) -> None:
            seen.append(float(pl_module.joint_losses[-1].verification_weight))

    trainer.callbacks.append(Spy())
    trainer.fit(model, datamodule=tiny_faces())
    assert seen == pytest.approx([0.0, 0.0125, 0.025])
    assert VerificationTask(backbone="deepid2_tiny").current_verification_weight() == 0.05


def test_cosine_schedule_spans_max_steps(tmp_path: Path, tiny_faces) -> None:
    model = VerificationTask(backbone="deepid2_tiny", lr=0.01)
    trainer = cpu_trainer(tmp_path, max_steps=4, limit_val_batches=0)
    trainer.fit(model, datamodule=tiny_faces())
    scheduler = trainer.lr_scheduler_configs[0]
    assert scheduler.interval == "step"
    assert scheduler.scheduler.T_max == 4
    # After 4 of 4 steps the cosine has reached its minimum instead of restarting per epoch.
    assert trainer.optimizers[0].param_groups[0]["lr"] == pytest.approx(0.0, abs=1e-9)


def test_identity_heads_start_uniform() -> None:
    # Random heads would reward shrinking every embedding (random logits only add loss).
    model = VerificationTask(backbone="deepid2plus_tiny", num_identities=7, flip_test="none")
    images = torch.randn(4, 3, 55, 47)
    for embedding, head in zip(model.forward_levels(images), model.identity_heads, strict=True):
        assert torch.equal(head(embedding), torch.zeros(4, 7))


def test_balance_pairs_reaches_every_level_loss() -> None:
    model = VerificationTask(backbone="deepid2plus_tiny", num_identities=3, balance_pairs=True)
    assert all(loss.verification.balance_pairs for loss in model.joint_losses)
    assert not any(
        loss.verification.balance_pairs
        for loss in VerificationTask(backbone="deepid2plus_tiny", num_identities=3).joint_losses
    )
