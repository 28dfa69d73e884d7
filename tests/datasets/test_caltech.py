"""Caltech Pedestrian: .seq frames, .vbb and bbGt annotations, the dataset and its windows."""

from __future__ import annotations

import io
import itertools
import os
import random
import shutil
import stat
import struct
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from scipy.io import loadmat, savemat
from torchvision import tv_tensors
from torchvision.ops import box_convert
from torchvision.transforms import v2

from lightning_deepvision.datasets import (
    CaltechPedestrian,
    CaltechWindows,
    DatasetNotFoundError,
    MalformedAnnotationError,
    SeqFile,
    evaluation_ground_truth,
    read_bbgt,
    read_vbb,
)
from lightning_deepvision.datasets.caltech import (
    CALTECH_LABELS,
    SPLIT_SETS,
    VBB_FIELDS,
    VBB_OBJECT_FIELDS,
    CorruptSeqError,
    FrameGroupedSampler,
    MalformedVbbError,
    UnsupportedSeqFormatError,
    caltech_ignore,
    format_bbgt,
    free_of,
    read_seq_header,
)
from lightning_deepvision.datasets.caltech import seq as seq_module
from lightning_deepvision.testing import write_caltech, write_seq, write_vbb

# ------------------------------------------------------------------------------ fixtures


def _frames(count: int = 5, size: tuple[int, int] = (24, 32), seed: int = 0) -> list[torch.Tensor]:
    """Frames that differ clearly from one another (a bright bar at a different row each)."""
    generator = torch.Generator().manual_seed(seed)
    frames = []
    for i in range(count):
        frame = torch.randint(0, 60, (3, *size), generator=generator, dtype=torch.uint8)
        frame[:, (3 * i) % size[0], :] = 250
        frames.append(frame)
    return frames


@pytest.fixture(scope="module")
def caltech_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """set00 and set06, one 60-frame video each, with the improved annotations. Read-only."""
    return write_caltech(tmp_path_factory.mktemp("caltech") / "root", new_annotations=True)


@pytest.fixture
def own_root(tmp_path: Path) -> Path:
    """A copy a test may damage."""
    return write_caltech(tmp_path / "root", new_annotations=True)


@pytest.fixture(autouse=True)
def _fresh_memory_index(monkeypatch: pytest.MonkeyPatch) -> None:
    # Each test starts as a fresh process would: no frame index in memory.
    monkeypatch.setattr(seq_module, "_MEMORY_INDEX", {})


def _tree(root: Path) -> dict[str, tuple[int, int]]:
    return {
        str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns)
        for p in sorted(root.rglob("*"))
    }


# ------------------------------------------------------------------------------ .seq


def test_every_header_field(tmp_path: Path) -> None:
    path = write_seq(
        tmp_path / "a.seq", _frames(3, (24, 32)), fps=25.0, description="tiny test video"
    )
    header = read_seq_header(path)
    raw = 24 * 32 * 3
    assert header.name == "Norpix seq"
    assert header.version == 3
    assert header.header_size == 1024
    assert header.description == "tiny test video"
    assert (header.width, header.height) == (32, 24)
    assert (header.bit_depth, header.bit_depth_real) == (24, 8)
    assert header.image_size_bytes == raw
    assert header.image_format == 201
    assert header.num_frames == 3
    # seqWriterPlugin: nByte + 6 rounded up past the next multiple of 512.
    assert header.true_image_size == 2560 and header.true_image_size % 512 == 0
    assert header.fps == 25.0
    seq = SeqFile(path)
    assert (seq.width, seq.height, seq.fps, seq.image_format, seq.num_frames) == (
        32,
        24,
        25.0,
        201,
        3,
    )
    assert len(seq) == 3
    # The byte layout itself, read independently of the reader's struct.
    data = path.read_bytes()
    assert data[:4] == bytes.fromhex("edfe0000")
    assert data[4:24].decode("utf-16-le") == "Norpix seq" and data[24:28] == bytes(4)
    assert struct.unpack_from("<ii", data, 28) == (3, 1024)
    assert data[36 : 36 + 30].decode("utf-16-le") == "tiny test video"
    assert struct.unpack_from("<9I", data, 548) == (32, 24, 24, 8, raw, 201, 3, 0, 2560)
    assert struct.unpack_from("<d", data, 584) == (25.0,)
    assert data[592:1024] == bytes(432)
    # The first frame's byte count counts itself; then the JPEG.
    count = struct.unpack_from("<I", data, 1024)[0]
    assert data[1028:1030] == b"\xff\xd8" and data[1024 + count - 2 : 1024 + count] == b"\xff\xd9"


def test_grey_format_header(tmp_path: Path) -> None:
    header = read_seq_header(write_seq(tmp_path / "g.seq", _frames(2), image_format=102))
    assert (header.image_format, header.bit_depth, header.image_size_bytes) == (102, 8, 24 * 32)


@pytest.mark.parametrize("trailer_bytes", [16, 8])
@pytest.mark.parametrize("image_format", [201, 2])
def test_random_access_equals_sequential_decode(
    tmp_path: Path, trailer_bytes: int, image_format: int
) -> None:
    frames = _frames(7)
    path = write_seq(
        tmp_path / "v.seq", frames, image_format=image_format, trailer_bytes=trailer_bytes
    )
    seq = SeqFile(path)
    sequential = list(seq)
    assert len(sequential) == 7
    order = list(range(7))
    random.Random(0).shuffle(order)
    for i in order:
        image = seq[i]
        assert image.dtype == torch.uint8 and image.shape == (3, 24, 32)
        assert torch.equal(image, sequential[i])
        # The stored bytes are a complete image file that PIL decodes to the same pixels.
        pil = np.array(Image.open(io.BytesIO(seq.read_bytes(i))).convert("RGB"))
        assert torch.equal(image, torch.from_numpy(pil).permute(2, 0, 1))
    if image_format == 2:  # PNG is lossless: the frames come back exactly
        assert all(torch.equal(a, b) for a, b in zip(sequential, frames, strict=True))
    else:  # JPEG: close, and each frame is its own (the bar moves)
        for i, frame in enumerate(frames):
            errors = [(seq[j].float() - frame.float()).abs().mean() for j in range(7)]
            assert int(np.argmin(errors)) == i
    assert torch.equal(seq[-1], sequential[6])


def test_pil_decoding_when_torchvision_has_none(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    frames = _frames(3)
    png = SeqFile(write_seq(tmp_path / "p.seq", frames, image_format=2))
    jpeg = SeqFile(write_seq(tmp_path / "j.seq", frames))
    expected = jpeg[2]
    monkeypatch.setattr(seq_module, "_TORCHVISION_DECODERS", False)
    assert torch.equal(png[1], frames[1])
    assert (jpeg[2].float() - expected.float()).abs().max() <= 2
    data = bytearray(jpeg.read_bytes(0))
    data[:40] = bytes(40)
    with pytest.raises(CorruptSeqError, match="frame 0: cannot decode the JPEG"):
        jpeg.decode(bytes(data), frame=0)


def test_offsets_and_timestamps(tmp_path: Path) -> None:
    seq = SeqFile(write_seq(tmp_path / "t.seq", _frames(4), fps=30.0))
    assert seq.offsets[0] == 1024
    for i in range(3):  # count + image + 16-byte trailer
        count = struct.unpack_from("<I", seq.path.read_bytes(), int(seq.offsets[i]))[0]
        assert seq.offsets[i + 1] == seq.offsets[i] + count + 16
    assert [seq.timestamp(i) for i in range(4)] == [0.0, 0.033, 0.067, 0.1]


def test_grey_frames_come_back_with_three_equal_channels(tmp_path: Path) -> None:
    seq = SeqFile(write_seq(tmp_path / "g.seq", _frames(2), image_format=1))
    image = seq[1]
    assert image.shape == (3, 24, 32)
    assert torch.equal(image[0], image[1]) and torch.equal(image[1], image[2])


def test_frame_count_missing_from_header(tmp_path: Path) -> None:
    path = write_seq(tmp_path / "n.seq", _frames(5), record_num_frames=False)
    assert read_seq_header(path).num_frames == 0
    seq = SeqFile(path)
    assert len(seq) == 5
    assert torch.equal(seq[4], SeqFile(write_seq(tmp_path / "m.seq", _frames(5)))[4])


def test_out_of_range_names_file_and_frame(tmp_path: Path) -> None:
    seq = SeqFile(write_seq(tmp_path / "r.seq", _frames(3)))
    with pytest.raises(IndexError, match=r"r\.seq.*frame 3 out of range \(3 frames\)"):
        seq[3]
    with pytest.raises(IndexError, match="frame -4"):
        seq.read_bytes(-4)


def test_truncated_seq_names_file_and_frame(tmp_path: Path) -> None:
    path = write_seq(tmp_path / "cut.seq", _frames(4))
    offsets = SeqFile(path).offsets
    data = path.read_bytes()
    path.write_bytes(data[: int(offsets[2]) + 20])  # stops inside frame 2
    seq_module._MEMORY_INDEX.clear()
    with pytest.raises(CorruptSeqError, match=r"cut\.seq.*frame 2:.*declares 4 frames") as info:
        SeqFile(path)
    assert info.value.frame == 2
    path.write_bytes(data[: int(offsets[3])])  # ends exactly before frame 3
    with pytest.raises(CorruptSeqError, match=r"frame 3:.*declares 4 frames.*ends"):
        SeqFile(path)


def test_wrong_magic_and_truncated_header(tmp_path: Path) -> None:
    path = write_seq(tmp_path / "m.seq", _frames(1))
    data = bytearray(path.read_bytes())
    data[0:4] = b"RIFF"
    path.write_bytes(bytes(data))
    with pytest.raises(CorruptSeqError, match=r"m\.seq.*magic number 0x46464952, expected 0xFEED"):
        SeqFile(path)
    short = tmp_path / "short.seq"
    short.write_bytes(bytes(100))
    with pytest.raises(CorruptSeqError, match=r"short\.seq.*truncated header"):
        read_seq_header(short)


@pytest.mark.parametrize("code", [100, 200, 101, 7])
def test_raw_formats_are_not_supported(tmp_path: Path, code: int) -> None:
    path = write_seq(tmp_path / "raw.seq", _frames(1))
    data = bytearray(path.read_bytes())
    struct.pack_into("<I", data, 548 + 4 * 5, code)
    path.write_bytes(bytes(data))
    assert read_seq_header(path).image_format == code  # the header itself still reads
    with pytest.raises(UnsupportedSeqFormatError, match=rf"raw\.seq.*format {code}.*not supported"):
        SeqFile(path)


def test_corrupt_frame_data_names_the_frame(tmp_path: Path) -> None:
    path = write_seq(tmp_path / "bad.seq", _frames(3))
    offsets = SeqFile(path).offsets
    data = bytearray(path.read_bytes())
    start = int(offsets[1]) + 4
    data[start : start + 40] = bytes(40)  # wipe the JPEG header of frame 1
    path.write_bytes(bytes(data))
    seq = SeqFile(path)
    assert seq[0].shape == (3, 24, 32) and seq[2].shape == (3, 24, 32)
    with pytest.raises(CorruptSeqError, match=r"bad\.seq.*frame 1: cannot decode the JPEG"):
        seq[1]


def _read_only(root: Path) -> None:
    for path in [root, *root.rglob("*")]:
        mode = stat.S_IMODE(path.stat().st_mode)
        path.chmod(mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))


def _writable(root: Path) -> None:
    for path in [root, *root.rglob("*")]:
        path.chmod(stat.S_IMODE(path.stat().st_mode) | stat.S_IWUSR)


def test_index_cache_never_writes_beside_the_video(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = tmp_path / "data"
    data.mkdir()
    path = write_seq(data / "V000.seq", _frames(6))
    before = _tree(data)
    _read_only(data)
    try:
        if os.geteuid() != 0:  # root may write anyway; the tree comparison below still holds
            with pytest.raises(PermissionError):
                (data / "probe").write_bytes(b"")
        cache = tmp_path / "cache"
        seq = SeqFile(path, cache_dir=cache)
        expected = [seq[i] for i in range(6)]
        assert _tree(data) == before
        assert [p.suffix for p in cache.iterdir()] == [".npz"]
        # A new process (empty memory index) reads the cached index instead of walking the file.
        seq_module._MEMORY_INDEX.clear()

        def no_walk(self: SeqFile, file_size: int) -> np.ndarray:
            raise AssertionError("the index should have come from the cache")

        monkeypatch.setattr(SeqFile, "_build_index", no_walk)
        again = SeqFile(path, cache_dir=cache)
        assert [torch.equal(again[i], expected[i]) for i in range(6)] == [True] * 6
        # In memory only: still nothing written anywhere near the data.
        seq_module._MEMORY_INDEX.clear()
        monkeypatch.undo()
        SeqFile(path)
        assert _tree(data) == before
    finally:
        _writable(data)


def test_stale_cache_is_rebuilt(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    path = write_seq(tmp_path / "v.seq", _frames(3))
    assert len(SeqFile(path, cache_dir=cache)) == 3
    path.unlink()
    write_seq(path, _frames(5, seed=1))
    seq_module._MEMORY_INDEX.clear()
    seq = SeqFile(path, cache_dir=cache)
    assert len(seq) == 5 and seq[4].shape == (3, 24, 32)


# ------------------------------------------------------------------------------ .vbb


def _objects() -> list[list[dict]]:
    return [
        [
            {
                "id": 1,
                "label": "person",
                "box": [10.25, 20.5, 30.0, 70.125],
                "visible": [0.0, 0.0, 0.0, 0.0],
                "occluded": False,
            },
            {
                "id": 3,
                "label": "person-fa",
                "box": [1.0, 2.0, 3.0, 4.0],
                "visible": [0.0, 0.0, 0.0, 0.0],
                "occluded": False,
            },
        ],
        [],
        [
            {
                "id": 1,
                "label": "person",
                "box": [11.0, 20.5, 30.0, 70.0],
                "visible": [11.0, 20.5, 30.0, 40.0],
                "occluded": True,
            }
        ],
    ]


def test_vbb_round_trip(tmp_path: Path) -> None:
    objects = _objects()
    frames = read_vbb(write_vbb(tmp_path / "V000.vbb", objects))
    assert frames == objects


def test_vbb_struct_layout(tmp_path: Path) -> None:
    mat = loadmat(write_vbb(tmp_path / "V000.vbb", _objects()))
    a = mat["A"][0, 0]
    assert a.dtype.names == VBB_FIELDS
    assert float(mat["vers"][0, 0]) == 1.4
    assert a["nFrame"][0, 0] == 3 and a["maxObj"][0, 0] == 3
    assert a["objLists"].shape == (1, 3) and a["objLists"][0, 1].size == 0
    assert a["objLists"][0, 0].dtype.names == VBB_OBJECT_FIELDS
    assert [str(v[0]) if v.size else "" for v in a["objLbl"][0]] == ["person", "", "person-fa"]
    assert a["objInit"][0].tolist() == [1, 0, 1]
    assert a["objStr"][0].tolist() == [1, -1, 1] and a["objEnd"][0].tolist() == [3, -1, 1]


def _savemat(path: Path, struct_a: dict) -> Path:
    savemat(path, {"A": struct_a, "vers": 1.4}, format="5")
    return path


def _struct(tmp_path: Path) -> dict:
    path = tmp_path / "ok.vbb"
    mat = loadmat(path if path.exists() else write_vbb(path, _objects()))
    a = mat["A"][0, 0]
    return {name: a[name] for name in a.dtype.names}


def test_vbb_missing_fields(tmp_path: Path) -> None:
    fields = _struct(tmp_path)
    del fields["objLbl"]
    with pytest.raises(MalformedVbbError, match=r"nolbl\.vbb.*lacks the field\(s\) \['objLbl'\]"):
        read_vbb(_savemat(tmp_path / "nolbl.vbb", fields))
    fields = _struct(tmp_path)
    lists = fields["objLists"].copy()
    entry = lists[0, 2]
    names = [n for n in entry.dtype.names if n != "posv"]
    lists[0, 2] = np.array(
        [[tuple(entry[0, 0][n] for n in names)]], dtype=[(n, object) for n in names]
    )
    fields["objLists"] = lists
    with pytest.raises(MalformedVbbError, match=r"noposv\.vbb.*frame 2:.*\['posv'\]") as info:
        read_vbb(_savemat(tmp_path / "noposv.vbb", fields))
    assert info.value.frame == 2


def test_vbb_other_bad_input(tmp_path: Path) -> None:
    savemat(tmp_path / "noA.vbb", {"B": 1.0})
    with pytest.raises(MalformedVbbError, match=r"noA\.vbb.*no annotation struct 'A'"):
        read_vbb(tmp_path / "noA.vbb")
    (tmp_path / "text.vbb").write_text("not a mat file at all\n" * 20)
    with pytest.raises(MalformedVbbError, match=r"text\.vbb.*not a MATLAB"):
        read_vbb(tmp_path / "text.vbb")
    fields = _struct(tmp_path)
    fields["nFrame"] = np.array([[5.0]])
    with pytest.raises(MalformedVbbError, match=r"objLists has 3 entries, A\.nFrame is 5"):
        read_vbb(_savemat(tmp_path / "count.vbb", fields))
    fields = _struct(tmp_path)
    fields["objLbl"] = fields["objLbl"][:, :1]
    with pytest.raises(MalformedVbbError, match=r"frame 0: object id .* not one of 1\.\.1"):
        read_vbb(_savemat(tmp_path / "id.vbb", fields))
    with pytest.raises(FileNotFoundError):
        read_vbb(tmp_path / "absent.vbb")


# ------------------------------------------------------------------------------ bbGt


def test_bbgt_round_trip_and_versions(tmp_path: Path) -> None:
    objects = [
        {"label": "person", "box": [1.4, 2.5, 3, 4], "visible": [0, 0, 0, 0], "occluded": False},
        {
            "label": "people",
            "box": [5, 6, 7, 8],
            "visible": [5, 6, 7, 4],
            "occluded": True,
            "ignore": True,
            "angle": 10.0,
        },
    ]
    text = format_bbgt(objects)
    assert text.splitlines() == [
        "% bbGt version=3",
        "person 1 3 3 4 0 0 0 0 0 0 0",
        "people 5 6 7 8 1 5 6 7 4 1 10",
    ]
    (tmp_path / "v3.txt").write_text(text)
    read = read_bbgt(tmp_path / "v3.txt")
    assert [o["box"] for o in read] == [[1.0, 3.0, 3.0, 4.0], [5.0, 6.0, 7.0, 8.0]]
    assert [(o["occluded"], o["ignore"], o["angle"]) for o in read] == [
        (False, False, 0.0),
        (True, True, 10.0),
    ]
    (tmp_path / "v2.txt").write_text("% bbGt version=2\nperson 1 2 3 4 1 1 2 3 2 1\n")
    assert read_bbgt(tmp_path / "v2.txt")[0]["ignore"] is True
    (tmp_path / "v0.txt").write_text("person 1 2 3 4 0 0 0 0 0\n\n")
    assert read_bbgt(tmp_path / "v0.txt")[0]["box"] == [1.0, 2.0, 3.0, 4.0]
    (tmp_path / "empty.txt").write_text("% bbGt version=3\n")
    assert read_bbgt(tmp_path / "empty.txt") == []


def test_bbgt_bad_input_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.txt"
    path.write_text("% bbGt version=3\nperson 1 2 3 4 0 0 0 0 0 0 0\nperson 1 2 3 4 0 0 0\n")
    with pytest.raises(MalformedAnnotationError, match=r"bad\.txt:3: expected a version-3 row"):
        read_bbgt(path)
    path.write_text("% bbGt version=3\nperson 1 2 x 4 0 0 0 0 0 0 0\n")
    with pytest.raises(MalformedAnnotationError, match=r"bad\.txt:2:"):
        read_bbgt(path)
    path.write_text("% bbGt version=7\n")
    with pytest.raises(MalformedAnnotationError, match=r"bad\.txt:1: expected '% bbGt version=N'"):
        read_bbgt(path)


# ------------------------------------------------------------------------------ dataset


def test_length_and_splits(caltech_root: Path) -> None:
    train = CaltechPedestrian(caltech_root, "train")
    assert len(train) == 2 and train.videos == [("set00", "V000")]
    assert [train.frame_id(i) for i in range(2)] == [("set00", "V000", 29), ("set00", "V000", 59)]
    assert train.path(1) == f"{caltech_root / 'set00' / 'V000.seq'}:59"
    test = CaltechPedestrian(caltech_root, "test")
    assert test.videos == [("set06", "V000")] and len(test) == 2
    # The training stride is configurable (frames s-1, 2s-1, ...); the test split is always 30.
    dense = CaltechPedestrian(caltech_root, "train", train_stride=10)
    assert [dense.frame_id(i)[2] for i in range(len(dense))] == [9, 19, 29, 39, 49, 59]
    assert len(CaltechPedestrian(caltech_root, "test", train_stride=10)) == 2
    assert SPLIT_SETS["train"] == tuple(f"set{i:02d}" for i in range(6))
    assert SPLIT_SETS["test"] == tuple(f"set{i:02d}" for i in range(6, 11))


def test_sample_keys_types_and_shapes(caltech_root: Path) -> None:
    dataset = CaltechPedestrian(caltech_root, "test")
    assert dataset.label_names == CALTECH_LABELS
    sample = dataset[0]
    assert set(sample) == {
        "image",
        "boxes",
        "visible_boxes",
        "labels",
        "ignore",
        "occluded",
        "set",
        "video",
        "frame",
        "index",
    }
    image = sample["image"]
    assert isinstance(image, tv_tensors.Image) and image.dtype == torch.uint8
    assert image.shape == (3, 120, 160)
    boxes = sample["boxes"]
    assert isinstance(boxes, tv_tensors.BoundingBoxes) and boxes.format.name == "XYXY"
    assert boxes.canvas_size == (120, 160) and boxes.shape == (3, 4)
    assert isinstance(sample["visible_boxes"], tv_tensors.BoundingBoxes)
    assert sample["labels"].dtype == torch.int64 and sample["labels"].tolist() == [0, 0, 2]
    assert sample["ignore"].dtype == torch.bool and sample["occluded"].dtype == torch.bool
    assert (sample["set"].item(), sample["video"].item(), sample["frame"].item()) == (6, 0, 29)
    assert sample["index"].item() == 0
    # Boxes are the .vbb's, converted to XYXY; the image is the frame of the .seq.
    objects = read_vbb(caltech_root / "annotations" / "set06" / "V000.vbb")[29]
    xyxy = box_convert(torch.tensor([o["box"] for o in objects]), "xywh", "xyxy")
    assert torch.allclose(boxes.as_subclass(torch.Tensor), xyxy.float())
    assert torch.equal(image, SeqFile(caltech_root / "set06" / "V000.seq")[29])
    assert sample["occluded"].tolist() == [o["occluded"] for o in objects] == [False, True, False]
    visible = sample["visible_boxes"].as_subclass(torch.Tensor)
    assert torch.equal(visible[0], boxes[0].as_subclass(torch.Tensor))  # fully visible
    assert visible[1, 3] < boxes[1, 3]  # the car hides the lower part


def test_ignore_follows_the_setting(caltech_root: Path) -> None:
    # Figure 1: person in full view; 2: person 70 % visible; 3: "people" (always ignored).
    expected = {
        "reasonable": [False, False, True],
        "partial": [True, False, True],  # only occluded persons: vf = inf is above 1
        "heavy": [True, True, True],
        "none": [False, True, True],
        None: [False, False, True],
    }
    for setting, flags in expected.items():
        sample = CaltechPedestrian(caltech_root, "test", setting=setting)[0]
        assert sample["ignore"].tolist() == flags, setting
    with pytest.raises(ValueError, match="setting must be one of"):
        CaltechPedestrian(caltech_root, "test", setting="Reasonable")


def test_caltech_ignore_rules() -> None:
    boxes = torch.tensor(
        [
            [10.0, 10.0, 20.0, 50.0],  # counted
            [10.0, 10.0, 20.0, 49.9],  # too small
            [4.9, 10.0, 20.0, 60.0],  # outside the bounds on the left
            [600.0, 10.0, 36.0, 60.0],  # right edge 636 > 635
            [10.0, 10.0, 20.0, 60.0],  # 0.6 visible
            [10.0, 10.0, 20.0, 60.0],  # person? -> ignored
            [10.0, 10.0, 20.0, 60.0],  # person-fa: not loaded by the evaluation, ignored
        ]
    )
    visible = torch.zeros(7, 4)
    visible[4] = torch.tensor([10.0, 10.0, 20.0, 36.0])
    labels = ["person"] * 5 + ["person?", "person-fa"]
    assert caltech_ignore(boxes, visible, labels).tolist() == [
        False,
        True,
        True,
        True,
        True,
        True,
        True,
    ]
    assert caltech_ignore(boxes, visible, labels, setting="all").tolist()[:5] == [
        False,
        False,
        True,
        True,
        False,
    ]
    assert caltech_ignore(boxes, visible, labels, setting=None).tolist() == [False] * 5 + [True] * 2


def test_evaluation_ground_truth(caltech_root: Path) -> None:
    dataset = CaltechPedestrian(caltech_root, "test")
    objects = read_vbb(caltech_root / "annotations" / "set06" / "V000.vbb")[59]
    from_objects = evaluation_ground_truth(objects)
    from_sample = evaluation_ground_truth(dataset[1])
    from_annotation = evaluation_ground_truth(dataset.annotation(1), dataset.label_names)
    assert from_objects["labels"] == from_sample["labels"] == ["person", "person", "people"]
    assert from_objects["boxes"].dtype == torch.float64 and from_objects["boxes"].shape == (3, 4)
    for truth in (from_sample, from_annotation):
        assert torch.allclose(truth["boxes"], from_objects["boxes"], atol=1e-4)
        assert torch.allclose(truth["visible"], from_objects["visible"], atol=1e-4)
    assert from_objects["visible"][0].tolist() == [0.0, 0.0, 0.0, 0.0]  # not occluded
    assert from_objects["visible"][1, 3] > 0
    # bbGt rows: an ignore flag makes an ignore region; visible only counts when occluded.
    rows = [
        {
            "label": "person",
            "box": [1, 2, 3, 4],
            "visible": [1, 2, 3, 4],
            "occluded": False,
            "ignore": True,
        },
    ]
    truth = evaluation_ground_truth(rows)
    assert truth["labels"] == ["ignore"] and truth["visible"].tolist() == [[0.0, 0.0, 0.0, 0.0]]
    assert evaluation_ground_truth([])["boxes"].shape == (0, 4)


def test_ground_truth_feeds_the_miss_rate(caltech_root: Path) -> None:
    from lightning_deepvision.metrics import log_average_miss_rate

    dataset = CaltechPedestrian(caltech_root, "test")
    truths = [evaluation_ground_truth(dataset.annotation(i)) for i in range(len(dataset))]
    # A detector that finds exactly the counted pedestrians misses none of them...
    perfect = [
        torch.cat([t["boxes"][~dataset[i]["ignore"]], torch.ones(2, 1, dtype=torch.float64)], 1)
        for i, t in enumerate(truths)
    ]
    assert log_average_miss_rate(perfect, truths) < 1e-9
    # ...and one that finds nothing misses them all.
    nothing = [torch.zeros(0, 5) for _ in truths]
    assert log_average_miss_rate(nothing, truths) == pytest.approx(1.0)


def test_transforms_move_boxes_with_the_image(caltech_root: Path) -> None:
    plain = CaltechPedestrian(caltech_root, "test")[0]
    flipped = CaltechPedestrian(caltech_root, "test", transforms=v2.RandomHorizontalFlip(p=1.0))[0]
    assert torch.equal(flipped["image"], plain["image"].flip(-1))
    for key in ("boxes", "visible_boxes"):
        x0 = 160 - plain[key][:, 2]
        assert torch.allclose(flipped[key][:, 0], x0)
    assert torch.equal(flipped["labels"], plain["labels"])


def test_new_annotations(caltech_root: Path) -> None:
    new = CaltechPedestrian(caltech_root, "test", annotations="new")
    original = CaltechPedestrian(caltech_root, "test")
    assert len(new) == len(original) == 2
    for i in range(2):
        a, b = new.annotation(i), original.annotation(i)
        # The written improved annotations are the .vbb boxes rounded as vbbToFiles does.
        rounded = evaluation_ground_truth(b)["boxes"].round()
        assert torch.equal(evaluation_ground_truth(a)["boxes"], rounded)
        assert torch.equal(a["labels"], b["labels"])
        assert torch.equal(a["occluded"], b["occluded"])
    train = CaltechPedestrian(caltech_root, "train", annotations="new")
    assert len(train) == 2


def test_new_annotation_ignore_flag_and_missing_files(own_root: Path) -> None:
    folder = own_root / "anno_test_1xnew"
    path = folder / "set06_V000_I00029.jpg.txt"
    lines = path.read_text().splitlines()
    fields = lines[1].split()
    fields[10] = "1"  # flag the first (counted) person as ignore
    path.write_text("\n".join([lines[0], " ".join(fields), *lines[2:]]) + "\n")
    sample = CaltechPedestrian(own_root, "test", annotations="new")[0]
    assert sample["labels"][0].item() == CALTECH_LABELS.index("ignore")
    assert bool(sample["ignore"][0])
    (folder / "set06_V000_I00059.jpg.txt").unlink()
    with pytest.raises(DatasetNotFoundError, match="set06_V000_I00059"):
        CaltechPedestrian(own_root, "test", annotations="new")
    shutil.rmtree(folder)
    with pytest.raises(DatasetNotFoundError, match="anno_test_1xnew"):
        CaltechPedestrian(own_root, "test", annotations="new")


def test_not_found_messages(tmp_path: Path, own_root: Path) -> None:
    with pytest.raises(DatasetNotFoundError, match=r"nowhere.*not downloaded automatically"):
        CaltechPedestrian(tmp_path / "nowhere", "train")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DatasetNotFoundError, match=r"set00/V000\.seq.*none of the train sets"):
        CaltechPedestrian(empty, "train")
    with pytest.raises(DatasetNotFoundError, match=r"set05/V000\.seq"):
        CaltechPedestrian(own_root, "train", sets=["set05"])
    with pytest.raises(ValueError, match=r"not in the train split"):
        CaltechPedestrian(own_root, "train", sets=["set07"])
    (own_root / "annotations" / "set00" / "V000.vbb").unlink()
    with pytest.raises(DatasetNotFoundError, match=r"annotations/set00/V000\.vbb"):
        CaltechPedestrian(own_root, "train")


def test_bad_files_under_root(own_root: Path) -> None:
    (own_root / "annotations" / "set06" / "V000.vbb").write_bytes(b"garbage" * 30)
    with pytest.raises(MalformedVbbError, match=r"set06/V000\.vbb"):
        CaltechPedestrian(own_root, "test")
    seq = own_root / "set00" / "V000.seq"
    data = seq.read_bytes()
    seq.write_bytes(data[: len(data) // 2])
    dataset = CaltechPedestrian(own_root, "train")  # annotations only: nothing read yet
    with pytest.raises(CorruptSeqError, match=r"set00/V000\.seq.*frame \d+:.*declares 60 frames"):
        dataset[0]


def test_dataset_cache_dir_leaves_root_untouched(tmp_path: Path, caltech_root: Path) -> None:
    before = _tree(caltech_root)
    _read_only(caltech_root)
    try:
        dataset = CaltechPedestrian(caltech_root, "test", cache_dir=tmp_path / "cache")
        assert dataset[1]["image"].shape == (3, 120, 160)
        assert _tree(caltech_root) == before
        assert len(list((tmp_path / "cache").iterdir())) == 1
    finally:
        _writable(caltech_root)


# ------------------------------------------------------------------------------ windows


def test_windows_composition_and_samples(caltech_root: Path) -> None:
    frames = CaltechPedestrian(caltech_root, "train")
    windows = CaltechWindows(frames, negatives_per_frame=3, jitter=0.0)
    # Positives: the boxes the setting counts (figures 1 and 2 of each of the two frames).
    assert windows.num_positives == 4 and windows.num_random_negatives == 6
    assert len(windows) == 10
    torch.manual_seed(0)
    for index in range(len(windows)):
        sample = windows[index]
        assert sample["image"].shape == (3, 84, 28) and sample["image"].dtype == torch.uint8
        kind, frame = windows.item(index)
        assert sample["label"].item() == int(kind == 0)
        assert sample["frame_index"].item() == frame
        boxes, _ = frames.frame_boxes(frame)
        if kind == 0:
            assert np.allclose(sample["box"].numpy(), boxes[index % 2])
        else:
            assert free_of(sample["box"].numpy()[None], boxes, windows.negative_overlap)[0]
    # The positive window is the box with its context, resized: same pixels as a manual crop.
    image = frames.read_image(0).as_subclass(torch.Tensor)
    x, y, w, h = frames.frame_boxes(0)[0][0]
    expected = windows.window(image, [x, y, w, h])
    assert torch.equal(windows[0]["image"], expected)
    with pytest.raises(IndexError):
        windows[len(windows)]


def test_windows_jitter_draws_new_positives(caltech_root: Path) -> None:
    windows = CaltechWindows(CaltechPedestrian(caltech_root, "train"), jitter=0.1)
    torch.manual_seed(1)
    first = windows[0]["box"]
    second = windows[0]["box"]
    assert not torch.equal(first, second)
    torch.manual_seed(1)
    assert torch.equal(windows[0]["box"], first)  # seeded: reproducible


def test_hard_negatives(caltech_root: Path) -> None:
    frames = CaltechPedestrian(caltech_root, "train")
    windows = CaltechWindows(frames, negatives_per_frame=1)
    boxes, _ = frames.frame_boxes(1)
    true_detection = [*boxes[0].tolist(), 0.9]
    false_detections = [[2.0, 2.0, 10.0, 25.0, 0.5], [140.0, 1.0, 12.0, 30.0, 0.8]]
    dets = {1: torch.tensor([true_detection, *false_detections, [1.0, 1.0, 12.0, 30.0, 0.1]])}
    added = windows.add_hard_negatives(dets, max_per_frame=2, score_threshold=0.2)
    assert added == 2 and windows.num_hard_negatives == 2
    hard = [windows[i] for i in range(len(windows)) if windows.item(i)[0] == 2]
    # Highest score first; the detection on a pedestrian is not a false positive.
    assert [s["box"].tolist() for s in hard] == [false_detections[1][:4], false_detections[0][:4]]
    assert all(s["label"].item() == 0 and s["frame_index"].item() == 1 for s in hard)
    with pytest.raises(ValueError, match=r"must be \[k, 5\]"):
        windows.add_hard_negatives([torch.zeros(2, 4)])
    windows.clear_hard_negatives()
    assert windows.num_hard_negatives == 0


def test_frame_grouped_sampler(tmp_path: Path) -> None:
    root = write_caltech(tmp_path / "r", num_frames=120)
    windows = CaltechWindows(CaltechPedestrian(root, "train"), negatives_per_frame=3)
    torch.manual_seed(0)
    order = list(FrameGroupedSampler(windows))
    assert sorted(order) == list(range(len(windows)))
    frames = [windows.item(i)[1] for i in order]
    # Each frame's windows come together: the frame changes only between groups.
    changes = sum(a != b for a, b in itertools.pairwise(frames))
    assert changes == len(set(frames)) - 1 == 3
    assert list(FrameGroupedSampler(windows)) != order  # a new order each epoch
