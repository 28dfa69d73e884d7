from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from torchvision import tv_tensors
from torchvision.transforms import v2

# The public names as a user imports them, and the modules whose reader is monkeypatched.
from lightning_deepvision.datasets import (
    CorruptImageError,
    DatasetNotFoundError,
    LFWPairs,
    LFWPeople,
    MalformedAnnotationError,
    MissingImageError,
    read_lfw_pairs_file,
    read_lfw_people_file,
)
from lightning_deepvision.datasets import image_list as image_list_module
from lightning_deepvision.datasets import lfw as lfw_module
from lightning_deepvision.datasets.lfw import lfw_image_path
from lightning_deepvision.transforms import face_transforms

# ---------------------------------------------------------------- parsing without images


def _write(path: Path, lines: list[str], newline: str = "\n") -> Path:
    path.write_bytes((newline.join(lines) + newline).encode())
    return path


def _pairs_lines(folds: int = 2, n: int = 2) -> list[str]:
    lines = [f"{folds}\t{n}"]
    for f in range(folds):
        lines += [f"P{f}_{i}\t1\t2" for i in range(n)]
        lines += [f"P{f}_{i}\t1\tQ{f}_{i}\t3" for i in range(n)]
    return lines


def test_real_pairs_file_parses(shared_data: Path) -> None:
    entries = read_lfw_pairs_file(shared_data / "lfw" / "pairs.txt")
    assert len(entries) == 6000
    assert sum(e.same for e in entries) == 3000
    for fold in range(10):
        in_fold = [e for e in entries if e.fold == fold]
        assert len(in_fold) == 600
        assert all(e.same for e in in_fold[:300]) and not any(e.same for e in in_fold[300:])
    first, last = entries[0], entries[-1]
    assert (first.name1, first.number1, first.name2, first.number2) == (
        "Abel_Pacheco",
        1,
        "Abel_Pacheco",
        4,
    )
    assert first.line_number == 2 and last.line_number == 6001
    assert all(e.name1 != e.name2 for e in entries if not e.same)


def test_view1_single_count_header(tmp_path: Path) -> None:
    lines = ["3", "A\t1\t2", "B\t1\t3", "C\t2\t4", "A\t1\tB\t2", "B\t1\tC\t1", "C\t1\tA\t1"]
    entries = read_lfw_pairs_file(_write(tmp_path / "pairsDevTest.txt", lines))
    assert len(entries) == 6
    assert {e.fold for e in entries} == {0}
    assert [e.same for e in entries] == [True] * 3 + [False] * 3
    assert entries[3].name2 == "B" and entries[3].number2 == 2


def test_tolerates_crlf_spaces_and_trailing_blank_lines(tmp_path: Path) -> None:
    lines = [line.replace("\t", "  ") + " " for line in _pairs_lines()] + ["", "   "]
    entries = read_lfw_pairs_file(_write(tmp_path / "pairs.txt", lines, newline="\r\n"))
    assert len(entries) == 8
    assert entries[-1].name2 == "Q1_1" and entries[-1].number2 == 3
    assert entries[-1].line_number == 9


def _malformed(tmp_path: Path, lines: list[str]) -> MalformedAnnotationError:
    path = _write(tmp_path / "pairs.txt", lines)
    with pytest.raises(MalformedAnnotationError) as info:
        read_lfw_pairs_file(path)
    assert info.value.path == path
    assert str(path) in str(info.value)
    return info.value


def test_wrong_field_count_names_line(tmp_path: Path) -> None:
    lines = _pairs_lines()
    lines[2] = "P0_1\t1"  # line 3: a matched line with 2 fields
    err = _malformed(tmp_path, lines)
    assert err.line_number == 3
    assert "matched pair" in err.expected and "3 fields" in err.expected


def test_non_integer_image_number(tmp_path: Path) -> None:
    lines = _pairs_lines()
    lines[4] = "P0_1\t1\tQ0_1\tthree"
    err = _malformed(tmp_path, lines)
    assert err.line_number == 5 and "integer" in err.expected


@pytest.mark.parametrize("number", ["0", "-1", "1.5", "+2"])
def test_non_positive_or_odd_numbers_rejected(tmp_path: Path, number: str) -> None:
    lines = _pairs_lines()
    lines[1] = f"P0_0\t{number}\t2"
    assert _malformed(tmp_path, lines).line_number == 2


@pytest.mark.parametrize("header", ["ten\t300", "10\t300\t1", "", "0\t5"])
def test_bad_header(tmp_path: Path, header: str) -> None:
    err = _malformed(tmp_path, [header, *_pairs_lines()[1:]] if header else [""])
    assert err.line_number == 1
    assert "header" in err.expected


def test_fold_with_one_matched_line_missing(tmp_path: Path) -> None:
    # Fold 1 has 1 matched line where the header promises 2: the first mismatched line lands
    # where the second matched line was expected.
    lines = _pairs_lines()
    del lines[2]
    err = _malformed(tmp_path, lines)
    assert err.line_number == 3
    assert "matched pair" in err.expected and "pair 2 of 2 matched pairs of fold 1" in err.expected


def test_file_ending_early_and_extra_lines(tmp_path: Path) -> None:
    lines = _pairs_lines()
    err = _malformed(tmp_path, lines[:-1])
    assert err.line_number == len(lines)  # the line after the last one present
    assert "8 pair lines" in err.expected and "ends after 7" in err.expected
    err = _malformed(tmp_path, [*lines, "X\t1\t2"])
    assert err.line_number == len(lines) + 1 and "end of file" in err.expected


def test_mismatched_pair_of_one_person_and_path_names_rejected(tmp_path: Path) -> None:
    lines = _pairs_lines()
    lines[3] = "P0_0\t1\tP0_0\t2"
    assert _malformed(tmp_path, lines).line_number == 4
    lines = _pairs_lines()
    lines[1] = "../etc\t1\t2"
    assert "not a path" in _malformed(tmp_path, lines).expected


def test_people_file_layouts(tmp_path: Path) -> None:
    folds = _write(tmp_path / "people.txt", ["2", "2", "A\t3", "B\t1", "1", "C\t2"])
    people = read_lfw_people_file(folds)
    assert [(p.name, p.num_images, p.fold, p.line_number) for p in people] == [
        ("A", 3, 0, 3),
        ("B", 1, 0, 4),
        ("C", 2, 1, 6),
    ]
    assert read_lfw_people_file(folds, layout="folds") == people
    single = _write(tmp_path / "peopleDevTest.txt", ["2", "A\t3", "B\t1"])
    assert [p.name for p in read_lfw_people_file(single)] == ["A", "B"]
    assert {p.fold for p in read_lfw_people_file(single, layout="single")} == {0}


@pytest.mark.parametrize(
    ("lines", "bad_line", "fragment"),
    [
        (["2", "2", "A\t3", "1", "C\t2"], 4, "row 2 of 2"),  # fold 1 declares 2, has 1
        (["2", "1", "A\t3", "1", "C\t2", "D\t1"], 6, "end of file"),  # extra row
        (["2", "1", "A\tx", "1", "C\t2"], 3, "positive image count"),
        (["2", "1", "A\t3"], 4, "fold 2 of 2"),  # second fold missing
        (["x", "1", "A\t3"], 1, "fold count"),
    ],
)
def test_malformed_people_file(
    tmp_path: Path, lines: list[str], bad_line: int, fragment: str
) -> None:
    path = _write(tmp_path / "people.txt", lines)
    with pytest.raises(MalformedAnnotationError) as info:
        read_lfw_people_file(path, layout="folds")
    assert info.value.line_number == bad_line
    assert fragment in info.value.expected


# ------------------------------------------------------------------- datasets over files


def test_pairs_10fold_samples(lfw_root: Path) -> None:
    ds = LFWPairs(lfw_root)
    assert len(ds) == 10 * 2 * 4
    assert ds.num_folds == 10
    assert ds.image_dir == lfw_root / "lfw" and ds.image_set == "original"
    sample = ds[0]
    assert set(sample) == {"image1", "image2", "same", "fold", "index"}
    for key in ("image1", "image2"):
        assert isinstance(sample[key], tv_tensors.Image)
        assert sample[key].dtype == torch.uint8 and sample[key].shape == (3, 250, 250)
    for key in ("same", "fold", "index"):
        assert sample[key].dtype == torch.int64 and sample[key].ndim == 0
    assert sample["same"].item() == 1 and sample["fold"].item() == 0
    last = ds[len(ds) - 1]
    assert last["same"].item() == 0 and last["fold"].item() == 9 and last["index"].item() == 79
    same = [s for _, _, s, _ in ds.pairs]
    assert sum(same) == 40
    assert [f for *_, f in ds.pairs] == [i // 8 for i in range(80)]
    path1, path2, _, _ = ds.pairs[0]
    entry = ds.entries[0]
    assert path1 == lfw_image_path(lfw_root / "lfw", entry.name1, entry.number1)
    assert path2.name == f"{entry.name2}_{entry.number2:04d}.jpg"
    assert ds.path(0) == f"{path1}|{path2}"


def test_pairs_view1(lfw_root: Path) -> None:
    train, test = LFWPairs(lfw_root, split="train"), LFWPairs(lfw_root, split="test")
    assert len(train) == 2 * 8 and len(test) == 2 * 4
    assert train.num_folds == test.num_folds == 1
    assert {int(s["fold"]) for s in (train[0], test[len(test) - 1])} == {0}
    assert train.list_file is not None and train.list_file.name == "pairsDevTrain.txt"


def test_pairs_transforms_applied_to_the_sample_dict(lfw_root: Path) -> None:
    calls: list[dict[str, tuple[int, ...]]] = []

    def record(sample: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        calls.append({key: tuple(value.shape) for key, value in sample.items()})
        return sample

    transforms = v2.Compose([record, v2.Resize((31, 27))])
    sample = LFWPairs(lfw_root, split="test", transforms=transforms)[1]
    image = (3, 250, 250)
    assert calls == [{"image1": image, "image2": image, "same": (), "fold": (), "index": ()}]
    assert sample["image1"].shape == sample["image2"].shape == (3, 31, 27)
    assert isinstance(sample["image1"], tv_tensors.Image)
    assert int(sample["index"]) == 1 and sample["same"].dtype == torch.int64


@pytest.mark.parametrize(
    "make_transforms",
    [
        lambda: v2.Compose(
            [
                v2.ToImage(),
                v2.CenterCrop(150),
                v2.Resize((55, 47), antialias=True),
                v2.ToDtype(torch.float32, scale=True),
                v2.Normalize([0.5, 0.5, 0.5], [0.5, 0.5, 0.5]),
            ]
        ),
        # What FaceVerificationDataModule evaluates LFW with.
        lambda: face_transforms((55, 47), center_crop_fraction=0.5),
        lambda: face_transforms((47, 47), center_crop_fraction=0.45, grayscale=True),
    ],
    ids=["v2-eval", "face-eval", "face-eval-grey"],
)
def test_pairs_dict_transform_equals_per_image_transform(
    lfw_root: Path, make_transforms: Callable[[], v2.Transform]
) -> None:
    plain = LFWPairs(lfw_root, split="test")
    transformed = LFWPairs(lfw_root, split="test", transforms=make_transforms())
    per_image = make_transforms()
    for index in (0, len(plain) - 1):
        raw, sample = plain[index], transformed[index]
        for key in ("image1", "image2"):
            expected = per_image(raw[key])
            assert sample[key].dtype == torch.float32 and sample[key].shape == expected.shape
            assert torch.equal(sample[key], expected)
        assert not torch.equal(sample["image1"], sample["image2"])  # two different images
        for key in ("same", "fold", "index"):  # plain tensors pass through untouched
            assert sample[key].dtype == torch.int64 and torch.equal(sample[key], raw[key])


def test_pairs_random_transform_draws_once_for_both_images(lfw_root: Path) -> None:
    plain = LFWPairs(lfw_root, split="test")
    flipping = LFWPairs(lfw_root, split="test", transforms=v2.RandomHorizontalFlip(p=0.5))
    torch.manual_seed(0)
    flipped = []
    for index in range(len(plain)):
        raw, sample = plain[index], flipping[index]
        flips = [
            torch.equal(sample[key], v2.functional.horizontal_flip(raw[key]))
            for key in ("image1", "image2")
        ]
        assert flips[0] == flips[1]  # one draw per pair: both flipped or neither
        flipped.append(flips[0])
    assert any(flipped) and not all(flipped)


def test_construction_does_not_decode(lfw_root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(*args: object, **kwargs: object) -> None:
        raise AssertionError("decoded at construction")

    monkeypatch.setattr(lfw_module, "read_image", fail)
    monkeypatch.setattr(image_list_module, "read_image", fail)
    pairs, people = LFWPairs(lfw_root), LFWPeople(lfw_root)
    assert len(pairs) == 80
    assert len(people) == 80
    for ds in (pairs, people):  # the patched readers are the ones __getitem__ uses
        with pytest.raises(AssertionError, match="decoded"):
            ds[0]


def test_torchvision_layout_and_image_set_choice(make_lfw: Callable[..., Path]) -> None:
    base = make_lfw("tv/lfw-py", image_set="deepfunneled")
    root = base.parent
    ds = LFWPairs(root)
    assert ds.image_dir == base / "lfw-deepfunneled" and ds.image_set == "deepfunneled"
    assert ds[0]["image1"].shape == (3, 250, 250)
    assert LFWPairs(root, image_set="deepfunneled").image_dir == ds.image_dir
    with pytest.raises(DatasetNotFoundError) as info:
        LFWPairs(root, image_set="funneled")
    assert "lfw_funneled" in str(info.value)


def test_image_set_order_prefers_original(make_lfw: Callable[..., Path]) -> None:
    root = make_lfw()
    shutil.copytree(root / "lfw", root / "lfw-deepfunneled")
    assert LFWPairs(root).image_dir == root / "lfw"
    assert LFWPairs(root, image_set="deepfunneled").image_dir == root / "lfw-deepfunneled"


def _assert_not_found(err: DatasetNotFoundError, root: Path, looked_for: str) -> None:
    message = str(err)
    assert str(root) in message
    assert looked_for in message
    assert "http://vis-www.cs.umass.edu/lfw/" in message
    assert "not downloaded automatically" in message
    assert "ROOT/lfw/<Name>/<Name>_0001.jpg" in message


def test_not_found_messages(tmp_path: Path, make_lfw: Callable[..., Path]) -> None:
    missing = tmp_path / "nowhere"
    with pytest.raises(DatasetNotFoundError) as info:
        LFWPairs(missing)
    _assert_not_found(info.value, missing, "nowhere")

    root = make_lfw()
    (root / "pairs.txt").unlink()
    with pytest.raises(DatasetNotFoundError) as info:
        LFWPairs(root)
    _assert_not_found(info.value, root, "pairs.txt")
    assert info.value.missing == root / "pairs.txt"

    (root / "pairsDevTrain.txt").rename(root / "elsewhere.txt")
    with pytest.raises(DatasetNotFoundError) as info:
        LFWPairs(root, split="train")
    _assert_not_found(info.value, root, "pairsDevTrain.txt")

    shutil.rmtree(root / "lfw")
    with pytest.raises(DatasetNotFoundError) as info:
        LFWPairs(root, split="test")
    _assert_not_found(info.value, root, "lfw_funneled")

    with pytest.raises(DatasetNotFoundError) as info:
        LFWPeople(root, split="test")
    _assert_not_found(info.value, root, "lfw-deepfunneled")


def test_bad_arguments(lfw_root: Path) -> None:
    with pytest.raises(ValueError, match="split"):
        LFWPairs(lfw_root, split="view3")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="image_set"):
        LFWPairs(lfw_root, image_set="aligned")


def test_pair_naming_missing_image(make_lfw: Callable[..., Path]) -> None:
    root = make_lfw()
    entry = read_lfw_pairs_file(root / "pairs.txt")[5]
    image = lfw_image_path(root / "lfw", entry.name2, entry.number2)
    image.unlink()
    with pytest.raises(MissingImageError) as info:
        LFWPairs(root)
    assert info.value.image == image
    assert f"pairs.txt:{entry.line_number}" in str(info.value)


def test_pair_naming_unknown_person(make_lfw: Callable[..., Path]) -> None:
    root = make_lfw()
    lines = (root / "pairs.txt").read_text().splitlines()
    lines[1] = "Nobody_Known\t1\t2"
    (root / "pairs.txt").write_text("\n".join(lines) + "\n")
    with pytest.raises(MissingImageError, match=r"pairs\.txt:2.*Nobody_Known_0001\.jpg"):
        LFWPairs(root)


def test_malformed_pairs_file_through_dataset(make_lfw: Callable[..., Path]) -> None:
    root = make_lfw()
    lines = (root / "pairs.txt").read_text().splitlines()
    lines[3] = lines[3] + "\t9"
    (root / "pairs.txt").write_text("\n".join(lines) + "\n")
    with pytest.raises(MalformedAnnotationError, match=r"pairs\.txt:4"):
        LFWPairs(root)


@pytest.mark.parametrize("damage", ["truncate", "text"])
def test_corrupt_image_raises_on_getitem(make_lfw: Callable[..., Path], damage: str) -> None:
    root = make_lfw()
    ds = LFWPairs(root)
    path = ds.pairs[2][1]
    if damage == "truncate":
        path.write_bytes(path.read_bytes()[:1000])
    else:
        path.write_text("this is not a JPEG")
    ds = LFWPairs(root)  # construction still succeeds: nothing is decoded
    ds[0]
    with pytest.raises(CorruptImageError) as info:
        ds[2]
    assert info.value.path == path
    assert str(path) in str(info.value)


def test_people_10fold(lfw_root: Path) -> None:
    ds = LFWPeople(lfw_root)
    people = read_lfw_people_file(lfw_root / "people.txt")
    assert len(ds) == 20 * 4 and ds.num_classes == 20 and ds.num_folds == 10
    assert ds.classes == sorted(p.name for p in people)
    sample = ds[5]
    assert set(sample) == {"image", "label", "fold"}
    assert isinstance(sample["image"], tv_tensors.Image) and sample["image"].shape == (3, 250, 250)
    assert sample["label"].dtype == torch.int64 and sample["fold"].dtype == torch.int64
    fold_of = {p.name: p.fold for p in people}
    for path, label, fold in zip(ds.samples, ds.targets, ds.folds, strict=True):
        name = ds.classes[label]
        assert path.parent.name == name and fold == fold_of[name]
    assert int(sample["label"]) == ds.targets[5] and int(sample["fold"]) == ds.folds[5]


def test_people_view1_and_fallback(lfw_root: Path, make_lfw: Callable[..., Path]) -> None:
    train, test = LFWPeople(lfw_root, split="train"), LFWPeople(lfw_root, split="test")
    assert set(train.classes).isdisjoint(test.classes)
    assert train.num_classes + test.num_classes == 20 and len(train) + len(test) == 80

    root = make_lfw(with_people_file=False)
    ds = LFWPeople(root)
    assert ds.list_file is None and ds.num_folds == 1
    assert ds.num_classes == 4 and len(ds) == 8 and set(ds.folds) == {0}
    with pytest.raises(DatasetNotFoundError, match=r"peopleDevTrain\.txt"):
        LFWPeople(root, split="train")


def test_people_transforms_and_errors(make_lfw: Callable[..., Path]) -> None:
    root = make_lfw()
    ds = LFWPeople(root, transforms=v2.Resize((20, 18)))
    assert ds[0]["image"].shape == (3, 20, 18)

    people = read_lfw_people_file(root / "people.txt")
    lines = (root / "people.txt").read_text().splitlines()
    target = people[1]
    lines[target.line_number - 1] = f"{target.name}\t9"  # more images than exist
    (root / "people.txt").write_text("\n".join(lines) + "\n")
    with pytest.raises(MissingImageError, match=rf"people\.txt:{target.line_number}.*_0003\.jpg"):
        LFWPeople(root)

    lines[target.line_number - 1] = f"{target.name}"
    (root / "people.txt").write_text("\n".join(lines) + "\n")
    with pytest.raises(MalformedAnnotationError, match=rf"people\.txt:{target.line_number}"):
        LFWPeople(root)


def test_real_pairs_file_against_placeholder_images(shared_data: Path, tmp_path: Path) -> None:
    # The shared data has no LFW images: create an empty file for every image the real
    # pairs.txt names, so construction (parsing + existence checks at full scale) runs for real.
    shutil.copy(shared_data / "lfw" / "pairs.txt", tmp_path / "pairs.txt")
    entries = read_lfw_pairs_file(tmp_path / "pairs.txt")
    for e in entries:
        for name, number in ((e.name1, e.number1), (e.name2, e.number2)):
            path = lfw_image_path(tmp_path / "lfw", name, number)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.touch()
    ds = LFWPairs(tmp_path)
    assert len(ds) == 6000 and ds.num_folds == 10
    assert sum(same for _, _, same, _ in ds.pairs) == 3000
    with pytest.raises(CorruptImageError, match=r"Abel_Pacheco_0001\.jpg"):
        ds[0]  # the placeholders are empty files
