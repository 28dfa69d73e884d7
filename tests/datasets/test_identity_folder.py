from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torchvision import tv_tensors
from torchvision.transforms import v2

from lightning_deepvision.datasets import image_list as image_list_module
from lightning_deepvision.datasets.errors import CorruptImageError, DatasetNotFoundError
from lightning_deepvision.datasets.identity_folder import IdentityFolder, split_identities


def test_samples_and_attributes(identity_folder_root: Path) -> None:
    ds = IdentityFolder(identity_folder_root)
    assert len(ds) == 8 * 6
    assert ds.num_classes == 8
    assert ds.classes == [f"id_{i:04d}" for i in range(8)]
    assert ds.targets == [i // 6 for i in range(48)]
    assert len(ds.samples) == 48
    assert all(p.parent.name == ds.classes[t] for p, t in zip(ds.samples, ds.targets, strict=True))
    assert ds.samples[:6] == sorted(ds.samples[:6])
    sample = ds[13]
    assert set(sample) == {"image", "label"}
    assert isinstance(sample["image"], tv_tensors.Image)
    assert sample["image"].dtype == torch.uint8 and sample["image"].shape == (3, 64, 56)
    assert sample["label"].dtype == torch.int64 and sample["label"].item() == 2


def test_index_is_deterministic(identity_folder_root: Path) -> None:
    a, b = IdentityFolder(identity_folder_root), IdentityFolder(identity_folder_root)
    assert a.samples == b.samples and a.targets == b.targets


def test_construction_does_not_decode(
    identity_folder_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def fail(*args: object, **kwargs: object) -> None:
        raise AssertionError("decoded at construction")

    monkeypatch.setattr(image_list_module, "read_image", fail)
    ds = IdentityFolder(identity_folder_root)
    assert len(ds) == 48
    with pytest.raises(AssertionError, match="decoded"):
        ds[0]  # the patched reader is the one __getitem__ uses


def test_grey_pgm_becomes_three_channels(make_identity_folder: Callable[..., Path]) -> None:
    root = make_identity_folder(ext="pgm", image_size=(30, 20))
    assert (root / "id_0000" / "000.pgm").is_file()
    image = IdentityFolder(root)[0]["image"]
    assert image.shape == (3, 30, 20)
    assert torch.equal(image[0], image[2])


def test_identities_subset_orders_labels(identity_folder_root: Path) -> None:
    ds = IdentityFolder(identity_folder_root, identities=["id_0005", "id_0002"])
    assert ds.classes == ["id_0005", "id_0002"]
    assert len(ds) == 12 and ds.targets == [0] * 6 + [1] * 6
    assert all(p.parent.name == "id_0005" for p in ds.samples[:6])
    assert ds[7]["label"].item() == 1


def test_identities_subset_errors(identity_folder_root: Path) -> None:
    with pytest.raises(DatasetNotFoundError, match="id_9999"):
        IdentityFolder(identity_folder_root, identities=["id_0001", "id_9999"])
    with pytest.raises(ValueError, match="id_0001"):
        IdentityFolder(identity_folder_root, identities=["id_0001", "id_0002", "id_0001"])


def test_transforms_applied_to_sample_dict(identity_folder_root: Path) -> None:
    seen: list[set[str]] = []

    def record(sample: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        seen.append(set(sample))
        return sample

    ds = IdentityFolder(identity_folder_root, transforms=v2.Compose([record, v2.Resize((16, 14))]))
    sample = ds[0]
    assert seen == [{"image", "label"}]
    assert sample["image"].shape == (3, 16, 14)
    assert sample["label"].item() == 0


def test_skips_empty_hidden_and_non_image_entries(
    make_identity_folder: Callable[..., Path],
) -> None:
    root = make_identity_folder()
    (root / "empty").mkdir()
    (root / ".cache").mkdir()
    (root / ".cache" / "x.jpg").write_bytes((root / "id_0000" / "000.jpg").read_bytes())
    (root / "id_0001" / "notes.txt").write_text("not an image")
    (root / "id_0001" / "._000.jpg").write_bytes(b"macOS resource fork")
    (root / "id_0001" / "sub").mkdir()
    (root / "README.md").write_text("readme")
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(root / "id_0002" / "UPPER.JPG")
    ds = IdentityFolder(root)
    assert ds.classes == [f"id_{i:04d}" for i in range(4)]
    assert len(ds) == 4 * 3 + 1
    assert root / "id_0002" / "UPPER.JPG" in ds.samples
    assert all(p.suffix.lower() == ".jpg" and not p.name.startswith(".") for p in ds.samples)


def test_min_images_per_identity(make_identity_folder: Callable[..., Path]) -> None:
    root = make_identity_folder()
    for f in sorted((root / "id_0001").iterdir())[:2]:
        f.unlink()
    ds = IdentityFolder(root, min_images_per_identity=2)
    assert ds.classes == ["id_0000", "id_0002", "id_0003"]
    assert ds.targets == [0] * 3 + [1] * 3 + [2] * 3
    assert IdentityFolder(root).num_classes == 4
    with pytest.raises(DatasetNotFoundError, match="at least 4 images"):
        IdentityFolder(root, min_images_per_identity=4)
    with pytest.raises(ValueError, match="min_images_per_identity"):
        IdentityFolder(root, min_images_per_identity=0)


def test_extensions_argument(make_identity_folder: Callable[..., Path]) -> None:
    root = make_identity_folder(ext="png")
    assert len(IdentityFolder(root)) == 12
    with pytest.raises(DatasetNotFoundError):
        IdentityFolder(root, extensions=(".jpg",))
    assert len(IdentityFolder(root, extensions=(".PNG",))) == 12


def test_not_found_messages(tmp_path: Path) -> None:
    missing = tmp_path / "absent"
    with pytest.raises(DatasetNotFoundError) as info:
        IdentityFolder(missing)
    assert str(missing) in str(info.value) and "ROOT/<identity>/<image>" in str(info.value)

    empty = tmp_path / "empty"
    (empty / "person_a").mkdir(parents=True)
    with pytest.raises(DatasetNotFoundError) as info:
        IdentityFolder(empty)
    assert str(empty) in str(info.value) and "one sub-directory per identity" in str(info.value)

    flat = tmp_path / "flat"
    flat.mkdir()
    for i in range(3):
        Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(flat / f"{i}.png")
    with pytest.raises(DatasetNotFoundError, match="Found 3 image file"):
        IdentityFolder(flat)

    not_a_dir = tmp_path / "file.jpg"
    not_a_dir.write_text("x")
    with pytest.raises(DatasetNotFoundError):
        IdentityFolder(not_a_dir)


def test_corrupt_image_raises_on_getitem(make_identity_folder: Callable[..., Path]) -> None:
    root = make_identity_folder()
    bad = root / "id_0002" / "001.jpg"
    bad.write_bytes(bad.read_bytes()[:300])
    ds = IdentityFolder(root)
    index = ds.samples.index(bad)
    ds[index - 1]
    with pytest.raises(CorruptImageError) as info:
        ds[index]
    assert info.value.path == bad and str(bad) in str(info.value)


def test_real_att_faces(shared_data: Path) -> None:
    ds = IdentityFolder(shared_data / "att_faces")
    assert ds.num_classes == 40
    assert len(ds) == 400
    assert sorted(ds.classes) == sorted(f"s{i}" for i in range(1, 41))
    assert all(ds.targets.count(label) == 10 for label in range(40))
    sample = ds[0]
    assert sample["image"].shape == (3, 112, 92) and sample["image"].dtype == torch.uint8
    assert ds.samples[0].parent.name == ds.classes[0] == "s1"
    assert sample["image"].float().std() > 10


def test_default_extensions_are_those_read_image_decodes(
    make_identity_folder: Callable[..., Path],
) -> None:
    root = make_identity_folder()
    Image.fromarray(np.full((6, 5), 255, np.uint8)).convert("1").save(root / "id_0001" / "x.pbm")
    Image.fromarray(np.zeros((6, 5, 3), np.uint8)).save(root / "id_0001" / "y.pnm", "PPM")
    ds = IdentityFolder(root)
    assert len(ds) == 4 * 3 + 2
    image = ds[ds.samples.index(root / "id_0001" / "x.pbm")]["image"]
    assert image.shape == (3, 6, 5) and int(image.min()) == 255


# ------------------------------------------------------------- identity-disjoint splits


def _check_split(ds: IdentityFolder) -> None:
    assert ds.classes == sorted(ds.classes)
    assert sorted(set(ds.targets)) == list(range(ds.num_classes))  # labels contiguous
    assert all(p.parent.name == ds.classes[t] for p, t in zip(ds.samples, ds.targets, strict=True))


def test_split_is_identity_disjoint_and_covers_all(identity_folder_root: Path) -> None:
    every = IdentityFolder(identity_folder_root)
    train = IdentityFolder(identity_folder_root, "train", val_fraction=0.25)
    val = IdentityFolder(identity_folder_root, split="val", val_fraction=0.25)
    assert val.num_classes == 2 and train.num_classes == 6
    assert set(train.classes).isdisjoint(val.classes)
    assert sorted(train.classes + val.classes) == every.classes
    assert sorted(train.samples + val.samples) == sorted(every.samples)
    for ds in (train, val):
        _check_split(ds)
    # Labels are re-numbered within the split: the first val identity is label 0.
    assert val.targets == [0] * 6 + [1] * 6 and val[7]["label"].item() == 1
    # The default val_fraction of 0.1 still holds out one identity of eight.
    assert IdentityFolder(identity_folder_root, split="val").num_classes == 1


def test_split_is_deterministic_and_seeded(identity_folder_root: Path) -> None:
    def val_classes(seed: int) -> list[str]:
        return IdentityFolder(
            identity_folder_root, split="val", val_fraction=0.25, split_seed=seed
        ).classes

    # Pinned: a change of algorithm would silently move users' identities between splits.
    assert val_classes(0) == ["id_0006", "id_0007"]
    assert val_classes(1) == ["id_0003", "id_0004"]
    assert val_classes(0) == val_classes(0)
    names = [f"id_{i:04d}" for i in range(8)]
    assert split_identities(names, 0.25, seed=0) == (
        ["id_0000", "id_0001", "id_0002", "id_0003", "id_0004", "id_0005"],
        ["id_0006", "id_0007"],
    )
    assert split_identities(names[::-1], 0.25, seed=0) == split_identities(names, 0.25, seed=0)


@pytest.mark.slow  # a fresh interpreter imports torch: seconds
def test_split_is_the_same_in_another_process() -> None:
    # Python's str hash is salted per process; the split must not depend on it.
    code = (
        "from lightning_deepvision.datasets.identity_folder import split_identities;"
        "print(split_identities([f's{i}' for i in range(1, 41)], 0.1, 0)[1])"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "['s1', 's18', 's29', 's6']"
    assert str(split_identities([f"s{i}" for i in range(1, 41)], 0.1, 0)[1]) == out.stdout.strip()


def test_split_sizes_follow_the_rounding_rule() -> None:
    names = [f"p{i}" for i in range(10)]
    for fraction, expected in [(0.01, 1), (0.1, 1), (0.25, 2), (0.26, 3), (0.5, 5), (0.9, 9)]:
        train, val = split_identities(names, fraction)
        assert len(val) == expected and len(train) == 10 - expected
        assert sorted(train + val) == names
    assert split_identities(names, 0.0) == (names, [])


def test_split_with_identities_and_min_images(make_identity_folder: Callable[..., Path]) -> None:
    root = make_identity_folder(num_identities=6)
    for f in sorted((root / "id_0002").iterdir())[:2]:
        f.unlink()
    subset = ["id_0005", "id_0002", "id_0000", "id_0004", "id_0001"]
    kept = ["id_0000", "id_0001", "id_0004", "id_0005"]  # id_0002 has 1 image, id_0003 not asked
    expected_train, expected_val = split_identities(kept, 0.5, seed=3)
    splits = {
        split: IdentityFolder(
            root,
            split=split,
            identities=subset,
            min_images_per_identity=2,
            val_fraction=0.5,
            split_seed=3,
        )
        for split in ("train", "val")
    }
    assert splits["train"].classes == expected_train and splits["val"].classes == expected_val
    assert sorted(expected_train + expected_val) == kept
    for ds in splits.values():
        _check_split(ds)
        assert len(ds) == 3 * ds.num_classes
    # split="all" keeps the order of `identities`, exactly as before.
    every = IdentityFolder(root, identities=subset, min_images_per_identity=2, val_fraction=0.5)
    assert every.classes == ["id_0005", "id_0000", "id_0004", "id_0001"]


def test_val_fraction_zero_trains_on_everyone(identity_folder_root: Path) -> None:
    train = IdentityFolder(identity_folder_root, split="train", val_fraction=0.0)
    assert train.classes == IdentityFolder(identity_folder_root).classes
    with pytest.raises(ValueError, match=r"'val' empty.*val_fraction > 0"):
        IdentityFolder(identity_folder_root, split="val", val_fraction=0.0)


def test_split_errors(identity_folder_root: Path) -> None:
    with pytest.raises(ValueError, match=r"split must be one of \['all', 'train', 'val'\]"):
        IdentityFolder(identity_folder_root, split="test")  # type: ignore[arg-type]
    for fraction in (-0.1, 1.0, 1.5):
        with pytest.raises(ValueError, match=r"val_fraction must be in \[0, 1\)"):
            IdentityFolder(identity_folder_root, val_fraction=fraction)
        with pytest.raises(ValueError, match="val_fraction"):
            split_identities(["a", "b"], fraction)
    # One identity cannot be split; nor can 8 with 0.95 of them (round(7.6) = 8) in val.
    for split in ("train", "val"):
        with pytest.raises(ValueError, match=r"1 identity under .*'train' empty"):
            IdentityFolder(identity_folder_root, split=split, identities=["id_0003"])
        with pytest.raises(ValueError, match=r"8 identities under .* 8 in 'val' and 0 in 'train'"):
            IdentityFolder(identity_folder_root, split=split, val_fraction=0.95)
