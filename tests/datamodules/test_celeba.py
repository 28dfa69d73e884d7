"""CelebADataModule: attribute batches (plain and aligned), identity batches with LFW pairs."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from lightning_deepvision.datamodules import CelebADataModule
from lightning_deepvision.testing import write_celeba, write_lfw

LOADER = {"eval_batch_size": 6, "num_workers": 0}


@pytest.fixture(scope="module")
def roots(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    base = tmp_path_factory.mktemp("celeba_dm")
    celeba = write_celeba(base / "celeba", image_size=(72, 59))
    lfw = write_lfw(base / "lfw", num_people=8, images_per_person=2, num_folds=2, pairs_per_fold=1)
    return celeba, lfw


@pytest.mark.parametrize("align", [False, True])
def test_attribute_batches(roots: tuple[Path, Path], align: bool) -> None:
    data = CelebADataModule(roots[0], batch_size=4, input_size=(55, 47), align=align, **LOADER)
    data.setup("fit")
    batch = next(iter(data.train_dataloader()))
    assert set(batch) == {"image", "attributes", "index"}
    assert batch["image"].shape == (4, 3, 55, 47) and batch["image"].dtype == torch.float32
    assert batch["attributes"].shape == (4, 40)
    assert data.num_attributes == 40 and data.attribute_names[0] == "5_o_Clock_Shadow"
    rates = data.attribute_positive_rates()
    assert rates.shape == (40,) and ((rates >= 0) & (rates <= 1)).all()
    assert len(data.dataset("val")) == 6 and len(data.dataset("test")) == 6


def test_identity_batches_and_lfw_pairs(roots: tuple[Path, Path]) -> None:
    data = CelebADataModule(
        roots[0],
        target="identity",
        lfw_root=roots[1],
        lfw_val_split="10fold",
        identities_per_batch=2,
        images_per_identity=2,
        **LOADER,
    )
    data.setup("fit")
    assert data.num_classes == 6  # the training people of the official partition
    batch = next(iter(data.train_dataloader()))
    assert set(batch) == {"image", "label"} and batch["image"].shape[0] == 4
    assert len(set(batch["label"].tolist())) == 2  # identity-balanced: P = 2, K = 2
    pairs = next(iter(data.val_dataloader()))
    assert {"image1", "image2", "same", "fold"} <= set(pairs)
    without = CelebADataModule(roots[0], target="identity", **LOADER)
    with pytest.raises(ValueError, match="lfw_root"):
        without.setup("validate")


def test_identity_partition_counts(roots: tuple[Path, Path]) -> None:
    # write_celeba: 10 people x 3 images; the paper's rule with small counts: 6 / 2 / the last 1.
    data = CelebADataModule(
        roots[0],
        partition="identity",
        identity_split=(6, 2, 1),
        batch_size=4,
        input_size=(55, 47),
        **LOADER,
    )
    data.setup("fit")
    assert len(data.dataset("train")) == 18 and len(data.dataset("val")) == 6
    data.setup("test")
    assert len(data.dataset("test")) == 3
    people = CelebADataModule(
        roots[0],
        target="identity",
        partition="identity",
        identity_split=(6, 2, 1),
        lfw_root=roots[1],
        lfw_val_split="10fold",
        **LOADER,
    )
    people.setup("fit")
    assert people.num_classes == 6
    with pytest.raises(ValueError, match="lists 10 identities"):
        CelebADataModule(roots[0], partition="identity", **LOADER).setup("fit")
