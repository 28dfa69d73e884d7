"""scikit-learn's digits at 28×28 and MNIST idx files (written at test time by write_mnist)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torchvision import tv_tensors

from lightning_deepvision.datasets.digits import MNIST, Digits
from lightning_deepvision.datasets.errors import (
    CorruptImageError,
    DatasetNotFoundError,
    MalformedAnnotationError,
)
from lightning_deepvision.testing.digits import write_idx, write_mnist


def test_digits_splits_are_disjoint_stratified_and_deterministic() -> None:
    splits = {s: Digits(s) for s in ("train", "val", "test")}
    assert sum(len(d) for d in splits.values()) == 1797
    rows = [set(d._indices().tolist()) for d in splits.values()]
    assert not (rows[0] & rows[1]) and not (rows[0] & rows[2]) and not (rows[1] & rows[2])
    assert torch.equal(Digits("val")._indices(), splits["val"]._indices())
    assert not torch.equal(Digits("val", seed=1)._indices(), splits["val"]._indices())
    for digits in splits.values():
        counts = torch.bincount(torch.tensor(digits.targets), minlength=10)
        assert int(counts.min()) >= 0.8 * len(digits) / 10  # every class in every split
    sample = splits["train"][0]
    assert isinstance(sample["image"], tv_tensors.Image)
    assert sample["image"].shape == (1, 28, 28) and sample["image"].dtype == torch.float32
    assert float(sample["image"].min()) >= 0.0 and float(sample["image"].max()) <= 1.0
    assert sample["label"].dtype == torch.int64 and splits["train"].num_classes == 10


def test_digits_upsampling_keeps_the_8x8_digit() -> None:
    from sklearn.datasets import load_digits

    digits = Digits("test", image_size=16)
    row = int(digits._indices()[0])
    small = torch.from_numpy(load_digits().images[row]).float() / 16
    image = digits[0]["image"][0]
    pooled = torch.nn.functional.avg_pool2d(image[None, None], 2)[0, 0]
    assert torch.corrcoef(torch.stack([pooled.flatten(), small.flatten()]))[0, 1] > 0.95
    with pytest.raises(ValueError, match="split must be"):
        Digits("training")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="val_fraction"):
        Digits(val_fraction=0.6, test_fraction=0.5)


def test_mnist_reads_the_idx_files_with_a_validation_tail(tmp_path: Path) -> None:
    root = write_mnist(tmp_path / "mnist", train_images=50, test_images=20)
    train = MNIST(root, "train", val_size=10)
    val = MNIST(root, "val", val_size=10)
    test = MNIST(root, "test")
    assert (len(train), len(val), len(test)) == (40, 10, 20)
    sample = val[0]
    assert sample["image"].shape == (1, 28, 28) and sample["image"].dtype == torch.float32
    full = MNIST(root, "train", val_size=0)
    torch.testing.assert_close(full[40]["image"], sample["image"])
    assert full.targets[40:] == val.targets
    assert len(set(test.targets)) > 5
    with pytest.raises(FileExistsError):
        write_mnist(root)


def test_mnist_in_torchvisions_layout_and_the_not_found_message(tmp_path: Path) -> None:
    write_mnist(tmp_path / "data" / "MNIST" / "raw", train_images=5, test_images=5)
    assert len(MNIST(tmp_path / "data", "test")) == 5
    with pytest.raises(DatasetNotFoundError, match="t10k-images-idx3-ubyte") as error:
        MNIST(tmp_path, "test")
    assert "nothing is downloaded" in str(error.value)
    with pytest.raises(DatasetNotFoundError, match="not found under root"):
        MNIST(tmp_path / "absent")


def test_mnist_bad_files_name_the_file(tmp_path: Path) -> None:
    root = write_mnist(tmp_path / "truncated", train_images=5, test_images=5)
    images = root / "t10k-images-idx3-ubyte"
    images.write_bytes(images.read_bytes()[:-3])
    with pytest.raises(CorruptImageError, match=r"t10k-images-idx3-ubyte.*file has"):
        MNIST(root, "test")
    root = write_mnist(tmp_path / "magic", train_images=5, test_images=5)
    (root / "t10k-labels-idx1-ubyte").write_bytes(b"\x00\x00\x08\x03" + bytes(12))
    with pytest.raises(CorruptImageError, match="magic number"):
        MNIST(root, "test")
    root = write_mnist(tmp_path / "count", train_images=5, test_images=5)
    (root / "t10k-labels-idx1-ubyte").unlink()
    write_idx(root / "t10k-labels-idx1-ubyte", torch.zeros(4, dtype=torch.uint8))
    with pytest.raises(MalformedAnnotationError, match="5 labels, one per image"):
        MNIST(root, "test")
    root = write_mnist(tmp_path / "label", train_images=5, test_images=5)
    (root / "t10k-labels-idx1-ubyte").unlink()
    write_idx(root / "t10k-labels-idx1-ubyte", torch.full((5,), 12, dtype=torch.uint8))
    with pytest.raises(MalformedAnnotationError, match="digit labels 0-9"):
        MNIST(root, "test")[0]
