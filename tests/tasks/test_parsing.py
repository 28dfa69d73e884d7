"""ParsingTask on tiny synthetic, HELEN and LFW Part Labels data: losses, scores, outputs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from lightning_deepvision.callbacks import ParsingOverlayLogger
from lightning_deepvision.datamodules import (
    HelenDataModule,
    LFWPartsDataModule,
    SyntheticParsingDataModule,
)
from lightning_deepvision.datasets.face_parts import HELEN_LABELS
from lightning_deepvision.tasks import ParsingTask
from lightning_deepvision.testing import quiet_trainer, write_helen, write_lfw_parts

TINY = {"train_images": 8, "eval_images": 4, "images_per_identity": 2, "image_size": (32, 28)}
LOADER = {"batch_size": 4, "eval_batch_size": 4, "num_workers": 0}


def synthetic() -> SyntheticParsingDataModule:
    return SyntheticParsingDataModule(**TINY, **LOADER)  # type: ignore[arg-type]


def test_fit_logs_scores_under_class_names_and_both_baselines(tmp_path: Path) -> None:
    task = ParsingTask(backbone="cross_modality_parsing_tiny")
    trainer = quiet_trainer(
        max_epochs=1, limit_train_batches=2, limit_val_batches=1, default_root_dir=tmp_path
    )
    trainer.fit(task, synthetic())
    metrics = trainer.callback_metrics
    assert task.hparams.num_classes == 11 and task.hparams.class_names == list(HELEN_LABELS)
    names = {f"val/{k}_{n}" for n in HELEN_LABELS for k in ("iou", "f1")}
    assert names | {"val/miou", "val/f1_overall", "val/pixel_accuracy", "train/miou"} <= set(
        metrics
    )
    assert {"val/miou_background_baseline", "val/miou_majority_baseline"} <= set(metrics)
    # All-background: IoU of background = its share of pixels, over the classes present.
    assert 0.0 < float(metrics["val/miou_background_baseline"]) < 0.1
    summary = task.result_summary(metrics)
    assert (
        summary is not None and "all-background mIoU" in summary and "per-pixel majority" in summary
    )


def test_predict_returns_label_maps_and_checkpoint_reloads(tmp_path: Path) -> None:
    task = ParsingTask(backbone="cross_modality_parsing_tiny", num_classes=11)
    data = synthetic()
    trainer = quiet_trainer(fast_dev_run=True, default_root_dir=tmp_path)
    trainer.fit(task, data)
    (batch, *_) = trainer.predict(task, datamodule=data)
    assert batch["mask"].shape == (4, 32, 28) and batch["mask"].dtype == torch.int64
    assert batch["index"].tolist() == [0, 1, 2, 3]
    path = tmp_path / "parsing.ckpt"
    trainer.save_checkpoint(path)
    torch.load(path, weights_only=True)
    restored = ParsingTask.load_from_checkpoint(path)
    images = torch.randn(2, 3, 32, 28)
    task.eval()
    restored.eval()
    torch.testing.assert_close(restored.predict_masks(images), task.predict_masks(images))
    assert restored.class_names == list(HELEN_LABELS)


def test_shape_prior_trains_with_tied_codes_and_changes_predictions(tmp_path: Path) -> None:
    task = ParsingTask(
        backbone="cross_modality_parsing_tiny", shape_prior=True, num_classes=11, prior_mix=1.0
    )
    trainer = quiet_trainer(max_steps=2, limit_val_batches=1, default_root_dir=tmp_path)
    trainer.fit(task, synthetic())
    assert {"train/shape_prior_loss", "train/code_loss"} <= set(trainer.callback_metrics)
    assert task.shape_prior_net is not None
    images = torch.randn(2, 3, 32, 28)
    task.eval()
    with torch.no_grad():
        plain = task(images).log_softmax(1)
        mixed = task.log_probabilities(images)
    # prior_mix=1: the prediction is the prior's reconstruction of the network's map.
    torch.testing.assert_close(mixed, task.shape_prior_net(plain.exp()).log_softmax(1))


def test_image_autoencoder_pretraining_comes_first(tmp_path: Path) -> None:
    task = ParsingTask(backbone="cross_modality_parsing_tiny", image_pretrain_epochs=1)
    trainer = quiet_trainer(
        max_epochs=2, limit_train_batches=1, limit_val_batches=1, default_root_dir=tmp_path
    )
    seen: list[set[str]] = []

    class Record(ParsingOverlayLogger):
        def on_train_epoch_end(self, trainer, pl_module):  # type: ignore[no-untyped-def]
            seen.append({k for k in trainer.callback_metrics if k.startswith("train/")})

    trainer.callbacks.append(Record())  # type: ignore[attr-defined]
    trainer.fit(task, synthetic())
    assert "train/reconstruction_loss" in seen[0] and "train/cross_entropy" not in seen[0]
    assert "train/cross_entropy" in seen[1]


def test_flip_test_labels_a_face_and_its_mirror_alike() -> None:
    from lightning_deepvision.datasets.face_parts import HFLIP_LABEL_PERMUTATION

    perm = list(HFLIP_LABEL_PERMUTATION)
    images = torch.randn(2, 3, 32, 28)
    for flip_test in (False, True):
        torch.manual_seed(0)
        task = ParsingTask(
            backbone="cross_modality_parsing_tiny",
            num_classes=11,
            class_names=list(HELEN_LABELS),
            flip_test=flip_test,
        ).eval()
        with torch.no_grad():
            plain = task.log_probabilities(images)
            mirror = task.log_probabilities(images.flip(-1))
        # The mirror's map, mirrored back with left and right classes swapped.
        back = mirror.flip(-1)[:, perm]
        assert torch.allclose(back, plain, atol=1e-5) == flip_test
        if flip_test:
            torch.testing.assert_close(plain.exp().sum(1), torch.ones(2, 32, 28))
    with pytest.raises(ValueError, match="no mirror class"):
        ParsingTask(
            backbone="cross_modality_parsing_tiny",
            num_classes=2,
            class_names=["background", "left_ear"],
            flip_test=True,
        )


def test_class_weights_enter_the_loss() -> None:
    task = ParsingTask(
        backbone="cross_modality_parsing_tiny", num_classes=3, class_weights=[0, 0, 1]
    )
    batch = {"image": torch.randn(2, 3, 16, 16), "mask": torch.zeros(2, 16, 16, dtype=torch.long)}
    batch["mask"][:, :8] = 2
    logits = task(batch["image"])
    weighted = torch.nn.functional.cross_entropy(logits, batch["mask"], weight=task.class_weight)
    only_class_2 = torch.nn.functional.cross_entropy(logits[..., :8, :], batch["mask"][..., :8, :])
    torch.testing.assert_close(weighted, only_class_2)
    with pytest.raises(ValueError, match="class_weights has 2 entries for 3 classes"):
        ParsingTask(backbone="cross_modality_parsing_tiny", num_classes=3, class_weights=[1, 1])


def test_overlay_png_shows_image_prediction_and_truth(tmp_path: Path) -> None:
    task = ParsingTask(backbone="cross_modality_parsing_tiny")
    trainer = quiet_trainer(
        max_epochs=1,
        limit_train_batches=1,
        limit_val_batches=1,
        default_root_dir=tmp_path,
        callbacks=[ParsingOverlayLogger(num_images=3, upscale=2)],
    )
    trainer.fit(task, synthetic())
    png = tmp_path / "val_parsing_overlay" / "epoch=0.png"
    picture = np.asarray(Image.open(png))
    # Three rows of (image, prediction, truth) cells of 64x56, 2-pixel padding.
    assert picture.shape == (2 + 3 * (64 + 2), 2 + 3 * (56 + 2), 3)
    cell = [picture[2:66, 2 + c * 58 : 58 + c * 58].astype(int) for c in range(3)]
    # The truth cell differs from the plain image where parts are painted; so does the
    # prediction's wherever it predicts anything but background.
    assert np.abs(cell[2] - cell[0]).sum() > 0
    assert not np.array_equal(cell[1], cell[2])


@pytest.mark.parametrize("kind", ["helen", "lfw_parts"])
def test_real_layouts_fit_and_test(kind: str, tmp_path: Path) -> None:
    if kind == "helen":
        root = write_helen(tmp_path / "helen", counts=(4, 2, 2), image_size=(40, 32))
        data = HelenDataModule(str(root), input_size=(32, 32), **LOADER)  # type: ignore[arg-type]
        classes = 11
    else:
        root = write_lfw_parts(tmp_path / "parts", counts=(4, 2, 2))
        data = LFWPartsDataModule(str(root), input_size=(32, 32), **LOADER)  # type: ignore[arg-type]
        classes = 3
    task = ParsingTask(backbone="timm_parsing_tiny")
    trainer = quiet_trainer(fast_dev_run=True, default_root_dir=tmp_path)
    trainer.fit(task, data)
    (result,) = trainer.test(task, datamodule=data, verbose=False)
    assert task.hparams.num_classes == classes and len(task.class_names) == classes
    assert 0.0 <= result["test/miou"] <= 1.0 and "test/miou_background_baseline" in result
    assert ("test/f1_overall" in result) == (kind == "helen")


def test_scores_at_each_images_original_size(tmp_path: Path) -> None:
    from lightning_deepvision.datasets import HelenParsing

    root = write_helen(tmp_path / "helen", counts=(2, 3, 1), image_size=(40, 30))
    options = {"input_size": (32, 32), "score_at_original_size": True, **LOADER}
    data = HelenDataModule(str(root), **options)  # type: ignore[arg-type]
    data.setup("validate")
    batch = next(iter(data.val_dataloader()))
    assert batch["mask"].shape == (3, 32, 32)
    originals = batch["original_mask"]
    truth = [HelenParsing(str(root), "val")[k]["mask"] for k in range(3)]
    assert [tuple(m.shape) for m in originals] == [(40, 30)] * 3
    for original, mask in zip(originals, truth, strict=True):
        assert torch.equal(original.long(), mask.as_subclass(torch.Tensor))
    task = ParsingTask(
        backbone="cross_modality_parsing_tiny", num_classes=11, class_names=list(HELEN_LABELS)
    ).eval()
    with torch.no_grad():
        task._evaluate("val", batch)
    confusion = task.val_scores.confmat  # type: ignore[attr-defined]
    # Every pixel of the three 40x30 maps was scored, each against its own label.
    assert int(confusion.sum()) == 3 * 40 * 30
    torch.testing.assert_close(
        confusion.sum(1), sum(torch.bincount(t.flatten(), minlength=11) for t in truth)
    )
    trainer = quiet_trainer(fast_dev_run=True, default_root_dir=tmp_path)
    (result,) = trainer.test(task, datamodule=data, verbose=False)
    assert 0.0 <= result["test/miou"] <= 1.0
