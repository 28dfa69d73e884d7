"""BadSampleReport logs each stage's skipped samples and names the new ones every epoch."""

from __future__ import annotations

from pathlib import Path

import pytest

from lightning_deepvision.callbacks.bad_samples import BadSampleReport
from lightning_deepvision.datamodules import ImageFolderDataModule
from lightning_deepvision.tasks import ClassificationTask
from lightning_deepvision.testing import quiet_trainer, write_image_folder


def test_skipped_samples_are_logged_and_named_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    root = write_image_folder(
        tmp_path / "tree", images_per_class={"train": 2, "val": 2}, image_size=(16, 16)
    )
    data = ImageFolderDataModule(
        root, image_size=67, batch_size=2, eval_batch_size=2, num_workers=0, on_bad_sample="skip"
    )
    data.setup("fit")
    bad_train, bad_val = data.dataset("train").path(1), data.dataset("val").path(4)
    bad_train.write_bytes(b"")
    bad_val.write_bytes(b"\x89PNG\r\n")
    task = ClassificationTask(backbone="alexnet_tiny", input_size=(67, 67))
    trainer = quiet_trainer(max_epochs=2, num_sanity_val_steps=0, callbacks=[BadSampleReport()])
    with caplog.at_level("WARNING", logger="lightning_deepvision.callbacks.bad_samples"):
        trainer.fit(task, datamodule=data)
    assert float(trainer.callback_metrics["skipped_samples/train"]) == 1
    assert float(trainer.callback_metrics["skipped_samples/val"]) == 1
    reports = [r.getMessage() for r in caplog.records if r.name.endswith("callbacks.bad_samples")]
    # Epoch 0 names each file once; epoch 1 skips the same files and names nothing new.
    assert len(reports) == 2
    assert any(str(bad_train) in r and "train" in r for r in reports)
    assert any(str(bad_val) in r and "val" in r for r in reports)
