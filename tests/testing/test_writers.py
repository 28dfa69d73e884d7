from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from lightning_deepvision.datasets.identity_folder import IdentityFolder
from lightning_deepvision.datasets.lfw import LFWPairs, LFWPeople
from lightning_deepvision.testing import (
    lfw_person_name,
    save_image,
    write_identity_folder,
    write_lfw,
)


def _tree(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


# ------------------------------------------------------------------------ identity folder


def test_identity_folder_layout(tmp_path: Path) -> None:
    root = write_identity_folder(tmp_path / "ids", num_identities=3, images_per_identity=2)
    assert root == tmp_path / "ids"
    assert sorted(_tree(root)) == [f"id_{i:04d}/{j:03d}.jpg" for i in range(3) for j in range(2)]
    with Image.open(root / "id_0002" / "001.jpg") as image:
        assert image.format == "JPEG" and image.size == (56, 64) and image.mode == "RGB"


@pytest.mark.parametrize(("ext", "fmt", "mode"), [("png", "PNG", "RGB"), ("pgm", "PPM", "L")])
def test_identity_folder_formats(tmp_path: Path, ext: str, fmt: str, mode: str) -> None:
    root = write_identity_folder(tmp_path, num_identities=1, images_per_identity=1, ext=ext)
    with Image.open(root / "id_0000" / f"000.{ext}") as image:
        assert image.format == fmt and image.mode == mode


def test_identity_folder_is_deterministic_and_seeded(tmp_path: Path) -> None:
    kwargs = {"num_identities": 2, "images_per_identity": 2, "ext": "png"}
    a = _tree(write_identity_folder(tmp_path / "a", **kwargs))
    b = _tree(write_identity_folder(tmp_path / "b", **kwargs))
    c = _tree(write_identity_folder(tmp_path / "c", seed=1, **kwargs))
    assert a == b
    assert a != c
    assert a["id_0000/000.png"] != a["id_0001/000.png"]


def test_identity_folder_refuses_to_overwrite(tmp_path: Path) -> None:
    victim = tmp_path / "id_0001" / "000.jpg"
    victim.parent.mkdir()
    victim.write_bytes(b"user data")
    with pytest.raises(FileExistsError, match=re.escape(str(victim))):
        write_identity_folder(tmp_path, num_identities=2, images_per_identity=1)
    assert victim.read_bytes() == b"user data"
    assert not (tmp_path / "id_0000").exists()  # nothing written before refusing


def test_identity_folder_bad_arguments(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="ext"):
        write_identity_folder(tmp_path, ext="gif")
    with pytest.raises(ValueError, match="positive"):
        write_identity_folder(tmp_path, num_identities=0)


def test_identity_folder_round_trip(tmp_path: Path) -> None:
    root = write_identity_folder(
        tmp_path, num_identities=3, images_per_identity=2, image_size=(40, 30)
    )
    ds = IdentityFolder(root)
    assert len(ds) == 6 and ds.num_classes == 3
    assert ds[5]["image"].shape == (3, 40, 30)


def test_save_image(tmp_path: Path) -> None:
    image = torch.arange(2 * 3 * 3, dtype=torch.uint8).reshape(3, 2, 3)
    save_image(image, tmp_path / "x.png")
    with Image.open(tmp_path / "x.png") as pil:
        assert torch.equal(torch.from_numpy(np.array(pil)).permute(2, 0, 1), image)
    with pytest.raises(FileExistsError):
        save_image(image, tmp_path / "x.png")
    with pytest.raises(ValueError, match="uint8"):
        save_image(image.float(), tmp_path / "y.png")


# -------------------------------------------------------------------------------- LFW


def test_person_names_are_letters_and_unique() -> None:
    names = [lfw_person_name(i) for i in range(3000)]
    assert len(set(names)) == len(names)
    assert all(re.fullmatch(r"[A-Z][a-z]+(_[A-Z][a-z]*)+", n) for n in names)


def test_lfw_layout_and_pairs_format(lfw_root: Path) -> None:
    files = set(_tree(lfw_root))
    for name in ("pairs.txt", "people.txt", "pairsDevTrain.txt", "pairsDevTest.txt",
                 "peopleDevTrain.txt", "peopleDevTest.txt"):  # fmt: skip
        assert name in files
    images = sorted(f for f in files if f.startswith("lfw/"))
    assert len(images) == 80
    for image in images:
        assert re.fullmatch(r"lfw/([A-Za-z_]+)/\1_000[1-4]\.jpg", image), image
    with Image.open(lfw_root / images[0]) as pil:
        assert pil.format == "JPEG" and pil.size == (250, 250) and pil.mode == "RGB"

    raw = (lfw_root / "pairs.txt").read_bytes()
    assert b"\r" not in raw and raw.endswith(b"\n")
    lines = raw.decode().splitlines()
    assert lines[0] == "10\t4"
    assert len(lines) == 1 + 10 * 8
    for fold in range(10):
        block = lines[1 + 8 * fold : 9 + 8 * fold]
        assert all(len(line.split("\t")) == 3 for line in block[:4])
        assert all(len(line.split("\t")) == 4 for line in block[4:])


def test_lfw_images_hold_the_rendered_face_in_the_central_half(lfw_root: Path) -> None:
    from torchvision.transforms.v2 import functional as F

    from lightning_deepvision.datasets.image_io import read_image
    from lightning_deepvision.datasets.synthetic import render_face

    image = read_image(lfw_root / "lfw" / lfw_person_name(7) / f"{lfw_person_name(7)}_0002.jpg")
    centre = F.center_crop(image, [125, 125]).float()
    same = render_face(identity=7, sample=1, size=(125, 125), seed=0)["image"].float()
    other = render_face(identity=8, sample=1, size=(125, 125), seed=0)["image"].float()
    assert (centre - same).abs().mean() < 10  # JPEG loss on a noisy render only
    assert (centre - other).abs().mean() > 3 * (centre - same).abs().mean()


def test_lfw_folds_have_disjoint_people(lfw_root: Path) -> None:
    ds = LFWPairs(lfw_root)
    people_per_fold: list[set[str]] = [set() for _ in range(10)]
    for e in ds.entries:
        people_per_fold[e.fold] |= {e.name1, e.name2}
    for i in range(10):
        for j in range(i + 1, 10):
            assert people_per_fold[i].isdisjoint(people_per_fold[j])
    people = LFWPeople(lfw_root)
    for e in ds.entries:  # pairs use the people of their own fold in people.txt
        assert people.folds[people.targets.index(people.classes.index(e.name1))] == e.fold
    pairs = [(e.name1, e.number1, e.name2, e.number2) for e in ds.entries]
    assert len(set(pairs)) == len(pairs)


def test_lfw_view1_is_disjoint(lfw_root: Path) -> None:
    train, test = LFWPairs(lfw_root, split="train"), LFWPairs(lfw_root, split="test")
    train_people = {n for e in train.entries for n in (e.name1, e.name2)}
    test_people = {n for e in test.entries for n in (e.name1, e.name2)}
    assert train_people.isdisjoint(test_people)


def test_lfw_round_trip_options(tmp_path: Path) -> None:
    root = write_lfw(
        tmp_path,
        num_people=6,
        images_per_person=3,
        num_folds=3,
        pairs_per_fold=2,
        image_set="funneled",
        with_people_file=False,
        view1=False,
    )
    assert sorted(p.name for p in root.iterdir()) == ["lfw_funneled", "pairs.txt"]
    ds = LFWPairs(root)
    assert len(ds) == 12 and ds.num_folds == 3 and ds.image_set == "funneled"
    assert ds[11]["image2"].shape == (3, 250, 250)
    assert len(LFWPeople(root)) == 18  # falls back to listing identity folders


def test_lfw_is_deterministic_and_seeded(tmp_path: Path) -> None:
    kwargs = {"num_people": 4, "images_per_person": 2, "num_folds": 2, "pairs_per_fold": 1}
    a = _tree(write_lfw(tmp_path / "a", **kwargs))
    b = _tree(write_lfw(tmp_path / "b", **kwargs))
    c = _tree(write_lfw(tmp_path / "c", seed=3, **kwargs))
    assert a == b
    assert a != c


def test_lfw_refuses_to_overwrite(tmp_path: Path) -> None:
    (tmp_path / "pairs.txt").write_text("my own pairs")
    with pytest.raises(FileExistsError, match=r"pairs\.txt"):
        write_lfw(tmp_path, num_people=4, num_folds=2, pairs_per_fold=1)
    assert (tmp_path / "pairs.txt").read_text() == "my own pairs"
    assert not (tmp_path / "lfw").exists()


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"num_people": 5, "num_folds": 3}, "num_people"),
        ({"images_per_person": 1}, "images_per_person"),
        ({"num_people": 4, "num_folds": 2, "images_per_person": 2, "pairs_per_fold": 3}, "fold 1"),
        ({"image_set": "aligned"}, "image_set"),
    ],
)
def test_lfw_impossible_requests(tmp_path: Path, kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        write_lfw(tmp_path, **kwargs)  # type: ignore[arg-type]
    assert not any(tmp_path.iterdir())
