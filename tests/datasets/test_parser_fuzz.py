"""Every annotation parser, fuzzed: only the documented errors (naming the file) may escape.

Each parser reads a file that starts as the writer's valid one and is then damaged by
hypothesis: lines replaced, inserted, deleted or cut, fields dropped, repeated or replaced by
odd text (signs, decimals, non-ASCII digits, non-UTF-8 bytes), or raw bytes throughout.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lightning_deepvision.datasets import (
    DatasetNotFoundError,
    LFWParts,
    MalformedAnnotationError,
    MissingImageError,
    MultiPIE,
    MultiPIEFileNameError,
    read_bbgt,
    read_lfw_pairs_file,
    read_lfw_people_file,
    read_vbb,
)
from lightning_deepvision.datasets.caltech.seq import (
    CorruptSeqError,
    UnsupportedSeqFormatError,
    read_seq_header,
)
from lightning_deepvision.datasets.celeba_annotations import CELEBA_FILES, read_celeba_table
from lightning_deepvision.datasets.errors import CorruptImageError
from lightning_deepvision.datasets.helen import read_helen_list
from lightning_deepvision.datasets.imagenet import (
    read_devkit_ground_truth,
    read_devkit_synsets,
    read_kaggle_synsets,
    read_kaggle_val_solution,
)
from lightning_deepvision.datasets.lfw_attributes import read_lfw_attributes
from lightning_deepvision.testing import (
    write_caltech,
    write_celeba,
    write_helen,
    write_imagenet,
    write_lfw,
    write_lfw_attributes,
    write_lfw_parts,
    write_multipie,
)
from lightning_deepvision.testing.digits import write_mnist

FUZZ = settings(
    max_examples=25,
    deadline=None,
    derandomize=True,  # the same examples on every run: a failure is reproducible
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

# Odd field values: signs, decimals, exponents, non-ASCII digits, separators, control bytes.
_ODD_TEXT = st.one_of(
    st.sampled_from(["", "-1", "+1", "1.0", "1e3", "0", "00", "²", "١٢", "nan", "inf", ",", "#"]),
    st.text(max_size=12),
)
_JUNK = st.one_of(
    _ODD_TEXT.map(lambda s: s.encode("utf-8")),
    st.binary(max_size=24),
    st.sampled_from([b"\xff\xfe", b"\x00", b"\r", b"\t\t", b" , "]),
)


@st.composite
def damaged(draw: st.DrawFn, base: bytes) -> bytes:
    """``base`` with a few lines or fields damaged, or (rarely) raw bytes."""
    if draw(st.integers(0, 9)) == 0:
        return draw(st.binary(max_size=256))
    lines = base.splitlines(keepends=True) or [b""]
    for _ in range(draw(st.integers(1, 3))):
        where = draw(st.integers(0, len(lines) - 1))
        line = lines[where]
        action = draw(st.sampled_from(["replace", "insert", "delete", "cut", "field"]))
        if action == "replace":
            lines[where] = draw(_JUNK) + b"\n"
        elif action == "insert":
            lines.insert(where, draw(_JUNK) + b"\n")
        elif action == "delete" and len(lines) > 1:
            del lines[where]
        elif action == "cut":
            lines[where] = line[: draw(st.integers(0, len(line)))]
        else:
            separator = b"\t" if b"\t" in line else b"," if b"," in line else b" "
            fields = line.rstrip(b"\r\n").split(separator)
            index = draw(st.integers(0, len(fields)))
            field = draw(st.sampled_from(["drop", "repeat", "odd"]))
            if field == "drop" and fields and index < len(fields):
                del fields[index]
            elif field == "repeat" and fields:
                fields.insert(index, fields[min(index, len(fields) - 1)])
            else:
                fields.insert(index, draw(_JUNK))
            lines[where] = separator.join(fields) + b"\n"
    return b"".join(lines)


@pytest.fixture(scope="module")
def originals(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Roots of each layout, written once."""
    base = tmp_path_factory.mktemp("originals")
    roots = {
        "lfw": write_lfw(
            base / "lfw", num_people=4, images_per_person=2, num_folds=2, pairs_per_fold=2
        ),
        "celeba": write_celeba(base / "celeba", num_identities=3, images_per_identity=2),
        "lfw_attributes": write_lfw_attributes(base / "lfwa", num_people=4, images_per_person=2),
        "helen": write_helen(base / "helen", counts=(3, 1, 1), image_size=(16, 16)),
        "imagenet": write_imagenet(base / "inet", num_classes=3, image_size=(8, 8)),
        "kaggle": write_imagenet(base / "kaggle", "kaggle", num_classes=3, image_size=(8, 8)),
        "caltech": write_caltech(
            base / "caltech",
            sets=("set06",),
            num_frames=31,
            frame_size=(24, 32),
            new_annotations=True,
        ),
        "multipie": write_multipie(base / "mpie", subjects=(1, 2), cameras=("05_1",), shots=(0,)),
        "lfw_parts": write_lfw_parts(base / "parts", counts=(2, 1, 1)),
        "mnist": write_mnist(base / "mnist", train_images=4, test_images=2),
    }
    return roots


def _check(path: Path, data: bytes, parse: Callable[[Path], Any], errors: tuple[type, ...]) -> None:
    path.write_bytes(data)
    try:
        parse(path)
    except errors as error:
        assert str(path) in str(error) or os.fspath(path.name) in str(error)


# parser name -> (original file under its layout, how to parse, the documented errors)
def _parsers(roots: dict[str, Path]) -> dict[str, tuple[Path, Callable[[Path], Any], tuple]]:
    malformed = (MalformedAnnotationError,)
    celeba = roots["celeba"] / "celeba"
    devkit = roots["imagenet"] / "ILSVRC2012_devkit_t12" / "data"
    caltech = roots["caltech"]
    return {
        "lfw_pairs": (roots["lfw"] / "pairs.txt", read_lfw_pairs_file, malformed),
        "lfw_people": (roots["lfw"] / "people.txt", read_lfw_people_file, malformed),
        **{
            f"celeba_{key}": (
                celeba / spec.file,
                lambda p, spec=spec: read_celeba_table(p, spec),
                malformed,
            )
            for key, spec in CELEBA_FILES.items()
            if (celeba / spec.file).is_file()
        },
        "lfw_attributes": (
            roots["lfw_attributes"] / "lfw_attributes.txt",
            read_lfw_attributes,
            malformed,
        ),
        "helen": (roots["helen"] / "exemplars.txt", read_helen_list, malformed),
        "devkit_ground_truth": (
            devkit / "ILSVRC2012_validation_ground_truth.txt",
            lambda p: read_devkit_ground_truth(p, {1, 2, 3}),
            malformed,
        ),
        "devkit_meta": (devkit / "meta.mat", read_devkit_synsets, (ValueError,)),
        "kaggle_synsets": (
            roots["kaggle"] / "LOC_synset_mapping.txt",
            read_kaggle_synsets,
            malformed,
        ),
        "kaggle_solution": (
            roots["kaggle"] / "LOC_val_solution.csv",
            lambda p: read_kaggle_val_solution(
                p, {s.wnid for s in read_kaggle_synsets(roots["kaggle"] / "LOC_synset_mapping.txt")}
            ),
            malformed,
        ),
        "vbb": (next((caltech / "annotations").rglob("*.vbb")), read_vbb, malformed),
        "bbgt": (next(caltech.rglob("*.jpg.txt")), read_bbgt, malformed),
        "seq_header": (
            next(caltech.rglob("*.seq")),
            read_seq_header,
            (CorruptSeqError, UnsupportedSeqFormatError),
        ),
    }


TEXT_PARSERS = [
    "lfw_pairs",
    "lfw_people",
    "celeba_attributes",
    "celeba_identity",
    "celeba_bbox",
    "celeba_landmarks",
    "celeba_partition",
    "lfw_attributes",
    "helen",
    "devkit_ground_truth",
    "kaggle_synsets",
    "kaggle_solution",
    "bbgt",
]


@pytest.mark.parametrize("name", TEXT_PARSERS)
def test_parser_raises_only_documented_errors(
    originals: dict[str, Path], tmp_path: Path, name: str
) -> None:
    original, parse, errors = _parsers(originals)[name]
    base = original.read_bytes()
    target = tmp_path / original.name
    parse(original)  # the valid file parses

    @FUZZ
    @given(data=damaged(base))
    def fuzz(data: bytes) -> None:
        _check(target, data, parse, errors)

    fuzz()


@pytest.mark.parametrize("name", ["devkit_meta", "vbb", "seq_header"])
def test_binary_parser_raises_only_documented_errors(
    originals: dict[str, Path], tmp_path: Path, name: str
) -> None:
    """Binary files (MATLAB .mat, .seq headers): bytes flipped and the file cut short.

    In a MATLAB file only the 128-byte header is flipped: bytes flipped inside its data
    elements can crash scipy's compiled reader (a segmentation fault in ``loadmat``, scipy
    1.x), which no Python code can catch; cutting the file short is safe and is fuzzed.
    """
    original, parse, errors = _parsers(originals)[name]
    # The .seq header and first frame records are what is parsed; a MATLAB file's header.
    full = original.read_bytes()
    flippable = 4096 if name == "seq_header" else 128
    target = tmp_path / original.name

    @FUZZ
    @given(
        flips=st.lists(st.tuples(st.integers(0, flippable - 1), st.integers(0, 255)), max_size=8),
        cut=st.integers(1, len(full)),
    )
    def fuzz(flips: list[tuple[int, int]], cut: int) -> None:
        data = bytearray(full)
        for position, value in flips:
            data[position] = value
        _check(target, bytes(data[:cut]), parse, errors)

    fuzz()


def test_multipie_file_names(originals: dict[str, Path], tmp_path: Path) -> None:
    """A stray or misnamed file in the Multi-PIE tree: an error naming it, or it is ignored."""
    root = tmp_path / "mpie"
    shutil.copytree(originals["multipie"], root)
    folder = next(p.parent for p in root.rglob("*.png"))
    errors = (MultiPIEFileNameError, DatasetNotFoundError, MissingImageError)
    names = st.one_of(
        st.text(
            st.characters(blacklist_categories=("Cs",), blacklist_characters="/\x00"),
            min_size=1,
            max_size=30,
        ),
        st.from_regex(r"\A0[0-9]{2}_0[0-9]_0[0-9]_[0-9]{3}_[0-9]{2}\.png\Z"),
    )

    @FUZZ
    @given(name=names)
    def fuzz(name: str) -> None:
        if name in (".", ".."):
            return
        stray = folder / name
        try:
            stray.write_bytes(b"")
        except OSError:  # a name the file system refuses
            return
        try:
            MultiPIE(root)
        except errors as error:
            assert name in str(error) or str(folder) in str(error)
        finally:
            stray.unlink()

    fuzz()


def test_lfw_parts_list(originals: dict[str, Path], tmp_path: Path) -> None:
    root = tmp_path / "parts"
    shutil.copytree(originals["lfw_parts"], root)
    listing = root / "parts_train.txt"
    base = listing.read_bytes()
    errors = (MalformedAnnotationError, MissingImageError)

    @FUZZ
    @given(data=damaged(base))
    def fuzz(data: bytes) -> None:
        listing.write_bytes(data)
        try:
            LFWParts(root, "train")
        except errors as error:
            assert str(listing) in str(error)

    fuzz()


def test_mnist_idx_header(originals: dict[str, Path], tmp_path: Path) -> None:
    from lightning_deepvision.datasets.digits import read_idx_header

    original = next(originals["mnist"].rglob("*images-idx3-ubyte"))
    base = original.read_bytes()[:64]

    @FUZZ
    @given(
        data=st.binary(max_size=32).map(lambda junk: junk)
        | st.integers(0, 64).map(lambda n: base[:n])
    )
    def fuzz(data: bytes) -> None:
        _check(tmp_path / "idx", data, lambda p: read_idx_header(p, 3), (CorruptImageError,))

    fuzz()


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "BMP", "TIFF", "GIF", "WEBP", "PPM"])
def test_damaged_images_raise_only_corrupt_image_error(tmp_path: Path, fmt: str) -> None:
    """Both decoders, on image files with bytes flipped and cut: decoded, or CorruptImageError."""
    import numpy as np
    from PIL import Image

    from lightning_deepvision.datasets.image_folder import decode_image_file
    from lightning_deepvision.datasets.image_io import read_image

    source = tmp_path / f"source.{fmt.lower()}"
    rgb = np.random.default_rng(0).integers(0, 256, (12, 10, 3), dtype=np.uint8)
    Image.fromarray(rgb).save(source, fmt)
    full = source.read_bytes()
    target = tmp_path / f"damaged.{fmt.lower()}"

    @FUZZ
    @given(
        flips=st.lists(st.tuples(st.integers(0, len(full) - 1), st.integers(0, 255)), max_size=6),
        cut=st.integers(0, len(full)),
    )
    def fuzz(flips: list[tuple[int, int]], cut: int) -> None:
        data = bytearray(full)
        for position, value in flips:
            data[position] = value
        target.write_bytes(bytes(data[:cut]))
        for decode in (read_image, decode_image_file):
            try:
                image = decode(target)
            except CorruptImageError as error:
                assert error.path == target
            else:
                assert image.dtype == torch.uint8 and image.ndim == 3 and image.shape[0] == 3

    fuzz()
