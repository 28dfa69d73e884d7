"""ImageFiles: every image under a folder, any depth, with its path."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torchvision import tv_tensors

from lightning_deepvision.datasets.errors import CorruptImageError, DatasetNotFoundError
from lightning_deepvision.datasets.image_files import ImageFiles
from lightning_deepvision.testing import save_image, write_identity_folder


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two levels of folders, loose images at the top, a hidden file and a text file."""
    root = tmp_path_factory.mktemp("images")
    write_identity_folder(root / "people", num_identities=2, images_per_identity=2)
    image = torch.full((3, 20, 16), 100, dtype=torch.uint8)
    save_image(image, root / "b.png")
    save_image(image, root / "a.PGM")
    (root / "people" / "id_0001" / "deeper").mkdir()
    save_image(image, root / "people" / "id_0001" / "deeper" / "x.bmp")
    save_image(image, root / ".hidden.png")
    (root / "notes.txt").write_text("not an image")
    return root


def test_lists_every_image_sorted_folder_by_folder(folder: Path) -> None:
    dataset = ImageFiles(folder)
    assert dataset.files == [
        "a.PGM",
        "b.png",
        "people/id_0000/000.jpg",
        "people/id_0000/001.jpg",
        "people/id_0001/000.jpg",
        "people/id_0001/001.jpg",
        "people/id_0001/deeper/x.bmp",
    ]
    assert len(dataset) == 7


def test_sample_is_image_and_path(folder: Path) -> None:
    dataset = ImageFiles(folder)
    sample = dataset[0]
    assert set(sample) == {"image", "path"}
    assert isinstance(sample["image"], tv_tensors.Image)
    assert sample["image"].shape == (3, 20, 16) and sample["image"].dtype == torch.uint8
    assert sample["path"] == str(folder / "a.PGM")
    assert dataset[6]["path"] == str(folder / "people/id_0001/deeper/x.bmp")


def test_transforms_receive_the_sample_dict(folder: Path) -> None:
    seen: list[set[str]] = []

    def transform(sample: dict[str, object]) -> dict[str, object]:
        seen.append(set(sample))
        return {**sample, "extra": 1}

    assert ImageFiles(folder, transforms=transform)[1]["extra"] == 1
    assert seen == [{"image", "path"}]


def test_extensions_filter(folder: Path) -> None:
    assert ImageFiles(folder, extensions=(".PNG",)).files == ["b.png"]


def test_missing_folder_names_it(tmp_path: Path) -> None:
    with pytest.raises(DatasetNotFoundError, match="nowhere"):
        ImageFiles(tmp_path / "nowhere")


def test_folder_without_images_says_so(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "readme.txt").write_text("x")
    with pytest.raises(DatasetNotFoundError, match="no image file"):
        ImageFiles(tmp_path)


def test_corrupt_image_is_named(tmp_path: Path) -> None:
    (tmp_path / "broken.jpg").write_bytes(b"not a jpeg at all")
    with pytest.raises(CorruptImageError, match=r"broken\.jpg"):
        ImageFiles(tmp_path)[0]
