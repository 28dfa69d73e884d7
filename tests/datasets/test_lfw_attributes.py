"""LFW attributes: the file format, the join to the image tree, CelebA names, bad input."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch
from torchvision import tv_tensors

from lightning_deepvision.datasets.errors import (
    DatasetNotFoundError,
    MalformedAnnotationError,
    MissingImageError,
)
from lightning_deepvision.datasets.lfw_attributes import (
    LFW_ATTRIBUTE_NAMES,
    LFWAttributes,
    celeba_columns,
    read_lfw_attributes,
    shared_with_celeba,
)
from lightning_deepvision.testing.lfw import lfw_person_name
from lightning_deepvision.testing.lfw_attributes import write_lfw_attributes


@pytest.fixture(scope="module")
def lfwa_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_lfw_attributes(tmp_path_factory.mktemp("lfwa") / "lfw", num_people=4)


@pytest.fixture
def damaged(lfwa_root: Path, tmp_path: Path) -> Path:
    shutil.copytree(lfwa_root, tmp_path / "lfw")
    return tmp_path / "lfw"


def test_file_format_and_celeba_names(lfwa_root: Path) -> None:
    names, people, scores, lines = read_lfw_attributes(lfwa_root / "lfw_attributes.txt")
    assert tuple(names) == LFW_ATTRIBUTE_NAMES and len(names) == 73
    assert people[0] == (lfw_person_name(0), 1) and lines[0] == 3  # after two comment lines
    assert scores.shape == (8, 73) and scores.dtype == torch.float32
    shared = shared_with_celeba(names)
    assert {"Male", "Smiling", "5_o_Clock_Shadow", "Young", "Wearing_Necktie"} <= set(shared)
    assert "Attractive" not in shared and len(shared) == 39
    assert names[celeba_columns(names, ["Young"])[0]] == "Youth"
    with pytest.raises(ValueError, match="Attractive"):
        celeba_columns(names, ["Attractive"])


def test_samples_binarise_the_scores_at_zero(lfwa_root: Path) -> None:
    dataset = LFWAttributes(lfwa_root, attribute_names=["Male", "Smiling"])
    assert len(dataset) == 8
    sample = dataset[3]
    assert isinstance(sample["image"], tv_tensors.Image) and sample["image"].shape == (3, 250, 250)
    assert torch.equal(sample["attributes"], (sample["scores"] > 0).long())
    names, _, scores, _ = read_lfw_attributes(lfwa_root / "lfw_attributes.txt")
    torch.testing.assert_close(sample["scores"], scores[3, [0, names.index("Smiling")]])
    train, test = (LFWAttributes(lfwa_root, s, train_images=5) for s in ("train", "test"))
    assert (len(train), len(test)) == (5, 3)


def test_not_found(tmp_path: Path) -> None:
    with pytest.raises(DatasetNotFoundError, match=r"lfw_attributes\.txt"):
        LFWAttributes(tmp_path)


def test_row_with_the_wrong_field_count(damaged: Path) -> None:
    path = damaged / "lfw_attributes.txt"
    lines = path.read_text().splitlines()
    lines[4] = lines[4].rsplit("\t", 1)[0]
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(MalformedAnnotationError, match=r"lfw_attributes.txt:5: expected"):
        LFWAttributes(damaged)


def test_score_that_is_not_a_number(damaged: Path) -> None:
    path = damaged / "lfw_attributes.txt"
    lines = path.read_text().splitlines()
    fields = lines[3].split("\t")
    fields[5] = "high"
    lines[3] = "\t".join(fields)
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(MalformedAnnotationError, match=r"lfw_attributes.txt:4: .*real-valued"):
        LFWAttributes(damaged)


def test_row_whose_image_is_missing(damaged: Path) -> None:
    name = lfw_person_name(1)
    (damaged / "lfw" / name / f"{name}_0002.jpg").unlink()
    with pytest.raises(MissingImageError, match=r"lfw_attributes.txt:6"):
        LFWAttributes(damaged)
