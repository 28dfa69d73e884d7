"""LFWParts over a tiny tree written by ``testing.write_lfw_parts``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torchvision import tv_tensors

from lightning_deepvision.datasets import (
    DatasetNotFoundError,
    InvalidMaskError,
    LFWParts,
    MalformedAnnotationError,
    MissingImageError,
)
from lightning_deepvision.datasets.lfw_parts import LFW_PARTS_GT_DIR, LFW_PARTS_LABELS
from lightning_deepvision.testing import lfw_person_name, write_lfw_parts


@pytest.fixture(scope="module")
def parts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Read-only: tests that damage data write their own copy."""
    return write_lfw_parts(tmp_path_factory.mktemp("parts") / "lfw", counts=(2, 1, 1))


def test_splits_lengths_and_sample(parts: Path) -> None:
    lengths = {split: len(LFWParts(parts, split)) for split in ("train", "val", "test")}
    assert lengths == {"train": 2, "val": 1, "test": 1}
    dataset = LFWParts(parts, "train")
    assert dataset.class_names == LFW_PARTS_LABELS == ("background", "skin", "hair")
    sample = dataset[1]
    assert isinstance(sample["image"], tv_tensors.Image) and sample["image"].shape == (3, 250, 250)
    assert isinstance(sample["mask"], tv_tensors.Mask) and sample["mask"].dtype == torch.int64
    assert sample["mask"].shape == (250, 250)
    # Outside the central face square everything is background; inside, skin and hair.
    mask = sample["mask"].as_subclass(torch.Tensor)
    assert int(mask[:60].max()) == 0 and set(mask[62:188, 62:188].unique().tolist()) >= {1, 2}
    assert sample["path"].endswith(
        f"lfw_funneled/{lfw_person_name(0)}/{lfw_person_name(0)}_0002.jpg"
    )


def test_colours_decode_to_labels(parts: Path, tmp_path: Path) -> None:
    truth = parts / LFW_PARTS_GT_DIR / f"{lfw_person_name(0)}_0001.ppm"
    pixels = torch.from_numpy(np.array(Image.open(truth)))
    mask = LFWParts(parts, "train")[0]["mask"]
    for label, colour in enumerate(((0, 0, 255), (0, 255, 0), (255, 0, 0))):
        where = (pixels == torch.tensor(colour, dtype=torch.uint8)).all(-1)
        assert bool((mask[where] == label).all()) and bool(where.any())


def _copy(parts: Path, tmp_path: Path) -> Path:
    import shutil

    return Path(shutil.copytree(parts, tmp_path / "copy"))


def test_not_found_messages(parts: Path, tmp_path: Path) -> None:
    with pytest.raises(DatasetNotFoundError, match="LFW Part Labels not found") as info:
        LFWParts(tmp_path / "nowhere")
    assert "part_labels" in str(info.value)
    root = _copy(parts, tmp_path)
    (root / "parts_validation.txt").unlink()
    with pytest.raises(DatasetNotFoundError, match=r"parts_validation\.txt"):
        LFWParts(root, "val")


def test_malformed_list_line(parts: Path, tmp_path: Path) -> None:
    root = _copy(parts, tmp_path)
    (root / "parts_test.txt").write_text(f"{lfw_person_name(1)} one\n")
    with pytest.raises(MalformedAnnotationError, match=r"parts_test.txt:1: expected '<Name> "):
        LFWParts(root, "test")


def test_missing_image_or_ground_truth(parts: Path, tmp_path: Path) -> None:
    root = _copy(parts, tmp_path)
    name = lfw_person_name(0)
    (root / LFW_PARTS_GT_DIR / f"{name}_0002.ppm").unlink()
    with pytest.raises(MissingImageError, match=rf"parts_train.txt:2: refers to .*{name}_0002.ppm"):
        LFWParts(root, "train")
    (root / "lfw_funneled" / name / f"{name}_0001.jpg").unlink()
    with pytest.raises(MissingImageError, match=rf"parts_train.txt:1: refers to .*{name}_0001.jpg"):
        LFWParts(root, "train")


def test_unknown_colour_and_wrong_size_name_the_file(parts: Path, tmp_path: Path) -> None:
    root = _copy(parts, tmp_path)
    truth = root / LFW_PARTS_GT_DIR / f"{lfw_person_name(0)}_0001.ppm"
    pixels = np.array(Image.open(truth))
    pixels[5, 7] = (255, 255, 0)
    truth.unlink()
    Image.fromarray(pixels).save(truth)
    dataset = LFWParts(root, "train")
    with pytest.raises(InvalidMaskError, match=r"_0001.ppm.*1 pixels.*x=7, y=5.*\(255, 255, 0\)"):
        dataset[0]
    truth.unlink()
    Image.new("RGB", (250, 200), (0, 0, 255)).save(truth)
    with pytest.raises(InvalidMaskError, match=r"_0001.ppm.*200x250.*_0001.jpg.*250x250"):
        dataset[0]
