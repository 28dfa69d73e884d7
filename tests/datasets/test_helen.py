"""HelenParsing over a tiny tree written by ``testing.write_helen``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torchvision import tv_tensors

from lightning_deepvision.datasets import (
    DatasetNotFoundError,
    HelenParsing,
    InvalidMaskError,
    MalformedAnnotationError,
    MissingImageError,
)
from lightning_deepvision.datasets.face_parts import HELEN_LABELS
from lightning_deepvision.datasets.helen import helen_label_path
from lightning_deepvision.datasets.synthetic import render_face
from lightning_deepvision.testing import write_helen
from lightning_deepvision.transforms.parsing import parsing_transforms


@pytest.fixture
def helen(tmp_path: Path) -> Path:
    return write_helen(tmp_path / "helen", counts=(3, 1, 2), image_size=(40, 32))


def test_splits_lengths_and_sample(helen: Path) -> None:
    lengths = {split: len(HelenParsing(helen, split)) for split in ("train", "val", "test")}
    assert lengths == {"train": 3, "val": 1, "test": 2}
    dataset = HelenParsing(helen, "test")
    assert dataset.class_names == HELEN_LABELS and dataset.num_classes == 11
    assert dataset.names == ["1004_1", "1005_1"]
    sample = dataset[1]
    assert isinstance(sample["image"], tv_tensors.Image)
    assert sample["image"].shape == (3, 40, 32) and sample["image"].dtype == torch.uint8
    assert isinstance(sample["mask"], tv_tensors.Mask)
    assert sample["mask"].shape == (40, 32) and sample["mask"].dtype == torch.int64
    # The arg-max of the written maps is exactly the rendered mask of image 5.
    expected = render_face(identity=5, sample=0, size=(40, 32))["mask"]
    assert torch.equal(sample["mask"].as_subclass(torch.Tensor), expected)
    assert int(sample["index"]) == 1


def test_label_map_is_the_argmax_of_the_probability_maps(helen: Path) -> None:
    name = "1000_1"
    # Make the hair map win the top-left pixel with a probability above every other map.
    path = helen_label_path(helen, name, 10)
    pixels = torch.from_numpy(np.array(Image.open(path))).clone()
    pixels[0, 0] = 255
    path.unlink()
    Image.fromarray(pixels.numpy()).save(path)
    assert int(HelenParsing(helen, "train")[0]["mask"][0, 0]) == HELEN_LABELS.index("hair")


def test_transforms_move_image_and_mask_together(helen: Path) -> None:
    dataset = HelenParsing(helen, "train", transforms=parsing_transforms((20, 16)))
    sample = dataset[0]
    assert sample["image"].shape == (3, 20, 16) and sample["image"].dtype == torch.float32
    assert sample["mask"].shape == (20, 16) and sample["mask"].dtype == torch.int64


def test_not_found_names_root_file_and_source(tmp_path: Path, helen: Path) -> None:
    with pytest.raises(DatasetNotFoundError, match="HELEN not found") as info:
        HelenParsing(tmp_path / "nowhere")
    assert "lizhang/projects/face-parsing" in str(info.value)
    (helen / "tuning.txt").unlink()
    with pytest.raises(DatasetNotFoundError, match=r"tuning\.txt"):
        HelenParsing(helen, "val")
    with pytest.raises(ValueError, match="split must be one of"):
        HelenParsing(helen, "exemplars")  # type: ignore[arg-type]


def test_malformed_list_line(helen: Path) -> None:
    (helen / "testing.txt").write_text("1 , 1004_1\n2 1005_1\n")
    with pytest.raises(MalformedAnnotationError, match=r"testing.txt:2: expected '<index> , "):
        HelenParsing(helen, "test")


def test_missing_image_or_label_map_names_the_list_line(helen: Path) -> None:
    (helen / "images" / "1001_1.jpg").unlink()
    with pytest.raises(MissingImageError, match=r"exemplars.txt:2: refers to .*1001_1.jpg"):
        HelenParsing(helen, "train")
    helen_label_path(helen, "1004_1", 7).unlink()
    with pytest.raises(MissingImageError, match=r"testing.txt:1: refers to .*1004_1_lbl07.png"):
        HelenParsing(helen, "test")


def test_label_map_of_another_size_names_both_files(helen: Path) -> None:
    path = helen_label_path(helen, "1003_1", 4)
    path.unlink()
    Image.new("L", (33, 40)).save(path)
    dataset = HelenParsing(helen, "val")
    with pytest.raises(InvalidMaskError, match=r"1003_1_lbl04.png.*40x33.*1003_1.jpg.*40x32"):
        dataset[0]
