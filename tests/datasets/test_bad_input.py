"""Every dataset reader against bad input: corrupt files, odd image modes, bad annotations.

Each layout is written once per module by the public writers and copied for each case, then one
file is damaged. A damaged image must raise the library's error naming that file, or, with
``on_bad_sample="skip"``, be replaced by the next readable sample and reported.
"""

from __future__ import annotations

import inspect
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image

from lightning_deepvision.datasets import (
    CaltechPedestrian,
    CaltechWindows,
    CelebA,
    CorruptImageError,
    DatasetNotFoundError,
    HelenParsing,
    IdentityFolder,
    IdentityPairs,
    ImageFiles,
    ImageFolderDataset,
    ImageNet,
    LFWAttributes,
    LFWPairs,
    LFWParts,
    LFWPeople,
    MalformedAnnotationError,
    MultiPIE,
)
from lightning_deepvision.datasets.bad_samples import SkipsBadSamples, set_bad_sample_policy
from lightning_deepvision.datasets.image_folder import decode_image_file
from lightning_deepvision.datasets.image_io import read_image
from lightning_deepvision.datasets.lfw import lfw_image_path
from lightning_deepvision.testing import (
    write_caltech,
    write_celeba,
    write_helen,
    write_identity_folder,
    write_image_folder,
    write_imagenet,
    write_lfw,
    write_lfw_attributes,
    write_lfw_parts,
    write_multipie,
)


@dataclass(frozen=True)
class Reader:
    """A reader, its writer and where the image of a sample lies."""

    write: Callable[[Path], Any]
    make: Callable[[Path], SkipsBadSamples]
    image_of: Callable[[Any, int], Path]
    key: str = "image"  # the sample entry decoded from image_of
    sized: bool = False  # a mask must keep its image's size (no EXIF rotation case)


def _path_entry(ds: Any, index: int) -> Path:
    return Path(ds.get_sample(index)["path"])


READERS: dict[str, Reader] = {
    "identity_folder": Reader(
        lambda d: write_identity_folder(d, 3, 3, image_size=(24, 20)),
        IdentityFolder,
        lambda ds, i: ds.samples[i],
    ),
    "image_folder": Reader(
        lambda d: write_image_folder(d, images_per_class={"train": 3}, image_size=(16, 16)),
        lambda r: ImageFolderDataset(r, "train"),
        lambda ds, i: ds.path(i),
    ),
    "image_files": Reader(
        lambda d: write_image_folder(d, images_per_class={"train": 3}, image_size=(16, 16)),
        ImageFiles,
        lambda ds, i: ds.path(i),
    ),
    "imagenet_devkit": Reader(
        lambda d: write_imagenet(d, num_classes=2, val_images_per_class=2, image_size=(16, 16)),
        lambda r: ImageNet(r, "val"),
        lambda ds, i: ds.path(i),
    ),
    "imagenet_kaggle": Reader(
        lambda d: write_imagenet(d, "kaggle", num_classes=2, image_size=(16, 16)),
        lambda r: ImageNet(r, "val"),
        lambda ds, i: ds.path(i),
    ),
    "lfw_pairs": Reader(
        lambda d: write_lfw(d, num_people=4, images_per_person=2, num_folds=2, pairs_per_fold=2),
        LFWPairs,
        lambda ds, i: ds.pairs[i][0],
        key="image1",
    ),
    "lfw_people": Reader(
        lambda d: write_lfw(d, num_people=4, images_per_person=2, num_folds=2, pairs_per_fold=2),
        LFWPeople,
        lambda ds, i: ds.samples[i],
    ),
    "celeba": Reader(
        lambda d: write_celeba(d, num_identities=3, images_per_identity=2, image_size=(40, 32)),
        lambda r: CelebA(r, "train", target=["attributes", "identity", "bbox", "landmarks"]),
        lambda ds, i: ds.image_path(i),
    ),
    "lfw_attributes": Reader(
        lambda d: write_lfw_attributes(d, num_people=4, images_per_person=2),
        LFWAttributes,
        lambda ds, i: lfw_image_path(ds.image_dir, *ds.people[i]),
    ),
    "helen": Reader(
        lambda d: write_helen(d, counts=(3, 1, 1), image_size=(32, 24)),
        HelenParsing,
        lambda ds, i: ds.root / "images" / f"{ds.names[i]}.jpg",
        sized=True,
    ),
    "lfw_parts": Reader(
        lambda d: write_lfw_parts(d, counts=(3, 1, 1)),
        LFWParts,
        lambda ds, i: ds.items[i][0],
        sized=True,
    ),
    "multipie": Reader(
        lambda d: write_multipie(d, subjects=(1, 2), cameras=("05_1", "14_0"), shots=(0, 7)),
        MultiPIE,
        _path_entry,
    ),
}


@pytest.fixture(scope="module")
def layouts(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str, Path], Path]:
    """``copy(name, into)``: a fresh copy of reader ``name``'s layout (written once)."""
    written: dict[str, Path] = {}
    base = tmp_path_factory.mktemp("layouts")

    def copy(name: str, into: Path) -> Path:
        if name not in written:
            written[name] = base / name
            READERS[name].write(written[name])
        shutil.copytree(written[name], into / name)
        return into / name

    return copy


def _equal(a: dict[str, Any], b: dict[str, Any]) -> bool:
    return a.keys() == b.keys() and all(
        torch.equal(a[k], b[k]) for k in a if isinstance(a[k], torch.Tensor)
    )


def _next_readable(ds: SkipsBadSamples, index: int) -> int:
    for offset in range(len(ds)):
        try:
            ds.get_sample((index + offset) % len(ds))
        except CorruptImageError:
            continue
        return (index + offset) % len(ds)
    raise AssertionError("no readable sample")


CORRUPTIONS: dict[str, Callable[[bytes], bytes]] = {
    "zero_bytes": lambda data: b"",
    "truncated": lambda data: data[: len(data) // 2],
    "not_an_image": lambda data: b"<html>404 Not Found</html>\n" * 4,
}


@pytest.mark.parametrize("kind", list(CORRUPTIONS))
@pytest.mark.parametrize("name", list(READERS))
def test_corrupt_image_raises_or_is_skipped(
    layouts: Callable[[str, Path], Path], tmp_path: Path, name: str, kind: str
) -> None:
    reader = READERS[name]
    ds = reader.make(layouts(name, tmp_path))
    file = reader.image_of(ds, 0)
    file.write_bytes(CORRUPTIONS[kind](file.read_bytes()))
    with pytest.raises(CorruptImageError) as info:
        ds[0]
    assert Path(info.value.path).resolve() == file.resolve()
    assert str(file.name) in str(info.value)

    replacement = _next_readable(ds, 0)
    ds.on_bad_sample = "skip"
    assert _equal(ds[0], ds.get_sample(replacement))
    assert ds.skipped_count >= 1
    assert str(file) in ds.skipped_files
    assert f"skipped {ds.skipped_count} unreadable" in ds.skip_summary()
    ds[0]  # known unreadable samples are jumped over, not counted twice
    assert ds.skipped_count == replacement  # the samples before the replacement, each once


def _modes(size: tuple[int, int]) -> dict[str, tuple[Callable[[Path], None], np.ndarray]]:
    """Mode name -> (write the file, expected ``HxWx3`` pixels)."""
    h, w = size
    rng = np.random.default_rng(1)
    rgb = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    grey = rng.integers(0, 256, (h, w), dtype=np.uint8)
    palette = Image.fromarray(rgb).quantize(16)
    expected_palette = np.array(palette.convert("RGB"))
    return {
        "cmyk_jpeg": (
            lambda p: Image.fromarray(rgb).convert("CMYK").save(p, "JPEG", quality=100),
            rgb,
        ),
        "grey_16_bit_png": (
            lambda p: Image.fromarray(grey.astype(np.uint16) * 257).save(p, "PNG"),
            np.repeat(grey[..., None], 3, axis=2),
        ),
        "palette_transparency_png": (
            lambda p: palette.save(p, "PNG", transparency=3),
            expected_palette,
        ),
        "rgba_png": (
            lambda p: Image.fromarray(np.dstack([rgb, grey]), "RGBA").save(p, "PNG"),
            rgb,
        ),
        "grey_alpha_png": (
            lambda p: Image.fromarray(np.dstack([grey, grey[::-1]]), "LA").save(p, "PNG"),
            np.repeat(grey[..., None], 3, axis=2),
        ),
    }


def _exif_rotated(path: Path, rgb: np.ndarray) -> None:
    image = Image.fromarray(rgb)
    exif = image.getexif()
    exif[0x0112] = 6  # "rotate 90° clockwise to display"
    image.save(path, "JPEG", quality=100, exif=exif)


@pytest.mark.parametrize("name", list(READERS))
def test_every_image_mode_decodes_to_rgb(
    layouts: Callable[[str, Path], Path], tmp_path: Path, name: str
) -> None:
    """CMYK, 16-bit, palette and alpha files (under the reader's own file name) decode alike."""
    reader = READERS[name]
    ds = reader.make(layouts(name, tmp_path))
    file = reader.image_of(ds, 0)
    size = tuple(ds.get_sample(0)[reader.key].shape[-2:])
    for mode, (write, expected) in _modes(size).items():
        write(file)
        image = ds[0][reader.key]
        assert image.dtype == torch.uint8 and image.shape == (3, *size), mode
        error = (image.permute(1, 2, 0).int() - torch.from_numpy(expected).int()).abs()
        assert float(error.float().mean()) < (4 if mode == "cmyk_jpeg" else 1e-9), mode
    if not reader.sized:
        rgb = np.zeros((*size, 3), np.uint8)
        rgb[0, 0] = 255  # top-left, which the rotation moves to the top-right
        _exif_rotated(file, rgb)
        image = ds[0][reader.key]
        assert image.shape == (3, size[1], size[0])
        assert int(image[0, 0, -1]) > 200 and int(image[0, 0, 0]) < 50


@pytest.mark.parametrize("decode", [read_image, decode_image_file], ids=["pil", "torchvision"])
def test_both_decoders_agree_on_every_mode(tmp_path: Path, decode: Callable[..., Any]) -> None:
    for mode, (write, expected) in _modes((9, 7)).items():
        path = tmp_path / f"{mode}.{'jpg' if 'jpeg' in mode else 'png'}"
        write(path)
        image = decode(path)
        assert image.shape == (3, 9, 7) and image.dtype == torch.uint8, mode
        error = (image.permute(1, 2, 0).int() - torch.from_numpy(expected).int()).abs()
        assert float(error.float().mean()) < (4 if mode == "cmyk_jpeg" else 1e-9), mode
    rgb = np.random.default_rng(2).integers(0, 256, (9, 7, 3), dtype=np.uint8)
    _exif_rotated(tmp_path / "rotated.jpg", rgb)
    assert decode(tmp_path / "rotated.jpg").shape == (3, 7, 9)
    assert torch.equal(decode(tmp_path / "rotated.jpg"), read_image(tmp_path / "rotated.jpg"))


def test_skip_policy_counts_across_loader_workers(tmp_path: Path) -> None:
    root = write_image_folder(tmp_path / "tree", images_per_class={"train": 4}, image_size=(8, 8))
    ds = ImageFolderDataset(root, "train")
    for index in (1, 6):
        ds.path(index).write_bytes(b"")
    assert set_bad_sample_policy(ds, "skip") == [ds]
    loader = torch.utils.data.DataLoader(ds, batch_size=3, num_workers=2)
    labels = torch.cat([batch["label"] for batch in loader])
    # Each unreadable sample is replaced by the next one: the labels stay the replacements'.
    assert labels.tolist() == [int(ds.targets[i]) for i in (0, 2, 2, 3, 4, 5, 7, 7, 8, 9, 10, 11)]
    assert ds.skipped_count == 2  # counted in the workers, seen here
    assert ds.skipped_files == [str(ds.path(1)), str(ds.path(6))]


def test_every_sample_unreadable_is_an_error(tmp_path: Path) -> None:
    root = write_image_folder(tmp_path / "tree", images_per_class={"train": 1}, image_size=(8, 8))
    ds = ImageFolderDataset(root, "train")
    for index in range(len(ds)):
        ds.path(index).write_bytes(b"")
    ds.on_bad_sample = "skip"
    with pytest.raises(RuntimeError, match=r"every sample .* is unreadable.*empty file"):
        ds[0]
    with pytest.raises(ValueError, match="on_bad_sample must be 'raise' or 'skip'"):
        ds.on_bad_sample = "ignore"


def _lines(path: Path) -> list[bytes]:
    return path.read_bytes().splitlines(keepends=True)


# reader, annotation file (relative to the layout), 1-based line, mutation of that line.
ANNOTATION_CASES: list[tuple[str, str, int, Callable[[bytes], bytes]]] = [
    ("lfw_pairs", "pairs.txt", 2, lambda line: line.rsplit(b"\t", 1)[0] + b"\n"),
    ("lfw_pairs", "pairs.txt", 2, lambda line: line.rstrip(b"\n") + b"\t7\t8\n"),
    ("lfw_pairs", "pairs.txt", 2, lambda line: line.replace(b"\t1\t", b"\tone\t", 1)),
    ("lfw_pairs", "pairs.txt", 3, lambda line: b"\xff\xfe" + line),
    ("lfw_people", "people.txt", 3, lambda line: line.split(b"\t")[0] + b"\n"),
    ("lfw_people", "people.txt", 3, lambda line: b"Caf\xe9_Abara\t2\n"),
    ("celeba", "celeba/list_attr_celeba.txt", 3, lambda line: line.rsplit(b" ", 1)[0] + b"\n"),
    ("celeba", "celeba/list_attr_celeba.txt", 3, lambda line: line.rstrip() + b"  1\n"),
    ("celeba", "celeba/list_attr_celeba.txt", 4, lambda line: line.replace(b" 1", b" x", 1)),
    ("celeba", "celeba/identity_CelebA.txt", 2, lambda line: b"000002.jpg \xff\n"),
    ("celeba", "celeba/list_eval_partition.txt", 1, lambda line: b"000001.jpg\n"),
    ("lfw_attributes", "lfw_attributes.txt", 3, lambda line: line.rsplit(b"\t", 1)[0] + b"\n"),
    ("lfw_attributes", "lfw_attributes.txt", 3, lambda line: line.rstrip() + b"\t0.5\n"),
    ("lfw_attributes", "lfw_attributes.txt", 4, lambda line: b"\xff" + line),
    ("helen", "exemplars.txt", 1, lambda line: b"1 , 1000_1 , extra\n"),
    ("helen", "exemplars.txt", 2, lambda line: b"2 \xff 1001_1\n"),
    ("lfw_parts", "parts_train.txt", 1, lambda line: line.split(b" ")[0] + b"\n"),
    ("lfw_parts", "parts_train.txt", 2, lambda line: line.rstrip() + b" 3\n"),
    ("lfw_parts", "parts_train.txt", 2, lambda line: b"Alice_Abara \xff\n"),
    (
        "imagenet_devkit",
        "ILSVRC2012_devkit_t12/data/ILSVRC2012_validation_ground_truth.txt",
        2,
        lambda line: b"two\n",
    ),
    (
        "imagenet_devkit",
        "ILSVRC2012_devkit_t12/data/ILSVRC2012_validation_ground_truth.txt",
        3,
        lambda line: b"\xff\n",
    ),
    ("imagenet_kaggle", "LOC_val_solution.csv", 2, lambda line: line.split(b",")[0] + b"\n"),
    ("imagenet_kaggle", "LOC_val_solution.csv", 3, lambda line: b"\xff" + line),
]


@pytest.mark.parametrize(
    ("name", "relative", "line", "mutate"),
    ANNOTATION_CASES,
    ids=[f"{c[0]}-{Path(c[1]).name}-{i}" for i, c in enumerate(ANNOTATION_CASES)],
)
def test_malformed_annotation_names_file_and_line(
    layouts: Callable[[str, Path], Path],
    tmp_path: Path,
    name: str,
    relative: str,
    line: int,
    mutate: Callable[[bytes], bytes],
) -> None:
    root = layouts(name, tmp_path)
    path = root / relative
    lines = _lines(path)
    lines[line - 1] = mutate(lines[line - 1])
    path.write_bytes(b"".join(lines))
    with pytest.raises(MalformedAnnotationError) as info:
        READERS[name].make(root)
    assert info.value.path.resolve() == path.resolve()
    assert info.value.line_number == line


@pytest.mark.parametrize("name", list(READERS))
def test_symlinked_root_and_read_only_root(
    layouts: Callable[[str, Path], Path], tmp_path: Path, name: str
) -> None:
    """A root reached through a symbolic link reads the same; nothing is written under it.

    The folders are made read-only, and every entry's size and time compared before and after
    (the comparison is what checks it where the tests run as root, whom chmod does not stop).
    """
    reader = READERS[name]
    real = layouts(name, tmp_path)
    link = tmp_path / "link"
    link.symlink_to(real, target_is_directory=True)

    def state() -> list[tuple[str, int, int]]:
        # Every entry with its size and modification time, the root's own included (a file
        # created or removed under a folder changes the folder's time).
        entries = [real, *real.rglob("*")]
        return sorted(
            (str(p.relative_to(real)), p.stat().st_size, p.stat().st_mtime_ns) for p in entries
        )

    before = state()
    modes = {p: p.stat().st_mode for p in [real, *real.rglob("*")] if p.is_dir()}
    for directory in modes:
        directory.chmod(0o555)
    try:
        through_link, direct = reader.make(link), reader.make(real)
        assert len(through_link) == len(direct) > 0
        assert _equal(through_link[len(direct) - 1], direct[len(direct) - 1])
    finally:
        for directory, mode in modes.items():
            directory.chmod(mode)
    assert state() == before


@pytest.mark.parametrize("name", list(READERS))
def test_empty_folder_names_what_was_expected(tmp_path: Path, name: str) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DatasetNotFoundError) as info:
        READERS[name].make(empty)
    assert str(empty) in str(info.value)


@pytest.mark.parametrize("name", ["naïve_ünïcode", "名前"])
def test_non_ascii_file_names(tmp_path: Path, name: str) -> None:
    root = write_image_folder(tmp_path / "tree", images_per_class={"train": 2}, image_size=(8, 8))
    first = ImageFolderDataset(root, "train").path(0)
    first.rename(first.with_name(f"{name}.jpg"))
    ds = ImageFolderDataset(root, "train")
    assert any(ds.path(i).name == f"{name}.jpg" for i in range(len(ds)))
    assert all(ds[i]["image"].shape == (3, 8, 8) for i in range(len(ds)))


def test_non_utf8_file_name(tmp_path: Path) -> None:
    """A name that is not UTF-8 (e.g. Latin-1 from an old archive) still indexes and reads."""
    root = write_image_folder(tmp_path / "tree", images_per_class={"train": 2}, image_size=(8, 8))
    first = ImageFolderDataset(root, "train").path(0)
    os.rename(os.fsencode(first), os.fsencode(first.parent) + b"/caf\xe9.jpg")
    ds = ImageFolderDataset(root, "train")
    names = [ds.path(i).name for i in range(len(ds))]
    assert os.fsdecode(b"caf\xe9.jpg") in names
    assert all(ds[i]["image"].shape == (3, 8, 8) for i in range(len(ds)))
    ds.path(names.index(os.fsdecode(b"caf\xe9.jpg"))).write_bytes(b"")
    with pytest.raises(CorruptImageError, match="caf"):
        ds[names.index(os.fsdecode(b"caf\xe9.jpg"))]


@pytest.fixture(scope="module")
def caltech(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_caltech(
        tmp_path_factory.mktemp("caltech") / "caltech",
        sets=("set06",),
        num_frames=61,
        frame_size=(24, 32),
    )


def test_caltech_corrupt_frame_raises_or_is_skipped(caltech: Path, tmp_path: Path) -> None:
    root = shutil.copytree(caltech, tmp_path / "caltech")
    ds = CaltechPedestrian(root, "test", setting=None)
    frame = int(ds.get_sample(0)["frame"])
    seq = ds.seq_file(int(ds.get_sample(0)["video"]))
    encoded = seq.read_bytes(frame)
    data = bytearray(seq.path.read_bytes())
    start = data.find(encoded)
    data[start : start + 4] = b"\0\0\0\0"  # the frame's JPEG markers
    seq.path.write_bytes(bytes(data))
    ds = CaltechPedestrian(root, "test", setting=None)
    with pytest.raises(CorruptImageError, match=f"frame {frame}") as info:
        ds[0]
    assert info.value.path == seq.path
    ds.on_bad_sample = "skip"
    assert _equal(ds[0], ds.get_sample(1))
    assert ds.skipped_files == [str(seq.path)]


def test_caltech_reads_a_read_only_root_and_caches_only_where_asked(
    caltech: Path, tmp_path: Path
) -> None:
    root = shutil.copytree(caltech, tmp_path / "caltech")
    before = sorted(str(p.relative_to(root)) for p in root.rglob("*"))
    directories = [root, *(p for p in root.rglob("*") if p.is_dir())]
    for directory in directories:
        directory.chmod(0o555)
    try:
        plain = CaltechPedestrian(root, "test", setting=None)
        cached = CaltechPedestrian(root, "test", setting=None, cache_dir=tmp_path / "cache")
        assert _equal(plain[len(plain) - 1], cached[len(cached) - 1])
    finally:
        for directory in directories:
            directory.chmod(0o755)
    assert sorted(str(p.relative_to(root)) for p in root.rglob("*")) == before
    assert list((tmp_path / "cache").iterdir())  # the frame index went to the chosen directory


def test_data_module_sets_the_skip_policy_and_reports(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from lightning_deepvision.datamodules import ImageFolderDataModule

    root = write_image_folder(
        tmp_path / "tree", images_per_class={"train": 3, "val": 2}, image_size=(8, 8)
    )
    data = ImageFolderDataModule(root, image_size=8, batch_size=2, num_workers=0)
    data.setup("fit")
    assert data.dataset("train").on_bad_sample == "raise"  # the default leaves errors raised
    bad = data.dataset("train").path(1)
    bad.write_bytes(b"")
    data = ImageFolderDataModule(
        root, image_size=8, batch_size=2, num_workers=0, on_bad_sample="skip"
    )
    data.setup("fit")
    assert data.dataset("train").on_bad_sample == data.dataset("val").on_bad_sample == "skip"
    assert sum(len(batch["label"]) for batch in data.train_dataloader()) == 8
    assert data.skipped_samples() == {"train": [str(bad)]}
    with caplog.at_level("WARNING", logger="lightning_deepvision"):
        data.teardown("fit")
    assert (
        "train dataset" in caplog.text and f"skipped 1 unreadable sample(s): {bad}" in caplog.text
    )
    with pytest.raises(ValueError, match="on_bad_sample"):
        ImageFolderDataModule(root, on_bad_sample="ignore")


def test_pairs_replace_the_whole_pair_never_one_image(tmp_path: Path) -> None:
    images = IdentityFolder(write_identity_folder(tmp_path / "ids", 3, 3, image_size=(16, 16)))
    pairs = IdentityPairs(images, num_folds=2)
    first = pairs.pairs[0][0]
    images.samples[first].write_bytes(b"")
    set_bad_sample_policy(images, "skip")  # even when the images skip, a pair does not mix
    with pytest.raises(CorruptImageError):
        pairs[0]
    assert set_bad_sample_policy(pairs, "skip") == [pairs]  # the pairs, not their images
    replacement = _next_readable(pairs, 0)
    sample = pairs[0]
    assert _equal(sample, pairs.get_sample(replacement))
    assert int(sample["same"]) == int(pairs.pairs[replacement][2])


@pytest.mark.parametrize(
    "cls",
    [
        IdentityFolder,
        ImageFolderDataset,
        ImageNet,
        LFWPairs,
        LFWPeople,
        CelebA,
        LFWAttributes,
        HelenParsing,
        LFWParts,
        MultiPIE,
        CaltechPedestrian,
        CaltechWindows,
        IdentityPairs,
        ImageFiles,
    ],
)
def test_every_reader_takes_the_policy(cls: type) -> None:
    assert inspect.signature(cls).parameters["on_bad_sample"].default == "raise"


def test_policy_given_at_construction(tmp_path: Path) -> None:
    root = write_image_folder(tmp_path / "tree", images_per_class={"train": 2}, image_size=(8, 8))
    ImageFolderDataset(root, "train").path(0).write_bytes(b"")
    ds = ImageFolderDataset(root, "train", on_bad_sample="skip")
    assert _equal(ds[0], ds.get_sample(1)) and ds.skipped_count == 1
    assert _equal(ds[-len(ds)], ds[0])
    with pytest.raises(IndexError):
        ds[len(ds)]  # not wrapped around: iteration ends
    assert len(list(ds)) == len(ds)
    with pytest.raises(ValueError, match="on_bad_sample"):
        ImageFolderDataset(root, "train", on_bad_sample="warn")  # type: ignore[arg-type]


def test_non_utf8_folder_names(tmp_path: Path) -> None:
    """Identity and class folders whose names are not UTF-8 index, label and read."""
    ids = write_identity_folder(tmp_path / "ids", 3, 2, image_size=(16, 16))
    os.rename(os.fsencode(ids / "id_0001"), os.fsencode(ids) + b"/caf\xe9")
    people = IdentityFolder(ids)
    assert os.fsdecode(b"caf\xe9") in people.classes and len(people) == 6
    assert all(people[i]["image"].shape == (3, 16, 16) for i in range(len(people)))
    tree = write_image_folder(tmp_path / "tree", images_per_class={"train": 2}, image_size=(8, 8))
    os.rename(os.fsencode(tree / "train" / "class_01"), os.fsencode(tree / "train") + b"/\xff")
    folders, files = ImageFolderDataset(tree, "train"), ImageFiles(tree)
    assert os.fsdecode(b"\xff") in folders.classes and len(folders) == len(files) == 6
    assert all(folders[i]["image"].shape == files[i]["image"].shape for i in range(6))


def test_png_with_corrupt_image_data_is_an_error_not_a_crash(tmp_path: Path) -> None:
    """A flipped bit in a PNG's image data: torchvision 0.29 segfaults on it, PIL reports it."""
    source = tmp_path / "source.png"
    rgb = np.random.default_rng(0).integers(0, 256, (12, 10, 3), dtype=np.uint8)
    Image.fromarray(rgb).save(source)
    data = bytearray(source.read_bytes())
    idat = data.index(b"IDAT")
    data[idat + 20] ^= 0x10
    damaged = tmp_path / "damaged.jpg"  # named as ImageNet names its one PNG: told by content
    damaged.write_bytes(bytes(data))
    for decode in (read_image, decode_image_file):
        with pytest.raises(CorruptImageError) as info:
            decode(damaged)
        assert info.value.path == damaged
