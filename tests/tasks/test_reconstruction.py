"""ReconstructionTask with FIP and MVP: losses, training, metrics, checkpoints, pictures."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from PIL import Image

from lightning_deepvision.callbacks import ReconstructionGridLogger
from lightning_deepvision.datamodules import SyntheticMultiViewDataModule
from lightning_deepvision.tasks import ReconstructionTask
from lightning_deepvision.testing import quiet_trainer


def tiny_data(target_view: str = "canonical") -> SyntheticMultiViewDataModule:
    return SyntheticMultiViewDataModule(
        train_identities=4,
        eval_identities=3,
        images_per_identity=7,
        render_size=32,
        image_size=(16, 16),
        target_view=target_view,  # type: ignore[arg-type]
        lda_reference_images=14,
        batch_size=7,
        eval_batch_size=64,
        num_workers=0,
    )


def tiny_task(backbone: str, **kwargs) -> ReconstructionTask:
    return ReconstructionTask(backbone=backbone, input_size=(16, 16), **kwargs)


def fixed_batch(views: bool) -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    return {
        "image": torch.rand(8, 1, 16, 16, generator=generator),
        "target": torch.rand(8, 1, 16, 16, generator=generator),
        "identity": torch.arange(8),
        "yaw": torch.tensor([-45.0, -30, -15, 0, 15, 30, 45, 0]),
        "target_yaw": torch.tensor([0.0, 15, 30, 45, -45, -30, -15, 0])
        if views
        else torch.zeros(8),
    }


@pytest.mark.parametrize("backbone", ["fip_tiny", "mvp_tiny"])
def test_training_reduces_the_reconstruction_loss(backbone: str) -> None:
    torch.manual_seed(0)
    task = tiny_task(backbone)
    batch = fixed_batch(views=backbone.startswith("mvp"))
    optimizer = torch.optim.Adam(task.parameters(), lr=3e-3)
    first = None
    for _ in range(40):
        losses = task.losses(batch, task(batch["image"], task.target_views(batch)))
        optimizer.zero_grad()
        losses["loss"].backward()
        optimizer.step()
        first = first if first is not None else float(losses["reconstruction"])
    assert float(losses["reconstruction"]) < 0.5 * first


def test_mvp_adds_the_weighted_view_loss() -> None:
    task = tiny_task("mvp_tiny", view_loss_weight=0.5)
    batch = fixed_batch(views=True)
    views = task.target_views(batch)
    assert views is not None and views.tolist() == [3, 4, 5, 6, 0, 1, 2, 3]
    out = task(batch["image"], views)
    losses = task.losses(batch, out)
    expected = torch.nn.functional.cross_entropy(
        out["view_logits"], task.backbone.view_index(batch["yaw"])
    )
    torch.testing.assert_close(losses["view"], expected)
    torch.testing.assert_close(losses["loss"], losses["reconstruction"] + 0.5 * expected)
    assert tiny_task("fip_tiny").target_views(batch) is None


@pytest.mark.parametrize("backbone", ["fip_tiny", "mvp_tiny"])
def test_fit_logs_identification_per_pose_and_pictures(backbone: str, tmp_path: Path) -> None:
    task = tiny_task(backbone)
    data = tiny_data("random" if backbone.startswith("mvp") else "canonical")
    trainer = quiet_trainer(
        max_epochs=1,
        limit_train_batches=2,
        default_root_dir=tmp_path,
        logger=True,
        callbacks=[ReconstructionGridLogger(num_images=3, size=16)],
    )
    trainer.fit(task, data)
    metrics = trainer.callback_metrics
    for prefix in ("", "lda_", "pixels_", "pixels_lda_"):
        for pose in (-45, -30, -15, 15, 30, 45):
            assert f"val/{prefix}identification_{pose}" in metrics
        assert 0 <= float(metrics[f"val/{prefix}identification_mean"]) <= 1
    assert {"val/psnr", "val/ssim", "val/reconstruction_mse", "val/loss"} <= set(metrics)
    summary = task.result_summary(metrics)
    assert summary is not None and "raw pixels" in summary and "PSNR" in summary
    log_dir = Path(trainer.log_dir)
    grid = Image.open(log_dir / "val_reconstructions.png")
    # Three rows of input | reconstruction | ground truth, 16-pixel cells, 2-pixel padding.
    assert grid.size == (3 * 18 + 2, 3 * 18 + 2)
    strip = log_dir / "val_reconstructions_views.png"
    if backbone.startswith("mvp"):
        assert Image.open(strip).size == (8 * 18 + 2, 3 * 18 + 2)  # input + seven views
    else:
        assert not strip.exists()


def test_checkpoint_reloads_with_weights_only(tmp_path: Path) -> None:
    task = tiny_task("mvp_tiny", lda=True)
    trainer = quiet_trainer(max_epochs=1, limit_train_batches=1, limit_val_batches=0)
    trainer.fit(task, tiny_data("random"))
    path = tmp_path / "task.ckpt"
    trainer.save_checkpoint(path)
    checkpoint = torch.load(path, weights_only=True)
    assert checkpoint["hyper_parameters"]["backbone"] == "mvp_tiny"
    again = ReconstructionTask.load_from_checkpoint(path)
    for (name, a), b in zip(task.state_dict().items(), again.state_dict().values(), strict=True):
        torch.testing.assert_close(a, b, msg=name)
    # With lda the headline identification goes through the LDA: no separate LDA row.
    assert set(again.val_identification) == {"features", "pixels", "pixels_lda"}


def test_predict_returns_features_and_reconstructions() -> None:
    task = tiny_task("fip_tiny")
    trainer = quiet_trainer()
    (batch, *_) = trainer.predict(task, datamodule=tiny_data())
    assert batch["features"].shape == (21, task.backbone.num_features)
    assert batch["reconstruction"].shape == (21, 1, 16, 16)
    assert batch["identity"].shape == (21,) and "view_probabilities" not in batch


def test_rejects_a_negative_view_loss_weight() -> None:
    with pytest.raises(ValueError, match="view_loss_weight"):
        tiny_task("mvp_tiny", view_loss_weight=-1.0)


def test_network_rows_use_the_features_and_baselines_the_pixels() -> None:
    task = tiny_task("fip_tiny")
    widths: dict[str, int] = {}
    for name, metric in task.val_identification.items():

        def spy(features, *args, _name=name, _update=metric.update, **kwargs):
            widths[_name] = features.shape[1]
            return _update(features, *args, **kwargs)

        metric.update = spy
    quiet_trainer(limit_val_batches=1).validate(task, tiny_data())
    features = task.backbone.num_features
    assert widths == {"features": features, "lda": features, "pixels": 256, "pixels_lda": 256}


def test_grid_pictures_rows_spread_over_the_batch() -> None:
    logger = ReconstructionGridLogger(num_images=3)
    outputs = {
        "image": torch.arange(10.0).view(10, 1, 1, 1),
        "reconstruction": torch.zeros(10, 1, 1, 1),
        "target": torch.zeros(10, 1, 1, 1),
        "reference": torch.tensor([False] * 8 + [True] * 2),
    }
    logger._keep(outputs, 0)
    assert logger._kept is not None
    # Evaluated rows 0..7 only (no reference row), first to last: different people.
    assert logger._kept["image"].flatten().tolist() == [0.0, 4.0, 7.0]
