import logging
from pathlib import Path

import pytest
import torch

from lightning_deepvision.datamodules import IdentityFolderLFWDataModule
from lightning_deepvision.datasets import DatasetNotFoundError, IdentityPairs, LFWPairs


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


def test_val_split_prefers_view1_then_held_out_identities(
    make_identity_folder, make_lfw, caplog: pytest.LogCaptureFixture
) -> None:
    train = make_identity_folder(num_identities=10)
    with_view1 = data_module(train, make_lfw("with", view1=True))
    with_view1.setup("validate")
    assert isinstance(with_view1.dataset("val"), LFWPairs)
    assert with_view1.dataset("val").list_file.name == "pairsDevTest.txt"
    assert with_view1.num_classes == 10
    # Without View 1 the test pairs never choose the model: held-out training people do.
    without_view1 = data_module(train, make_lfw("without", view1=False), val_identity_fraction=0.2)
    with caplog.at_level(logging.INFO):
        without_view1.setup("fit")
    assert "held out from training" in caplog.text
    val = without_view1.dataset("val")
    assert isinstance(val, IdentityPairs)
    held_out = set(val.images.classes)
    trained = set(without_view1.dataset("train").classes)
    assert len(held_out) == 2 and not held_out & trained and without_view1.num_classes == 8
    pair = val[0]
    assert pair["image1"].shape == (3, 55, 47) and int(pair["same"]) in (0, 1)
    without_view1.setup("test")
    assert without_view1.dataset("test").list_file.name == "pairs.txt"
    # Asked for explicitly, View 2 still validates.
    view2 = data_module(train, make_lfw("view2", view1=False), val_split="10fold")
    view2.setup("validate")
    assert view2.dataset("val").list_file.name == "pairs.txt" and view2.num_classes == 10


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
