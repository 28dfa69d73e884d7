from pathlib import Path

import pytest
import torch

from lightning_deepvision.datasets.caltech_results import (
    detections_for_frames,
    read_caltech_results,
    read_video_results,
    result_path,
    write_caltech_results,
    write_video_results,
)
from lightning_deepvision.datasets.errors import MalformedAnnotationError


def _detections(seed: int, k: int, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    scale = torch.tensor([640, 480, 60, 150, 1], dtype=torch.float64)
    boxes = torch.rand(k, 5, generator=g, dtype=torch.float64) * scale
    return boxes.to(dtype)


def test_round_trip_and_toolbox_layout(tmp_path: Path) -> None:
    results = {
        (6, 0, 59): _detections(0, 3),
        (6, 0, 29): _detections(1, 2),
        (6, 1, 29): _detections(2, 1, torch.float64),
        (10, 11, 1799): _detections(3, 4),
        (6, 0, 89): torch.zeros(0, 5),  # no detection: no row
    }
    written = write_caltech_results(tmp_path, results)
    assert written == [
        tmp_path / "set06" / "V000.txt",
        tmp_path / "set06" / "V001.txt",
        tmp_path / "set10" / "V011.txt",
    ]
    assert result_path(tmp_path, 10, 11) == written[-1]
    lines = (tmp_path / "set06" / "V000.txt").read_text().splitlines()
    # frames ascending and 1-based (0-based 29 -> 30), comma separated, six fields
    assert [line.split(",")[0] for line in lines] == ["30", "30", "60", "60", "60"]
    assert all(len(line.split(",")) == 6 for line in lines)
    # float32 values are written as their own shortest text, not their float64 expansion
    assert lines[0].split(",")[1:] == [str(v) for v in results[(6, 0, 29)][0].numpy()]

    back = read_caltech_results(tmp_path)
    assert list(back) == [(6, 0, 29), (6, 0, 59), (6, 1, 29), (10, 11, 1799)]
    for key, value in back.items():
        assert value.dtype == torch.float64
        # exact: each value reads back to the same number of its own precision
        assert torch.equal(value.to(results[key].dtype), results[key])
    frames = [(6, 0, 29), (6, 0, 89), (7, 0, 29)]
    evaluated = detections_for_frames(back, frames)
    assert torch.equal(evaluated[0], back[(6, 0, 29)])
    assert evaluated[1].shape == evaluated[2].shape == (0, 5)


def test_reads_blanks_and_commas_and_the_toolbox_own_output(tmp_path: Path) -> None:
    path = tmp_path / "set06" / "V000.txt"
    path.parent.mkdir()
    # dlmwrite output as the toolbox writes it, and blank-separated rows as load -ascii reads
    path.write_text("30,100,50,41,100,0.93\n\n30 1.5e2 60 20.5 50 -1\n 60 , 0,0,1,1,2\n")
    frames = read_video_results(path)
    assert sorted(frames) == [29, 59]
    assert frames[29].tolist() == [[100, 50, 41, 100, 0.93], [150, 60, 20.5, 50, -1]]
    assert frames[59].tolist() == [[0, 0, 1, 1, 2]]


def test_never_overwrites(tmp_path: Path) -> None:
    path = result_path(tmp_path, 6, 1)
    path.parent.mkdir(parents=True)
    path.write_text("user data\n")
    results = {(6, 0, 29): _detections(0, 2), (6, 1, 29): _detections(1, 2)}
    with pytest.raises(FileExistsError, match=r"V001\.txt exists"):
        write_caltech_results(tmp_path, results)
    # nothing was written, the existing file is untouched
    assert not result_path(tmp_path, 6, 0).exists()
    assert path.read_text() == "user data\n"
    with pytest.raises(FileExistsError):
        write_video_results(path, {29: _detections(0, 1)})
    assert path.read_text() == "user data\n"
    written = write_video_results(tmp_path / "new" / "V000.txt", {29: _detections(0, 1)})
    assert read_video_results(written)[29].shape == (1, 5)


@pytest.mark.parametrize(
    ("row", "line"),
    [
        ("30,1,2,3,4", 2),  # five fields
        ("30,1,2,3,4,5,6", 2),  # seven
        ("30,1,2,x,4,5", 2),  # not a number
        ("0,1,2,3,4,5", 2),  # frames are 1-based
        ("30.5,1,2,3,4,5", 2),  # not a whole frame
        ("30,1,2,nan,4,5", 2),  # not finite
    ],
)
def test_malformed_rows_name_file_and_line(tmp_path: Path, row: str, line: int) -> None:
    path = tmp_path / "set06" / "V003.txt"
    path.parent.mkdir()
    path.write_text(f"30,1,2,3,4,0.5\n{row}\n")
    with pytest.raises(MalformedAnnotationError, match=rf"V003.txt:{line}: expected 6 numbers"):
        read_caltech_results(tmp_path)


def test_missing_results_and_bad_inputs(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"expected files setXX/VYYY\.txt"):
        read_caltech_results(tmp_path / "absent")
    (tmp_path / "set06").mkdir()
    (tmp_path / "set06" / "notes.txt").write_text("x")
    with pytest.raises(FileNotFoundError, match="no detection results"):
        read_caltech_results(tmp_path)
    with pytest.raises(ValueError, match=r"must have shape \[k, 5\]"):
        write_caltech_results(tmp_path, {(6, 0, 29): torch.zeros(2, 4)})
    with pytest.raises(ValueError, match="frame must be a whole number >= 0, got -1"):
        write_caltech_results(tmp_path, {(6, 0, -1): torch.zeros(1, 5)})
    with pytest.raises(ValueError, match=r"keys must be \(set, video, frame\)"):
        write_caltech_results(tmp_path, {(6, 0): torch.zeros(1, 5)})  # type: ignore[dict-item]
    with pytest.raises(ValueError, match="must be finite"):
        write_caltech_results(tmp_path, {(6, 0, 29): torch.tensor([[1, 2, 3, float("nan"), 5]])})
    assert not (tmp_path / "set06" / "V000.txt").exists()
