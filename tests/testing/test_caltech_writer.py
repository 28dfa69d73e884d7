"""write_caltech / write_seq / write_vbb: the raw Caltech layout, seeded, never overwriting."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from scipy.io import loadmat

from lightning_deepvision.datasets.caltech import (
    VBB_FIELDS,
    VBB_OBJECT_FIELDS,
    CaltechPedestrian,
    SeqFile,
    read_bbgt,
    read_seq_header,
    read_vbb,
)
from lightning_deepvision.testing import write_caltech, write_seq, write_vbb


def _files(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


def test_layout(tmp_path: Path) -> None:
    root = write_caltech(tmp_path / "c", sets=("set00", "set07"), videos_per_set=2)
    assert root == tmp_path / "c"
    assert sorted(_files(root)) == [
        "annotations/set00/V000.vbb",
        "annotations/set00/V001.vbb",
        "annotations/set07/V000.vbb",
        "annotations/set07/V001.vbb",
        "set00/V000.seq",
        "set00/V001.seq",
        "set07/V000.seq",
        "set07/V001.seq",
    ]
    header = read_seq_header(root / "set07" / "V001.seq")
    assert (header.width, header.height, header.num_frames, header.image_format) == (
        160,
        120,
        60,
        201,
    )
    assert header.fps == 30.0
    mat = loadmat(root / "annotations" / "set07" / "V001.vbb")
    assert mat["A"][0, 0].dtype.names == VBB_FIELDS
    assert mat["A"][0, 0]["objLists"][0, 0].dtype.names == VBB_OBJECT_FIELDS


def test_new_annotation_files(tmp_path: Path) -> None:
    root = write_caltech(tmp_path / "c", new_annotations=True)
    names = sorted(p.relative_to(root).as_posix() for p in root.glob("anno_*/*"))
    assert names == [
        "anno_test_1xnew/set06_V000_I00029.jpg.txt",
        "anno_test_1xnew/set06_V000_I00059.jpg.txt",
        "anno_train_1xnew/set00_V000_I00029.txt",
        "anno_train_1xnew/set00_V000_I00059.txt",
    ]
    text = (root / names[0]).read_text()
    assert text.splitlines()[0] == "% bbGt version=3"
    rows = read_bbgt(root / names[0])
    objects = read_vbb(root / "annotations" / "set06" / "V000.vbb")[29]
    assert [r["label"] for r in rows] == [o["label"] for o in objects]
    for row, obj in zip(rows, objects, strict=True):
        assert row["box"] == [float(np.floor(v + 0.5)) for v in obj["box"]]


def test_deterministic_and_seeded(tmp_path: Path) -> None:
    a = _files(write_caltech(tmp_path / "a", sets=("set06",)))
    b = _files(write_caltech(tmp_path / "b", sets=("set06",)))
    c = _files(write_caltech(tmp_path / "c", sets=("set06",), seed=1))
    assert a == b
    assert a["set06/V000.seq"] != c["set06/V000.seq"]


def test_never_overwrites(tmp_path: Path) -> None:
    root = write_caltech(tmp_path / "c", sets=("set06",))
    before = _files(root)
    with pytest.raises(FileExistsError, match=r"refusing to overwrite .*set06/V000\.seq"):
        write_caltech(root, sets=("set06",), new_annotations=True)
    assert _files(root) == before  # nothing written, not even the new annotations
    # A different set beside it is fine.
    write_caltech(root, sets=("set07",))
    with pytest.raises(FileExistsError):
        write_seq(root / "set07" / "V000.seq", [torch.zeros(3, 8, 8, dtype=torch.uint8)])
    with pytest.raises(FileExistsError):
        write_vbb(root / "annotations" / "set07" / "V000.vbb", [[]])


def test_drawing_matches_the_annotations(tmp_path: Path) -> None:
    root = write_caltech(tmp_path / "c", sets=("set06",), frame_size=(120, 160))
    sample = CaltechPedestrian(root, "test")[0]
    image = sample["image"].float()
    for box, visible, occluded in zip(
        sample["boxes"], sample["visible_boxes"], sample["occluded"], strict=True
    ):
        x0, y0, x1, y1 = (round(float(v)) for v in box)
        if occluded:
            # Below the visible part, the red car: red well above green and blue.
            vy1 = round(float(visible[3]))
            r, g, b = image[:, (vy1 + y1) // 2, (x0 + x1) // 2]
            assert r > g + 60 and r > b + 60
            assert vy1 < y1
        # The head (skin colour) sits at the top centre of every box.
        head = image[:, y0 + 2, (x0 + x1) // 2]
        assert torch.allclose(head, torch.tensor([220.0, 180.0, 150.0]), atol=40)


def test_seq_options(tmp_path: Path) -> None:
    frames = [torch.full((3, 16, 24), 10 * i, dtype=torch.uint8) for i in range(3)]
    grey = write_seq(tmp_path / "g.seq", frames, image_format=102)
    with Image.open(io.BytesIO(SeqFile(grey).read_bytes(2))) as pil:
        assert pil.format == "JPEG" and pil.mode == "L"
    png = SeqFile(write_seq(tmp_path / "p.seq", frames, image_format=2, trailer_bytes=8))
    assert torch.equal(png[2], frames[2])
    with pytest.raises(ValueError, match="image_format"):
        write_seq(tmp_path / "x.seq", frames, image_format=200)
    with pytest.raises(ValueError, match="trailer_bytes"):
        write_seq(tmp_path / "x.seq", frames, trailer_bytes=12)
    with pytest.raises(ValueError, match="every frame"):
        write_seq(tmp_path / "x.seq", [frames[0], torch.zeros(3, 8, 8, dtype=torch.uint8)])
    with pytest.raises(ValueError, match="at least one frame"):
        write_seq(tmp_path / "x.seq", [])
    assert not (tmp_path / "x.seq").exists()


def test_vbb_writer_checks(tmp_path: Path) -> None:
    box = {"box": [1.0, 2, 3, 4], "visible": [0.0, 0, 0, 0], "occluded": False}
    with pytest.raises(ValueError, match="two labels"):
        write_vbb(
            tmp_path / "a.vbb",
            [[{"id": 1, "label": "person", **box}], [{"id": 1, "label": "people", **box}]],
        )
    with pytest.raises(ValueError, match="1-based"):
        write_vbb(tmp_path / "b.vbb", [[{"id": 0, "label": "person", **box}]])
    assert read_vbb(write_vbb(tmp_path / "c.vbb", [[], []])) == [[], []]


def test_writer_arguments(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown sets"):
        write_caltech(tmp_path, sets=("set11",))
    with pytest.raises(ValueError, match="num_frames"):
        write_caltech(tmp_path, num_frames=0)
