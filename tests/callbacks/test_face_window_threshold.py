"""FaceWindowThreshold: LNet's threshold chosen on held-out images with their face boxes."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from lightning.pytorch import Trainer

from lightning_deepvision.callbacks import FaceWindowThreshold
from lightning_deepvision.datamodules import CelebADataModule, SyntheticAttributesDataModule
from lightning_deepvision.models.lnet_threshold import DEFAULT_THRESHOLDS
from lightning_deepvision.tasks import AttributesTask
from lightning_deepvision.testing import write_celeba

TINY_LNET = {"lnet_width": 0.05, "lnet_stem_stride": 2, "anet_feature_dim": 16}


def _data() -> SyntheticAttributesDataModule:
    return SyntheticAttributesDataModule(
        num_train_identities=2,
        images_per_train_identity=2,
        num_eval_identities=3,
        images_per_eval_identity=2,
        batch_size=4,
        num_workers=0,
    )


def test_synthetic_face_boxes_span_the_face_parts() -> None:
    dataset = _data().face_window_dataset("val")
    assert len(dataset) == 6
    sample = dataset[0]
    assert set(sample) == {"image", "boxes"} and sample["image"].shape == (3, 64, 56)
    x1, y1, x2, y2 = sample["boxes"].tolist()
    # A face, not the whole canvas nor a point.
    assert 0 <= x1 < x2 <= 56 and 0 <= y1 < y2 <= 64
    assert 0.1 < (x2 - x1) * (y2 - y1) / (56 * 64) < 0.95


def test_celeba_face_boxes_from_the_landmarks(tmp_path: Path) -> None:
    root = write_celeba(tmp_path / "celeba", image_size=(72, 59))
    data = CelebADataModule(root, input_size=(64, 56), num_workers=0)
    dataset = data.face_window_dataset("val")
    sample = dataset[0]
    assert set(sample) == {"image", "boxes"} and sample["image"].shape == (3, 64, 56)
    # The five landmarks of that image, resized to the input, lie inside its face box.
    points = CelebADataModule(root, input_size=(64, 56), num_workers=0).celeba(
        "val", "landmarks", None
    )[0]["landmarks"]
    scaled = points * torch.tensor([56 / 59, 64 / 72])
    x1, y1, x2, y2 = sample["boxes"].tolist()
    assert (scaled[:, 0] > x1).all() and (scaled[:, 0] < x2).all()
    assert (scaled[:, 1] > y1).all() and (scaled[:, 1] < y2).all()


def test_threshold_is_chosen_when_fit_starts_and_saved(tmp_path: Path) -> None:
    task = AttributesTask("lnet_anet", backbone_kwargs=TINY_LNET)
    lnet = task.backbone.lnet
    lnet.threshold = 0.0  # a candidate it is not
    callback = FaceWindowThreshold(num_images=5, candidates=[0.1, 0.3, 0.6, 0.9], batch_size=2)
    trainer = Trainer(
        fast_dev_run=True,
        callbacks=[callback],
        default_root_dir=tmp_path,
        enable_progress_bar=False,
    )
    trainer.fit(task, datamodule=_data())
    assert callback.selection is not None and callback.selection.num_images == 5
    chosen = callback.selection.threshold
    assert chosen in (0.1, 0.3, 0.6, 0.9) and lnet.threshold == pytest.approx(chosen)
    best = max(callback.selection.mean_iou)
    assert callback.selection.mean_iou[callback.selection.candidates.index(chosen)] == best
    assert float(task.state_dict()["backbone.lnet.face_threshold"]) == pytest.approx(chosen)


def test_needs_lnet_and_face_boxes(tmp_path: Path) -> None:
    trainer = Trainer(
        fast_dev_run=True,
        callbacks=[FaceWindowThreshold()],
        default_root_dir=tmp_path,
        enable_progress_bar=False,
    )
    with pytest.raises(ValueError, match="lnet_anet"):
        trainer.fit(AttributesTask("anet_tiny"), datamodule=_data())
    assert DEFAULT_THRESHOLDS[0] == 0.05 and len(DEFAULT_THRESHOLDS) == 19
    with pytest.raises(ValueError, match="positive"):
        FaceWindowThreshold(num_images=0)
