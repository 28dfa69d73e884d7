"""MultiPIE reads the official multi-view layout written by testing.write_multipie."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch
from torchvision import tv_tensors

from lightning_deepvision.datasets import DatasetNotFoundError, MissingImageError
from lightning_deepvision.datasets.image_io import read_image
from lightning_deepvision.datasets.multipie import (
    CAMERA_YAWS,
    CAMERAS,
    ELEVATED_CAMERAS,
    EXPRESSIONS,
    FIP_CAMERAS,
    MultiPIE,
    MultiPIEFileNameError,
    expression_of,
)
from lightning_deepvision.testing.multipie import multipie_path, write_multipie

SUBJECTS = (1, 2, 3, 4)
SHOTS = (0, 7, 12)


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("multipie")
    write_multipie(path, subjects=SUBJECTS, shots=SHOTS)
    # A second session with a smile recording, seen by the frontal camera only.
    write_multipie(path, subjects=(1,), sessions=(3,), recordings=(1, 2), cameras=("05_1",))
    return path


def copy_tree(root: Path, tmp_path: Path) -> Path:
    target = tmp_path / "copy"
    shutil.copytree(root, target)
    return target


def test_camera_table_is_signed_and_marks_the_elevated_cameras() -> None:
    assert len(CAMERAS) == 15 and set(CAMERAS) == set(CAMERA_YAWS)
    assert CAMERA_YAWS["05_1"] == 0.0
    assert CAMERA_YAWS["19_0"] == 45.0 and CAMERA_YAWS["08_0"] == -45.0
    assert CAMERA_YAWS["11_0"] == -90.0 and CAMERA_YAWS["24_0"] == 90.0
    assert {"08_1", "19_1"} == ELEVATED_CAMERAS
    assert sorted(CAMERA_YAWS[c] for c in FIP_CAMERAS) == [-45, -30, -15, 0, 15, 30, 45]
    assert expression_of(1, 1) == "neutral" and expression_of(2, 3) == "squint"
    with pytest.raises(KeyError, match="no recording 04 in session 01"):
        expression_of(1, 4)


def test_samples_parse_every_field(root: Path) -> None:
    data = MultiPIE(root, sessions=[1])
    assert len(data) == len(SUBJECTS) * len(FIP_CAMERAS) * len(SHOTS)
    assert data.subjects == list(SUBJECTS)
    sample = data[0]
    assert isinstance(sample["image"], tv_tensors.Image) and sample["image"].dtype == torch.uint8
    assert sample["image"].shape == (3, 40, 32)
    path = Path(sample["path"])
    subject, session, recording, camera, shot = path.stem.split("_")
    assert int(sample["identity"]) == int(subject) and int(sample["session"]) == int(session)
    assert int(sample["illumination"]) == int(shot)
    cam = f"{camera[:2]}_{camera[2]}"
    assert float(sample["yaw"]) == CAMERA_YAWS[cam] and CAMERAS[int(sample["camera"])] == cam
    assert EXPRESSIONS[int(sample["expression"])] == "neutral"
    assert sample["yaw"].dtype == torch.float32 and sample["label"].dtype == torch.int64
    # The target is the canonical view: the same recording by camera 05_1 under shot 7.
    canonical = multipie_path(root, int(subject), 1, int(recording), "05_1", 7)
    assert torch.equal(sample["target"], read_image(canonical))
    assert float(sample["target_yaw"]) == 0.0


def test_filters(root: Path) -> None:
    assert len(MultiPIE(root, subjects=[2, 3], sessions=[1])) == 2 * 7 * 3
    assert len(MultiPIE(root, cameras=["05_1", "19_0"], sessions=[1])) == 4 * 2 * 3
    yaws = {float(s["yaw"]) for s in MultiPIE(root, yaw_range=(-20, 20), sessions=[1])}
    assert yaws == {-15.0, 0.0, 15.0}
    assert len(MultiPIE(root, illuminations=[7], sessions=[1])) == 4 * 7
    # Session 3 holds a neutral and a smile recording of subject 1 at the frontal camera.
    smile = MultiPIE(root, expressions=["smile"])
    assert len(smile) == 3 and {int(s["session"]) for s in smile} == {3}
    assert {EXPRESSIONS[int(smile[i]["expression"])] for i in range(3)} == {"smile"}


def test_fip_protocol_splits_the_subjects(root: Path) -> None:
    train = MultiPIE(root, "train", protocol="fip", train_subjects=3)
    test = MultiPIE(root, "test", protocol="fip", train_subjects=3)
    assert train.subjects == [1, 2, 3] and test.subjects == [4]
    assert {int(s["session"]) for s in (train[0], test[0])} == {1}
    assert len(train) + len(test) == 4 * 7 * 3
    assert int(test[0]["label"]) == 0 and test.num_classes == 1


def test_random_target_views_stay_with_the_shot(root: Path) -> None:
    data = MultiPIE(root, sessions=[1], target_view="random", target_seed=0)
    yaws = set()
    for index in range(0, len(data), 5):
        sample = data[index]
        yaws.add(float(sample["target_yaw"]))
        cam = next(c for c, y in CAMERA_YAWS.items() if y == float(sample["target_yaw"]))
        name = Path(sample["path"]).stem.split("_")
        expected = multipie_path(root, int(name[0]), 1, int(name[2]), cam, int(name[4]))
        assert torch.equal(sample["target"], read_image(expected))
    assert len(yaws) > 2
    again = MultiPIE(root, sessions=[1], target_view="random", target_seed=0)
    assert float(again[5]["target_yaw"]) == float(data[5]["target_yaw"])


def test_random_canonical_targets_are_other_cameras_under_the_canonical_shot(root: Path) -> None:
    data = MultiPIE(root, sessions=[1], target_view="random_canonical", target_seed=0)
    yaws = set()
    for index in range(0, len(data), 5):
        sample = data[index]
        yaws.add(float(sample["target_yaw"]))
        cam = next(c for c, y in CAMERA_YAWS.items() if y == float(sample["target_yaw"]))
        name = Path(sample["path"]).stem.split("_")
        expected = multipie_path(root, int(name[0]), 1, int(name[2]), cam, 7)
        assert torch.equal(sample["target"], read_image(expected))
    assert len(yaws) > 2
    with pytest.raises(ValueError, match="target_view"):
        MultiPIE(root, target_view="side")  # type: ignore[arg-type]


def test_not_found_names_the_root(tmp_path: Path) -> None:
    with pytest.raises(DatasetNotFoundError, match="session01"):
        MultiPIE(tmp_path)
    with pytest.raises(DatasetNotFoundError, match="root="):
        MultiPIE(tmp_path / "absent")
    with pytest.raises(ValueError, match="unknown Multi-PIE camera"):
        MultiPIE(tmp_path, cameras=["99_0"])


def test_bad_names_raise_naming_the_file_or_are_counted(root: Path, tmp_path: Path) -> None:
    tree = copy_tree(root, tmp_path)
    folder = multipie_path(tree, 1, 1, 1, "05_1", 0).parent
    (folder / "picture.png").write_bytes(b"")
    with pytest.raises(MultiPIEFileNameError, match=r"picture\.png"):
        MultiPIE(tree)
    (folder / "picture.png").unlink()
    # Fields that disagree with the directories (subject 002 under 001/).
    shutil.copy(folder / "001_01_01_051_00.png", folder / "002_01_01_051_00.png")
    with pytest.raises(MultiPIEFileNameError, match=r"002_01_01_051_00\.png"):
        MultiPIE(tree)
    data = MultiPIE(tree, skip_invalid=True)
    assert data.skipped["bad_name"] == 1
    assert len(data) == 4 * 7 * 3 + 6


def test_missing_canonical_view_raises_or_is_skipped(root: Path, tmp_path: Path) -> None:
    tree = copy_tree(root, tmp_path)
    multipie_path(tree, 2, 1, 1, "05_1", 7).unlink()
    with pytest.raises(MissingImageError, match=r"002_01_01_051_07\.png"):
        MultiPIE(tree, sessions=[1])
    data = MultiPIE(tree, sessions=[1], skip_invalid=True)
    # Every image of subject 2's recording lacks its target now.
    assert data.skipped["missing_target"] == 7 * 3 - 1
    assert 2 not in data.subjects


def test_writer_refuses_to_overwrite(root: Path) -> None:
    with pytest.raises(FileExistsError, match="refusing to overwrite"):
        write_multipie(root, subjects=(1,))
