"""Write a tiny seeded Caltech Pedestrian tree in the raw format, readable by ``CaltechPedestrian``.

Dollár et al., "Pedestrian Detection: A Benchmark", CVPR 2009: ``setXX/VYYY.seq`` (Norpix
sequences of JPEG frames, with the header and frame trailers of the toolbox's
``seqWriterPlugin``) and ``annotations/setXX/VYYY.vbb`` (the MATLAB struct ``A`` of
``vbb('vbbSave')``, written by ``scipy.io.savemat``), optionally with the per-frame bbGt text
files of the improved annotations (Zhang et al., CVPR 2016). The frames show simple drawn
pedestrians walking across a street, some occluded by a parked car, so that boxes, visible
parts and labels are those of the drawing.
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import Tensor

from lightning_deepvision.datasets.caltech.bbgt import format_bbgt
from lightning_deepvision.datasets.caltech.dataset import (
    NEW_ANNOTATION_DIRS,
    SPLIT_SETS,
    TEST_STRIDE,
    new_annotation_names,
)
from lightning_deepvision.datasets.caltech.seq import (
    JPEG_FORMATS,
    PNG_FORMATS,
    SEQ_HEADER_SIZE,
    SeqHeader,
)
from lightning_deepvision.datasets.caltech.vbb import VBB_VERSION, CaltechObject
from lightning_deepvision.testing.identity_folder import refuse_existing

_MAT_HEADER_TEXT = b"MATLAB 5.0 MAT-file, written by lightning_deepvision.testing.write_vbb".ljust(
    116
)

__all__ = ["write_caltech", "write_seq", "write_vbb"]

# Colour formats per codec family; the grey ones (102, 1) store one channel.
_GREY_FORMATS = (102, 1)
# The labels a drawn figure may carry, cycling after the first two tracks (which are people).
_OTHER_LABELS = ("people", "person?", "ignore")


def write_seq(
    path: str | os.PathLike[str],
    frames: Iterable[Tensor],
    fps: float = 30.0,
    image_format: int = 201,
    quality: int = 80,
    trailer_bytes: int = 16,
    description: str = "No Description",
    record_num_frames: bool = True,
) -> Path:
    """Write ``frames`` as a Norpix ``.seq`` file laid out as the toolbox's writer does.

    Header version 3, header size 1024, then per frame a ``uint32`` byte count (including its
    own four bytes), the encoded image, an ``int32`` seconds + ``uint16`` milliseconds
    timestamp (frame ``i`` at ``i / fps``) and zero padding up to ``trailer_bytes`` (16 as the
    toolbox's ``seqWriterPlugin``; 8 leaves only the timestamp and two zero bytes, as
    StreamPix's own files).

    Args:
        path: The file to create (never replaced).
        frames: ``uint8`` ``[3, H, W]`` (or ``[1, H, W]``) tensors, all of one size.
        fps: Frames per second stored in the header.
        image_format: 201 colour / 102 grey JPEG, 2 colour / 1 grey PNG.
        quality: JPEG quality.
        trailer_bytes: 16 or 8.
        description: Header description (at most 256 characters).
        record_num_frames: Store the frame count in the header (``False`` writes 0, as some
            recorders do; readers then count the frames).

    Returns:
        ``path`` as a :class:`~pathlib.Path`.

    Raises:
        FileExistsError: ``path`` exists.
        ValueError: An unsupported ``image_format`` or ``trailer_bytes``, no frames, or frames
            of different sizes.
    """
    if image_format not in JPEG_FORMATS + PNG_FORMATS:
        raise ValueError(
            f"image_format must be one of {JPEG_FORMATS + PNG_FORMATS}, got {image_format}"
        )
    if trailer_bytes not in (8, 16):
        raise ValueError(f"trailer_bytes must be 8 or 16, got {trailer_bytes}")
    path = Path(path)
    channels = 1 if image_format in _GREY_FORMATS else 3
    encoded: list[bytes] = []
    size: tuple[int, int] | None = None
    for frame in frames:
        image = _as_pil(frame, channels)
        if size is None:
            size = (image.height, image.width)
        elif (image.height, image.width) != size:
            raise ValueError(f"every frame must be {size}, got {(image.height, image.width)}")
        buffer = io.BytesIO()
        if image_format in JPEG_FORMATS:
            image.save(buffer, format="JPEG", quality=quality)
        else:
            image.save(buffer, format="PNG")
        encoded.append(buffer.getvalue())
    if size is None:
        raise ValueError("write_seq needs at least one frame")
    height, width = size
    raw_bytes = width * height * channels
    header = SeqHeader(
        name="Norpix seq",
        version=3,
        header_size=SEQ_HEADER_SIZE,
        description=description,
        width=width,
        height=height,
        bit_depth=8 * channels,
        bit_depth_real=8,
        image_size_bytes=raw_bytes,
        image_format=image_format,
        num_frames=len(encoded) if record_num_frames else 0,
        # seqWriterPlugin: nByte + 6 rounded up to the next multiple of 512 (strictly above).
        true_image_size=raw_bytes + 6 + 512 - (raw_bytes + 6) % 512,
        fps=float(fps),
    )
    parts = [header.to_bytes()]
    for i, data in enumerate(encoded):
        seconds = i / fps
        whole = int(np.floor(seconds))
        milliseconds = round((seconds - whole) * 1000)
        parts.append(np.uint32(len(data) + 4).tobytes())
        parts.append(data)
        parts.append(np.int32(whole).tobytes() + np.uint16(milliseconds).tobytes())
        parts.append(bytes(trailer_bytes - 6))
    with open(path, "xb") as handle:
        handle.write(b"".join(parts))
    return path


def _as_pil(frame: Tensor, channels: int) -> Image.Image:
    # PIL encodes: a small frame costs a fraction of a millisecond, without torch's thread pool.
    if frame.dtype != torch.uint8 or frame.ndim != 3 or frame.shape[0] not in (1, 3):
        raise ValueError(
            f"frames must be uint8 [3, H, W] or [1, H, W], got {frame.dtype} {list(frame.shape)}"
        )
    array = np.ascontiguousarray(frame.detach().cpu().numpy().transpose(1, 2, 0))
    image = Image.fromarray(array[:, :, 0] if array.shape[2] == 1 else array)
    return image.convert("L" if channels == 1 else "RGB")


def write_vbb(path: str | os.PathLike[str], frames: Sequence[Sequence[CaltechObject]]) -> Path:
    """Write per-frame objects as a ``.vbb`` file with the toolbox's struct layout.

    Builds ``A`` with the fields of :data:`~lightning_deepvision.datasets.caltech.VBB_FIELDS`
    in order (``objLists`` a 1 x nFrame cell of struct arrays with fields ``id``, ``pos``,
    ``occl``, ``lock``, ``posv``; ``objLbl`` a cell of labels by id; ``objStr``/``objEnd`` the
    1-based first and last frame of each id) and saves it with ``vers = 1.4`` as MATLAB's
    ``save(..., '-v6')`` does (uncompressed MAT 5).

    Args:
        path: The file to create (never replaced).
        frames: Per frame, its objects: ``id`` (1-based, one label per id), ``label``, ``box``,
            ``visible`` and ``occluded``.

    Returns:
        ``path`` as a :class:`~pathlib.Path`.

    Raises:
        FileExistsError: ``path`` exists.
        ValueError: An id below 1, or one id with two labels.
    """
    from scipy.io import savemat

    path = Path(path)
    labels: dict[int, str] = {}
    first: dict[int, int] = {}
    last: dict[int, int] = {}
    for f, objects in enumerate(frames):
        for o in objects:
            ident = int(o["id"])
            if ident < 1:
                raise ValueError(f"frame {f}: object ids are 1-based, got {ident}")
            if labels.setdefault(ident, o["label"]) != o["label"]:
                raise ValueError(
                    f"object {ident} has two labels: {labels[ident]!r}, {o['label']!r}"
                )
            first.setdefault(ident, f + 1)
            last[ident] = f + 1
    max_obj = max(labels, default=0)
    object_dtype = [(name, object) for name in ("id", "pos", "occl", "lock", "posv")]
    obj_lists = np.empty((1, len(frames)), dtype=object)
    for f, objects in enumerate(frames):
        if not objects:
            obj_lists[0, f] = np.zeros((0, 0))
            continue
        entry = np.empty((1, len(objects)), dtype=object_dtype)
        for j, o in enumerate(objects):
            entry[0, j] = (
                np.array([[float(o["id"])]]),
                np.array([o["box"]], dtype=np.float64),
                np.array([[float(o["occluded"])]]),
                np.array([[1.0]]),
                np.array([o["visible"]], dtype=np.float64),
            )
        obj_lists[0, f] = entry
    obj_lbl = np.empty((1, max_obj), dtype=object)
    for i in range(max_obj):
        obj_lbl[0, i] = labels.get(i + 1, np.zeros((0, 0)))
    ids = range(1, max_obj + 1)
    struct = {
        "nFrame": float(len(frames)),
        "objLists": obj_lists,
        "maxObj": float(max_obj),
        "objInit": np.array([[float(i in labels) for i in ids]]).reshape(1, -1),
        "objLbl": obj_lbl,
        "objStr": np.array([[float(first.get(i, -1)) for i in ids]]).reshape(1, -1),
        "objEnd": np.array([[float(last.get(i, -1)) for i in ids]]).reshape(1, -1),
        "objHide": np.zeros((1, max_obj)),
        "altered": False,
        "log": 0.0,
        "logLen": 0.0,
    }
    buffer = io.BytesIO()
    savemat(buffer, {"A": struct, "vers": VBB_VERSION}, format="5", do_compression=False)
    data = bytearray(buffer.getvalue())
    # The MAT-file header's 116 text bytes carry scipy's creation time: a fixed text keeps the
    # writer deterministic (the same seed gives the same bytes).
    data[:116] = _MAT_HEADER_TEXT
    with open(path, "xb") as handle:
        handle.write(data)
    return path


# ------------------------------------------------------------------------------- drawing


class _Track:
    """One walking figure: its id, label, size, path and whether a car hides its legs."""

    def __init__(self, rng: np.random.Generator, ident: int, height: int, width: int) -> None:
        self.id = ident
        if ident == 1:
            self.label, self.h, self.occluded = "person", rng.uniform(0.55, 0.75) * height, False
        elif ident == 2:
            self.label, self.h, self.occluded = "person", rng.uniform(0.5, 0.7) * height, True
        else:
            self.label = _OTHER_LABELS[(ident - 3) % len(_OTHER_LABELS)]
            self.h, self.occluded = rng.uniform(0.25, 0.6) * height, False
        self.w = 0.41 * self.h
        # Feet on a line below the horizon; bigger figures stand lower (closer to the camera).
        self.foot = min(height - 2.0, 0.45 * height + 0.6 * self.h)
        self.x0 = rng.uniform(2, max(3.0, width - self.w - 2))
        self.speed = rng.uniform(-1.0, 1.0)
        self.shirt = rng.uniform(40, 230, 3)
        self.trousers = rng.uniform(20, 120, 3)

    def box(self, frame: int, width: int) -> list[float]:
        # Walk back and forth inside the frame so the figure stays visible.
        span = max(width - self.w - 4, 1.0)
        x = (self.x0 - 2 + self.speed * frame) % (2 * span)
        x = 2 + (x if x <= span else 2 * span - x)
        return [float(x), float(self.foot - self.h), float(self.w), float(self.h)]


def _background(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    rows = np.linspace(0.0, 1.0, height)[:, None, None]
    sky, road = rng.uniform(150, 220, 3), rng.uniform(60, 110, 3)
    image = np.where(rows < 0.45, sky + 0 * rows, road * (0.8 + 0.4 * rows))
    image = np.broadcast_to(image, (height, width, 3)).copy()
    for _ in range(3):  # buildings on the horizon
        x, w = rng.uniform(0, width), rng.uniform(0.1, 0.3) * width
        top = rng.uniform(0.1, 0.35) * height
        image[int(top) : int(0.45 * height), int(x) : int(x + w)] = rng.uniform(90, 170, 3)
    return image


def _fill(
    image: np.ndarray, x0: float, y0: float, x1: float, y1: float, colour: np.ndarray
) -> None:
    h, w = image.shape[:2]
    r0, r1 = max(round(y0), 0), min(round(y1), h)
    c0, c1 = max(round(x0), 0), min(round(x1), w)
    if r1 > r0 and c1 > c0:
        image[r0:r1, c0:c1] = colour


def _draw_figure(image: np.ndarray, box: list[float], track: _Track) -> None:
    x, y, w, h = box
    head = 0.14 * h
    _fill(image, x + 0.3 * w, y, x + 0.7 * w, y + head, np.array([220.0, 180.0, 150.0]))
    _fill(image, x + 0.05 * w, y + head, x + 0.95 * w, y + 0.55 * h, track.shirt)
    _fill(image, x + 0.1 * w, y + 0.55 * h, x + 0.45 * w, y + h, track.trousers)
    _fill(image, x + 0.55 * w, y + 0.55 * h, x + 0.9 * w, y + h, track.trousers)


def _render_video(
    rng: np.random.Generator, num_frames: int, height: int, width: int, num_tracks: int
) -> tuple[list[Tensor], list[list[CaltechObject]]]:
    background = _background(rng, height, width)
    tracks = [_Track(rng, i + 1, height, width) for i in range(num_tracks)]
    car = np.array([180.0, 30.0, 40.0])
    frames: list[Tensor] = []
    annotations: list[list[CaltechObject]] = []
    noise = rng.normal(0, 4, (height, width, 3))
    for f in range(num_frames):
        image = background + np.roll(noise, f, axis=1)
        objects: list[CaltechObject] = []
        # Far (small) figures first, so nearer ones are drawn over them.
        for track in sorted(tracks, key=lambda t: t.h):
            box = track.box(f, width)
            _draw_figure(image, box, track)
            visible = [0.0, 0.0, 0.0, 0.0]
            if track.occluded:
                # A car hides the lower 30 % of the figure: the visible part is the rest.
                x, y, w, h = box
                _fill(image, x - 0.3 * w, y + 0.7 * h, x + 1.3 * w, y + h + 2, car)
                visible = [x, y, w, 0.7 * h]
            objects.append(
                {
                    "id": track.id,
                    "label": track.label,
                    "box": box,
                    "visible": visible,
                    "occluded": track.occluded,
                }
            )
        objects.sort(key=lambda o: o["id"])
        annotations.append(objects)
        pixels = np.clip(image, 0, 255).astype(np.uint8).transpose(2, 0, 1)
        frames.append(torch.from_numpy(np.ascontiguousarray(pixels)))
    return frames, annotations


def write_caltech(
    root: str | os.PathLike[str],
    sets: Sequence[str] = ("set00", "set06"),
    videos_per_set: int = 1,
    num_frames: int = 60,
    frame_size: tuple[int, int] = (120, 160),
    pedestrians: int = 3,
    new_annotations: bool = False,
    image_format: int = 201,
    seed: int = 0,
) -> Path:
    """Write a tiny Caltech Pedestrian in the raw layout under ``root``.

    Writes ``root/setXX/VYYY.seq`` (JPEG frames of ``frame_size``, 30 fps) and
    ``root/annotations/setXX/VYYY.vbb`` for each set and video. Each video shows
    ``pedestrians`` drawn figures (track ids 1, 2, ...): figure 1 a ``person`` in full view,
    figure 2 a ``person`` whose lower 30 % a red car hides (``occluded``, ``visible`` = the
    upper 70 %), the others ``people``, ``person?`` and ``ignore`` in turn. At the default
    size figures 1 and 2 are 60-90 pixels high, so the ``reasonable`` setting counts them.

    With ``new_annotations``, also writes bbGt text files (version 3, coordinates rounded as
    ``vbbToFiles`` does) for every 30th frame: ``root/anno_test_1xnew/setXX_VYYY_IZZZZZ.jpg.txt``
    for test sets and ``root/anno_train_1xnew/setXX_VYYY_IZZZZZ.txt`` for training sets.

    Deterministic for a given ``seed``; well under a second at the defaults.

    Args:
        root: Directory to write into (created if needed; may already hold other files).
        sets: Set names (``set00`` ... ``set10``); the defaults give one training and one test
            set.
        videos_per_set: Videos per set (``V000``, ``V001``, ...).
        num_frames: Frames per video (the default gives two evaluated frames, 29 and 59).
        frame_size: ``(height, width)``; Caltech's is ``(480, 640)``.
        pedestrians: Figures per video.
        new_annotations: Also write the improved-annotation text files.
        image_format: 201 colour / 102 grey JPEG, 2 / 1 PNG.
        seed: Seed of the drawing.

    Returns:
        ``root`` as a :class:`~pathlib.Path`.

    Raises:
        FileExistsError: A file to write already exists (nothing is written).
        ValueError: An unknown set name or non-positive counts or sizes.
    """
    known = SPLIT_SETS["train"] + SPLIT_SETS["test"]
    unknown = [s for s in sets if s not in known]
    if unknown:
        raise ValueError(f"unknown sets {unknown}; Caltech has {list(known)}")
    if videos_per_set < 1 or num_frames < 1 or pedestrians < 0 or min(frame_size) < 16:
        raise ValueError(
            "need videos_per_set >= 1, num_frames >= 1, pedestrians >= 0 and frame sides >= 16, "
            f"got {videos_per_set}, {num_frames}, {pedestrians}, {frame_size}"
        )
    root = Path(root)
    height, width = int(frame_size[0]), int(frame_size[1])
    plan: list[tuple[int, str, str]] = [
        (s_index, set_name, f"V{v:03d}")
        for s_index, set_name in enumerate(sets)
        for v in range(videos_per_set)
    ]
    evaluated = range(TEST_STRIDE - 1, num_frames, TEST_STRIDE)
    paths: list[Path] = []
    for _, set_name, video in plan:
        paths += [
            root / set_name / f"{video}.seq",
            root / "annotations" / set_name / f"{video}.vbb",
        ]
        if new_annotations:
            paths += [_new_annotation_path(root, set_name, video, f) for f in evaluated]
    refuse_existing(paths)
    for s_index, set_name, video in plan:
        rng = np.random.default_rng([seed, int(set_name[3:]), int(video[1:]), s_index])
        frames, objects = _render_video(rng, num_frames, height, width, pedestrians)
        (root / set_name).mkdir(parents=True, exist_ok=True)
        (root / "annotations" / set_name).mkdir(parents=True, exist_ok=True)
        write_seq(root / set_name / f"{video}.seq", frames, image_format=image_format)
        write_vbb(root / "annotations" / set_name / f"{video}.vbb", objects)
        for frame in evaluated if new_annotations else ():
            path = _new_annotation_path(root, set_name, video, frame)
            path.parent.mkdir(parents=True, exist_ok=True)
            with open(path, "x", encoding="utf-8", newline="\n") as handle:
                handle.write(format_bbgt(objects[frame]))
    return root


def _new_annotation_path(root: Path, set_name: str, video: str, frame: int) -> Path:
    # The test release names files ``...jpg.txt``, the training release ``...txt``.
    split = "test" if set_name in SPLIT_SETS["test"] else "train"
    names = new_annotation_names(set_name, video, frame)
    return root / NEW_ANNOTATION_DIRS[split][0] / (names[0] if split == "test" else names[1])
