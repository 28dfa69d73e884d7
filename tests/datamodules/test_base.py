"""BaseDataModule / DatasetDataModule: datasets per stage, loader options, collate_fn."""

from pathlib import Path
from typing import Any

import pytest
import torch
from torch.utils.data import Dataset

from lightning_deepvision.datamodules import BaseDataModule, DatasetDataModule, KeepKeys


class Numbers(Dataset):
    """``(root, split, transforms)`` like every dataset of the library; samples of varying size."""

    def __init__(self, root: Path, split: str, transforms=None, length: int = 6) -> None:
        self.root, self.split, self.transforms, self.length = root, split, transforms, length

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> dict[str, Any]:
        sample = {"boxes": torch.ones(index % 3, 4), "split": self.split, "index": index}
        return sample if self.transforms is None else self.transforms(sample)


class NumbersDataModule(DatasetDataModule):
    dataset_class = Numbers
    splits = {"train": "a", "val": "b", "test": "c", "predict": "c"}

    def transforms(self, stage: str):
        return KeepKeys(("boxes", "index", "split"))

    def dataset_options(self) -> dict[str, Any]:
        return {"length": 5}

    def collate_fn(self, stage: str):
        return list  # variable numbers of boxes: keep the samples as a list


def test_setup_builds_only_what_the_stage_needs(tmp_path: Path) -> None:
    data = NumbersDataModule(tmp_path, batch_size=2, eval_batch_size=3, num_workers=0)
    data.setup("test")
    assert set(data.datasets) == {"test"}
    data.setup("fit")
    assert set(data.datasets) == {"test", "train", "val"}
    assert data.dataset("train").split == "a" and len(data.dataset("train")) == 5
    assert data.dataset("train") is data.dataset("train")  # built once


def test_loaders_use_the_shared_options_and_collate_fn(tmp_path: Path) -> None:
    data = NumbersDataModule(tmp_path, batch_size=2, eval_batch_size=3, num_workers=0)
    data.setup("fit")
    train = data.train_dataloader()
    assert train.batch_size == 2 and train.drop_last and len(train) == 2
    batch = next(iter(train))
    assert isinstance(batch, list) and len(batch) == 2  # the collate_fn kept the samples
    data.setup("predict")
    predict = data.predict_dataloader()
    assert predict.batch_size == 3 and not predict.drop_last
    assert [s["index"] for s in next(iter(predict))] == [0, 1, 2]  # in order
    assert [s["split"] for s in next(iter(data.test_dataloader()))] == ["c"] * 3


def test_unknown_stage_and_bad_options(tmp_path: Path) -> None:
    data = NumbersDataModule(tmp_path, num_workers=0)
    with pytest.raises(ValueError, match="stage must be one of"):
        data.dataset("training")
    with pytest.raises(ValueError, match="batch sizes must be positive"):
        NumbersDataModule(tmp_path, batch_size=0)
    with pytest.raises(ValueError, match="num_workers"):
        NumbersDataModule(tmp_path, num_workers=-1)
    with pytest.raises(TypeError):
        BaseDataModule()  # abstract: a data module says how to build its datasets


def test_keep_keys_drops_the_rest_before_transforming() -> None:
    seen = []
    keep = KeepKeys(("image", "label"), lambda sample: seen.append(set(sample)) or sample)
    out = keep({"image": 1, "label": 2, "mask": 3})
    assert out == {"image": 1, "label": 2} and seen == [{"image", "label"}]


def test_help_lists_loader_options_once(tmp_path: Path, capsys) -> None:
    from lightning_deepvision.cli import main

    with pytest.raises(SystemExit):
        main(["fit", "--data.help", "SyntheticFacesDataModule"])
    text = capsys.readouterr().out.split("Help for", 1)[1]
    for option in ("num_workers", "eval_batch_size", "identities_per_batch", "input_size"):
        assert text.count(f"--data.{option} ") == 1, option
    assert "--data.batch_size" not in text  # derived from P x K
