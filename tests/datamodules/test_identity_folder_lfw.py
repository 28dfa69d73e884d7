from pathlib import Path

import pytest
import torch

from lightning_deepvision.datamodules import IdentityFolderLFWDataModule
from lightning_deepvision.datasets import DatasetNotFoundError, LFWPairs


def data_module(train_root: Path, lfw_root: Path, **overrides) -> IdentityFolderLFWDataModule:
    kwargs = dict(identities_per_batch=3, images_per_identity=2, eval_batch_size=8, num_workers=0)
    kwargs.update(overrides)
    return IdentityFolderLFWDataModule(train_root=train_root, lfw_root=lfw_root, **kwargs)


def test_train_and_pairs(make_identity_folder, lfw_root) -> None:
    data = data_module(make_identity_folder(num_identities=5), lfw_root)
    data.setup("fit")
    assert data.num_classes == 5
    batch = next(iter(data.train_dataloader()))
    assert batch["image"].shape == (6, 3, 55, 47)
    pairs = next(iter(data.val_dataloader()))
    assert pairs["image1"].shape == (8, 3, 55, 47)


def test_val_split_prefers_view1_then_view2(make_identity_folder, make_lfw) -> None:
    train = make_identity_folder(num_identities=4)
    with_view1 = data_module(train, make_lfw("with", view1=True))
    with_view1.setup("validate")
    assert isinstance(with_view1.dataset("val"), LFWPairs)
    assert with_view1.dataset("val").list_file.name == "pairsDevTest.txt"
    without_view1 = data_module(train, make_lfw("without", view1=False))
    without_view1.setup("validate")
    assert without_view1.dataset("val").list_file.name == "pairs.txt"
    without_view1.setup("test")
    assert without_view1.dataset("test").list_file.name == "pairs.txt"


def test_missing_roots_name_the_path(tmp_path: Path, make_lfw) -> None:
    data = data_module(tmp_path / "nowhere", make_lfw())
    with pytest.raises(DatasetNotFoundError, match="nowhere"):
        data.setup("fit")
    data = data_module(tmp_path, tmp_path / "no-lfw")
    with pytest.raises(DatasetNotFoundError, match="no-lfw"):
        data.setup("test")


def test_center_crop_default_suits_lfw(make_identity_folder, make_lfw) -> None:
    data = data_module(make_identity_folder(num_identities=4), make_lfw())
    data.setup("test")
    sample = data.dataset("test")[0]
    assert sample["image1"].shape == (3, 55, 47)
    assert torch.isfinite(sample["image1"]).all()
