"""Tests of RealFacesDataModule: built-in faces by default, a user's identity folder otherwise."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from lightning_deepvision.datamodules import RealFacesDataModule
from lightning_deepvision.datasets import IdentityFolder, LFWPairs
from lightning_deepvision.datasets.synthetic import SyntheticFacePairs, SyntheticFaces
from lightning_deepvision.testing import write_identity_folder
from lightning_deepvision.testing.identity_split import split_identity_folder

SMALL = {
    "synthetic_identities": 5,
    "synthetic_images_per_identity": 3,
    "synthetic_eval_identities": 20,
    "synthetic_pairs_per_fold": 2,
    "grayscale": True,
    "num_workers": 0,
    "eval_batch_size": 64,
}


def test_built_in_faces_by_default() -> None:
    data = RealFacesDataModule(**SMALL)  # type: ignore[arg-type]
    data.setup("fit")
    train = data.dataset("train")
    assert isinstance(train, SyntheticFaces) and len(train) == 15 and data.num_classes == 5
    assert isinstance(data.dataset("val"), SyntheticFacePairs)
    batch = next(iter(data.val_dataloader()))
    assert batch["image1"].shape[1:] == (1, 55, 47)
    assert len(data.dataset("val")) == 20  # 10 folds x 2 pairs
    # Validation and test people are disjoint from each other and from the training people.
    data.setup("test")
    assert data.dataset("test").split == "test"


def test_roots_must_come_together(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="both train_root and lfw_root"):
        RealFacesDataModule(train_root=tmp_path)
    with pytest.raises(ValueError, match="scorer_fit_repeats"):
        RealFacesDataModule(scorer_fit_repeats=0)


def test_identity_folder_and_lfw_pairs_when_given(tmp_path: Path) -> None:
    source = write_identity_folder(tmp_path / "all", num_identities=9, images_per_identity=4)
    train_root, lfw_root = split_identity_folder(source, tmp_path / "split", ["id_0007", "id_0008"])
    data = RealFacesDataModule(
        train_root, lfw_root, val_identity_fraction=0.3, grayscale=True, num_workers=0
    )
    data.setup("fit")
    assert isinstance(data.dataset("train"), IdentityFolder)
    assert data.resolved_val_split() == "identities"
    data.setup("test")
    assert isinstance(data.dataset("test"), LFWPairs)


def test_scorer_fit_images_are_augmented_passes() -> None:
    plain = RealFacesDataModule(**SMALL)  # type: ignore[arg-type]
    augmented = RealFacesDataModule(
        scorer_fit_augment="strong",
        scorer_fit_repeats=3,
        **SMALL,  # type: ignore[arg-type]
    )
    plain_images = torch.cat([b["image"] for b in plain.embedding_fit_dataloader(1000)])
    batches = list(augmented.embedding_fit_dataloader(1000))
    images = torch.cat([b["image"] for b in batches])
    labels = torch.cat([b["label"] for b in batches])
    assert plain_images.shape[0] == 15 and images.shape[0] == 45
    assert torch.equal(
        labels,
        torch.as_tensor(SyntheticFaces(num_identities=5, images_per_identity=3).targets).repeat(3),
    )
    # Each pass draws its own augmentation, and none is the evaluation image.
    assert not torch.allclose(images[:15], images[15:30])
    assert not torch.allclose(images[:15], plain_images)
    assert augmented.embedding_fit_dataloader(4).dataset.__len__() == 3 * 4
