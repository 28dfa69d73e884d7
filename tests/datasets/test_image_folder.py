from __future__ import annotations

import pickle
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torchvision import tv_tensors
from torchvision.transforms import v2

from lightning_deepvision.datasets import image_folder as image_folder_module
from lightning_deepvision.datasets.errors import (
    CorruptImageError,
    DatasetNotFoundError,
    MissingImageError,
)
from lightning_deepvision.datasets.image_folder import (
    ClassSetMismatchError,
    ImageFolderDataset,
    ImageIndex,
    decode_image_file,
)
from lightning_deepvision.datasets.image_io import read_image
from lightning_deepvision.testing import write_image_folder

CLASSES = ["class_00", "class_01", "class_02"]


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Read-only: 3 classes, train 4 / val 2 / test 1 per class, jpg, png and pgm mixed."""
    return write_image_folder(
        tmp_path_factory.mktemp("folder") / "data",
        images_per_class={"train": 4, "val": 2, "test": 1},
        image_size=(30, 20),
        ext=("jpg", "png", "pgm"),
    )


def copy_of(tree: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(tree, tmp_path / "copy"))


def test_samples_and_attributes(tree: Path) -> None:
    ds = ImageFolderDataset(tree, "train")
    assert len(ds) == 12 and ds.num_classes == 3 and ds.classes == CLASSES
    assert ds.targets.tolist() == [i // 4 for i in range(12)]
    assert ds.path(5) == tree / "train" / "class_01" / "001.pgm"  # formats cycle file by file
    sample = ds[5]
    assert set(sample) == {"image", "label"}
    assert isinstance(sample["image"], tv_tensors.Image)
    assert sample["image"].dtype == torch.uint8 and sample["image"].shape == (3, 30, 20)
    assert sample["label"].dtype == torch.int64 and sample["label"].item() == 1
    assert [len(ImageFolderDataset(tree, s)) for s in ("val", "test")] == [6, 3]


def test_every_format_decodes_to_three_channels(tree: Path) -> None:
    ds = ImageFolderDataset(tree, "train")
    suffixes = {ds.path(i).suffix for i in range(len(ds))}
    assert suffixes == {".jpg", ".png", ".pgm"}
    for i in range(len(ds)):
        image, reference = ds[i]["image"], read_image(ds.path(i))
        assert image.shape == (3, 30, 20)
        # PNG and PGM are lossless; both JPEG decoders are libjpeg(-turbo) at default settings.
        assert (image.int() - reference.int()).abs().max() <= 1
        if ds.path(i).suffix == ".pgm":
            assert torch.equal(image[0], image[1]) and torch.equal(image[1], image[2])


def test_jpeg_uses_torchvision(tree: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_pil(*args: object, **kwargs: object) -> None:
        raise AssertionError("PIL used")

    monkeypatch.setattr(image_folder_module, "read_image", no_pil)
    ds = ImageFolderDataset(tree, "train")
    assert ds[0]["image"].shape == (3, 30, 20)  # jpg
    with pytest.raises(AssertionError, match="PIL used"):
        ds[1]  # png: torchvision 0.29's PNG decoder crashes on corrupt data, PIL reads PNG
    with pytest.raises(AssertionError, match="PIL used"):
        ds[2]  # pgm: torchvision does not read PNM


def test_construction_does_not_decode(tree: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(*args: object, **kwargs: object) -> None:
        raise AssertionError("decoded")

    monkeypatch.setattr(image_folder_module, "decode_image_file", fail)
    ds = ImageFolderDataset(tree, "val")
    assert len(ds) == 6
    with pytest.raises(AssertionError, match="decoded"):
        ds[0]


def test_transforms_receive_the_sample_dict(tree: Path) -> None:
    transforms = v2.Compose([v2.Resize((8, 8), antialias=True), v2.ToDtype(torch.float32, True)])
    sample = ImageFolderDataset(tree, "val", transforms=transforms)[3]
    assert sample["image"].shape == (3, 8, 8) and sample["image"].dtype == torch.float32
    assert sample["label"].item() == 1


def test_hidden_and_other_files_are_ignored(tree: Path, tmp_path: Path) -> None:
    root = copy_of(tree, tmp_path)
    (root / "train" / "class_00" / ".hidden.jpg").write_bytes(b"x")
    (root / "train" / "class_00" / "notes.txt").write_text("not an image")
    for split in ("train", "val", "test"):
        (root / split / ".cache").mkdir()
    ds = ImageFolderDataset(root, "train")
    assert ds.classes == CLASSES and len(ds) == 12


def test_extensions_filter(tree: Path) -> None:
    ds = ImageFolderDataset(tree, "train", extensions=(".PNG",))
    assert len(ds) == 4 and all(ds.path(i).suffix == ".png" for i in range(4))


def test_index_is_compact_and_pickles_small(tree: Path) -> None:
    ds = ImageFolderDataset(tree, "train")
    assert ds.index.bytes_per_sample <= 200
    assert ds.index.offsets.dtype == np.uint32 and ds.index.labels.dtype == np.int16
    clone = pickle.loads(pickle.dumps(ds))
    assert [clone.path(i) for i in range(12)] == [ds.path(i) for i in range(12)]
    assert torch.equal(clone[7]["image"], ds[7]["image"])
    targets = ds.targets
    targets[0] = 2  # a copy: the dataset keeps its labels
    assert targets.dtype == np.int64 and ds[0]["label"].item() == 0 == ds.targets[0]


def test_image_index_round_trip_with_non_ascii_names() -> None:
    paths = ["a/1.jpg", "ü/straße.jpg", "", "b/日本.png"]
    index = ImageIndex(paths, [0, 1, 1, 40_000], num_classes=40_001)
    assert [index.path(i) for i in range(4)] == paths
    assert [index.label(i) for i in range(4)] == [0, 1, 1, 40_000]
    assert index.labels.dtype == np.int32
    with pytest.raises(ValueError, match="4 paths but 3 labels"):
        ImageIndex(paths, [0, 1, 2], 3)


# -- errors -----------------------------------------------------------------------------------
def test_missing_root_or_split(tmp_path: Path, tree: Path) -> None:
    with pytest.raises(DatasetNotFoundError, match="nowhere"):
        ImageFolderDataset(tmp_path / "nowhere")
    with pytest.raises(DatasetNotFoundError, match=r"holdout.*Found the splits \['train', 'val'"):
        ImageFolderDataset(tree, "holdout")


def test_class_folders_differing_between_splits(tree: Path, tmp_path: Path) -> None:
    root = copy_of(tree, tmp_path)
    (root / "val" / "class_02").rename(root / "val" / "class_99")
    for split in ("train", "val"):
        with pytest.raises(
            ClassSetMismatchError, match=r"only in the first \[class_(02|99)\]"
        ) as info:
            ImageFolderDataset(root, split)
        assert {info.value.first.name, info.value.second.name} == {"train", "val"}
        assert {*info.value.only_first, *info.value.only_second} == {"class_02", "class_99"}
    shutil.rmtree(root / "val")
    (root / "test" / "class_00").rename(root / "test" / "class_77")
    with pytest.raises(ClassSetMismatchError, match=r"test'.*only in the second \[class_77\]"):
        ImageFolderDataset(root, "train")  # the test split is compared too


def test_empty_class_folder_keeps_the_labels(tree: Path, tmp_path: Path) -> None:
    root = copy_of(tree, tmp_path)
    for file in (root / "test" / "class_01").iterdir():
        file.unlink()
    ds = ImageFolderDataset(root, "test")
    assert ds.classes == CLASSES and ds.targets.tolist() == [0, 2]


def test_no_image_in_class_folders(tmp_path: Path) -> None:
    (tmp_path / "train" / "cat").mkdir(parents=True)
    (tmp_path / "train" / "stray.jpg").write_bytes(b"")
    with pytest.raises(DatasetNotFoundError, match=r"No image.*1 image\(s\) directly in it"):
        ImageFolderDataset(tmp_path, "train")


def test_corrupt_and_truncated_images_name_the_file(tree: Path, tmp_path: Path) -> None:
    root = copy_of(tree, tmp_path)
    ds = ImageFolderDataset(root, "train")
    jpeg, png = ds.path(0), ds.path(1)
    data = jpeg.read_bytes()
    jpeg.write_bytes(data[: len(data) // 2])
    with pytest.raises(CorruptImageError, match=r"000\.jpg.*(?i:truncated)"):
        ds[0]
    png.write_bytes(b"\x89PNG\r\n\x1a\n not really")
    with pytest.raises(CorruptImageError, match=r"001\.png"):
        ds[1]
    jpeg.write_bytes(b"")
    with pytest.raises(CorruptImageError, match=r"000\.jpg.*empty file"):
        ds[0]
    jpeg.unlink()
    with pytest.raises(FileNotFoundError, match=r"000\.jpg"):
        ds[0]


def test_decode_image_file_cases(tmp_path: Path) -> None:
    rgb = np.random.default_rng(0).integers(0, 256, (12, 10, 3), dtype=np.uint8)
    Image.fromarray(rgb).convert("CMYK").save(tmp_path / "cmyk.jpg")
    Image.fromarray(rgb).save(tmp_path / "png_named.JPEG", format="PNG")  # as in ImageNet
    cmyk = decode_image_file(tmp_path / "cmyk.jpg")
    assert cmyk.shape == (3, 12, 10)
    assert (cmyk.int() - read_image(tmp_path / "cmyk.jpg").int()).abs().max() <= 1
    assert torch.equal(
        decode_image_file(tmp_path / "png_named.JPEG"), torch.from_numpy(rgb).permute(2, 0, 1)
    )
    with pytest.raises(MissingImageError, match=r"list\.txt:3.*gone\.jpg"):
        decode_image_file(tmp_path / "gone.jpg", referenced_by="list.txt:3")
    (tmp_path / "dir.jpg").mkdir()
    with pytest.raises(CorruptImageError, match="directory"):
        decode_image_file(tmp_path / "dir.jpg")
