"""CaltechDataModule: window batches to train, full-frame batches to evaluate, hard negatives."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torchvision import tv_tensors

from lightning_deepvision.datamodules import CaltechDataModule, collate_frames
from lightning_deepvision.datasets import CaltechWindows, DatasetNotFoundError
from lightning_deepvision.datasets.caltech import FrameGroupedSampler, evaluation_ground_truth
from lightning_deepvision.testing import write_caltech


@pytest.fixture(scope="module")
def caltech_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """set00, set01 and set06, one 60-frame video each. Read-only."""
    root = tmp_path_factory.mktemp("caltech") / "root"
    return write_caltech(root, sets=("set00", "set01", "set06"))


def data_module(root: Path, **overrides) -> CaltechDataModule:
    options = dict(batch_size=4, eval_batch_size=2, num_workers=0, negatives_per_frame=2)
    options.update(overrides)
    return CaltechDataModule(root, **options)


def test_train_and_val_batches_like_fast_dev_run(caltech_root: Path) -> None:
    data = data_module(caltech_root)
    data.setup("fit")
    windows = data.dataset("train")
    assert isinstance(windows, CaltechWindows)
    # set00 and set01: 2 frames each, 2 counted figures per frame, 2 negatives per frame.
    assert (windows.num_positives, windows.num_random_negatives) == (8, 8)
    loader = data.train_dataloader()
    assert isinstance(loader.sampler, FrameGroupedSampler)
    labels = []
    for batch in loader:
        assert batch["image"].shape == (4, 3, 84, 28) and batch["image"].dtype == torch.float32
        assert batch["image"].min() >= -1 and batch["image"].max() <= 1
        labels += batch["label"].tolist()
    assert len(labels) == 16 and sorted(labels) == [0] * 8 + [1] * 8
    # Validation: the test frames, whole, with each frame's own number of boxes.
    frames = 0
    for batch in data.val_dataloader():
        assert batch["image"].shape[1:] == (3, 120, 160)
        assert batch["image"].dtype == torch.float32
        assert isinstance(batch["boxes"], list) and len(batch["boxes"]) == len(batch["image"])
        assert all(isinstance(b, tv_tensors.BoundingBoxes) for b in batch["boxes"])
        assert batch["set"].tolist() == [6] * len(batch["image"])
        for i in range(len(batch["image"])):
            frame = {key: batch[key][i] for key in ("boxes", "visible_boxes", "occluded", "labels")}
            truth = evaluation_ground_truth(frame)
            assert truth["boxes"].shape == (3, 4) and truth["labels"][0] == "person"
        frames += len(batch["image"])
    assert frames == 2


def test_test_and_predict_loaders(caltech_root: Path) -> None:
    data = data_module(caltech_root)
    data.setup("test")
    data.setup("predict")
    test = next(iter(data.test_dataloader()))
    predict = next(iter(data.predict_dataloader()))
    assert test["frame"].tolist() == predict["frame"].tolist() == [29, 59]


def test_val_sets_hold_out_training_sets(caltech_root: Path) -> None:
    data = data_module(caltech_root, val_sets=["set01"])
    data.setup("fit")
    assert data.train_windows.frames.videos == [("set00", "V000")]
    batch = next(iter(data.val_dataloader()))
    assert batch["set"].tolist() == [1, 1]
    with pytest.raises(ValueError, match="not training sets"):
        data_module(caltech_root, val_sets=["set06"])
    with pytest.raises(ValueError, match="leave no training set"):
        data_module(caltech_root, val_sets=["set00", "set01"]).setup("fit")


def test_hard_negative_mining(caltech_root: Path) -> None:
    data = data_module(caltech_root)
    data.setup("fit")
    before = len(data.train_dataloader().dataset)
    detections = {}
    for batch in data.mining_dataloader():
        assert batch["image"].dtype == torch.float32
        for index in batch["index"].tolist():
            # A "detector" that fires in the top-left corner of every frame (background).
            detections[index] = torch.tensor([[1.0, 1.0, 12.0, 30.0, 0.7]])
    assert sorted(detections) == [0, 1, 2, 3]
    assert data.add_hard_negatives(detections) == 4
    loader = data.train_dataloader()
    assert len(loader.dataset) == before + 4
    labels = [label for batch in loader for label in batch["label"].tolist()]
    assert labels.count(0) == 8 + 4


def test_loader_workers(caltech_root: Path, tmp_path: Path) -> None:
    data = data_module(
        caltech_root, num_workers=1, persistent_workers=False, cache_dir=tmp_path / "cache"
    )
    data.setup("fit")
    assert sum(len(b["label"]) for b in data.train_dataloader()) == 16
    assert sum(len(b["boxes"]) for b in data.val_dataloader()) == 2
    assert any((tmp_path / "cache").iterdir())  # the workers shared their frame indices


def test_collate_frames_keeps_box_counts() -> None:
    samples = [
        {"image": torch.zeros(3, 4, 4), "boxes": torch.zeros(n, 4), "frame": torch.tensor(n)}
        for n in (0, 3)
    ]
    batch = collate_frames(samples)
    assert batch["image"].shape == (2, 3, 4, 4)
    assert [b.shape[0] for b in batch["boxes"]] == [0, 3]
    assert batch["frame"].tolist() == [0, 3]


def test_missing_root(tmp_path: Path) -> None:
    with pytest.raises(DatasetNotFoundError, match="nowhere"):
        data_module(tmp_path / "nowhere").setup("fit")
