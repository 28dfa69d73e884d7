"""Norpix StreamPix sequence files (``.seq``), the video format of Caltech Pedestrian.

Dollár, Wojek, Schiele, Perona, "Pedestrian Detection: A Benchmark", CVPR 2009; the layout below
is the one Piotr Dollár's MATLAB toolbox reads and writes (``seqReaderPlugin`` /
``seqWriterPlugin``).

Layout (little-endian)::

    byte    0  uint32    magic 0xFEED
            4  24 bytes  name, UTF-16 ("Norpix seq")
           28  int32     version (3)
           32  int32     header size (1024; the first frame starts here)
           36  512 bytes description, UTF-16
          548  9 x uint32 width, height, bit depth, real bit depth, image size in bytes,
                          image format, number of frames, (unused, 0), true image size
          584  float64   frames per second
          592  padding to the header size

Compressed frames (JPEG: image formats 102 grey / 201 colour; PNG: 1 grey / 2 colour) follow
one another from the end of the header: a ``uint32`` byte count that includes its own four
bytes, the encoded image, then a trailer of 8 bytes (``int32`` seconds, ``uint16``
milliseconds, ``uint16`` microseconds) or 16 bytes (the same and 8 zero bytes; the toolbox's
writer). Which of the two a file uses is decided at the second frame as the toolbox does: the
word after an 8-byte trailer is the next frame's (non-zero) byte count, or zero padding.

A frame's position therefore depends on the sizes of all frames before it. :class:`SeqFile`
walks the byte counts once (four bytes read per frame, nothing decoded) and keeps the offsets,
so that ``seq[i]`` costs one read and one decode whatever ``i``. The index lives in memory (one
per file and process) and, when asked, in a cache directory the caller chooses; it is never
written beside the video (the toolbox's ``VYYY-seek.mat`` would be).
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
import struct
import tempfile
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np
import torch
from PIL import Image
from torch import Tensor
from torchvision.transforms.v2 import functional as F

try:  # libjpeg-turbo / libpng through torchvision, straight to [C, H, W]
    from torchvision.io import ImageReadMode, decode_jpeg

    _TORCHVISION_DECODERS = True
except ImportError:  # deprecated since torchvision 0.29 (TorchCodec replaces them): use PIL
    _TORCHVISION_DECODERS = False

from lightning_deepvision.datasets.errors import CorruptImageError
from lightning_deepvision.datasets.image_io import _to_rgb

__all__ = [
    "JPEG_FORMATS",
    "PNG_FORMATS",
    "SEQ_HEADER_SIZE",
    "SEQ_MAGIC",
    "CorruptSeqError",
    "SeqFile",
    "SeqHeader",
    "UnsupportedSeqFormatError",
    "read_seq_header",
]

log = logging.getLogger(__name__)

SEQ_MAGIC = 0xFEED
#: The header size of the files the toolbox writes (version 3); the first frame starts there.
SEQ_HEADER_SIZE = 1024
#: Image format codes of JPEG frames: 102 grey, 201 colour.
JPEG_FORMATS: tuple[int, ...] = (102, 201)
#: Image format codes of PNG frames: 1 grey, 2 colour.
PNG_FORMATS: tuple[int, ...] = (1, 2)
# Codes the toolbox knows but that hold raw pixels (100 grey, 200 BGR, 101 Bayer) or Bayer
# JPEG (103); named in the "not supported" error.
_RAW_FORMATS: dict[int, str] = {
    100: "raw grey",
    200: "raw BGR",
    101: "raw Bayer",
    103: "Bayer JPEG",
}
# magic, name, version, header size, description, 9 x uint32, fps
_HEADER = struct.Struct("<I24sii512s9Id")
_COUNT = struct.Struct("<I")
_TIMESTAMP = struct.Struct("<iH")
_DECODER_DEPRECATION = "The image decoding and encoding capabilities of TorchVision are deprecated"
# The two trailer lengths seen in .seq files (see the module docstring).
_SHORT_TRAILER, _LONG_TRAILER = 8, 16


class CorruptSeqError(CorruptImageError):
    """A ``.seq`` file that cannot be read as its header says: truncated, bad magic, bad frame.

    Args:
        path: The ``.seq`` file.
        reason: What is wrong.
        frame: The 0-based frame concerned, if any.
    """

    def __init__(self, path: str | os.PathLike[str], reason: str, frame: int | None = None):
        self.frame = frame
        where = "" if frame is None else f"frame {frame}: "
        super().__init__(Path(path), f"{where}{reason}")


class UnsupportedSeqFormatError(ValueError):
    """A ``.seq`` file whose frames are stored in a format this reader does not decode.

    Args:
        path: The ``.seq`` file.
        image_format: The header's image format code.
    """

    def __init__(self, path: str | os.PathLike[str], image_format: int):
        self.path = Path(path)
        self.image_format = image_format
        kind = _RAW_FORMATS.get(image_format, "an unknown format")
        super().__init__(
            f"{str(path)!r}: image format {image_format} ({kind}) is not supported; only "
            f"compressed frames are read: JPEG {JPEG_FORMATS} and PNG {PNG_FORMATS} (every "
            "Caltech Pedestrian video is JPEG, format 102/201)"
        )


@dataclass(frozen=True)
class SeqHeader:
    """The fields of a Norpix ``.seq`` header.

    Attributes:
        name: The format name stored in the header (``"Norpix seq"``).
        version: Norpix version (3 for the files the toolbox writes).
        header_size: Bytes before the first frame (1024).
        description: The free-text description.
        width: Frame width in pixels.
        height: Frame height in pixels.
        bit_depth: Bits per pixel (8 grey, 24 colour).
        bit_depth_real: Bits per channel (8).
        image_size_bytes: Bytes of one uncompressed frame (``width * height * channels``).
        image_format: Storage format code (JPEG 102/201, PNG 1/2, raw 100/200).
        num_frames: Number of frames (0 when the writer did not record it).
        true_image_size: Bytes reserved per raw frame (unused by compressed files).
        fps: Frames per second as recorded.
    """

    name: str
    version: int
    header_size: int
    description: str
    width: int
    height: int
    bit_depth: int
    bit_depth_real: int
    image_size_bytes: int
    image_format: int
    num_frames: int
    true_image_size: int
    fps: float

    #: The struct of the first 592 bytes, for writers.
    layout: ClassVar[struct.Struct] = _HEADER

    def to_bytes(self) -> bytes:
        """The header as stored on disk, padded with zeros to :attr:`header_size`."""
        if self.header_size < _HEADER.size:
            raise ValueError(f"header_size must be >= {_HEADER.size}, got {self.header_size}")
        packed = _HEADER.pack(
            SEQ_MAGIC,
            _utf16(self.name, 24, "name"),
            self.version,
            self.header_size,
            _utf16(self.description, 512, "description"),
            self.width,
            self.height,
            self.bit_depth,
            self.bit_depth_real,
            self.image_size_bytes,
            self.image_format,
            self.num_frames,
            0,
            self.true_image_size,
            self.fps,
        )
        return packed + bytes(self.header_size - len(packed))


def _utf16(text: str, size: int, what: str) -> bytes:
    data = text.encode("utf-16-le")
    if len(data) > size:
        raise ValueError(f"{what} {text!r} does not fit in {size} bytes of UTF-16")
    return data + bytes(size - len(data))


def _from_utf16(data: bytes) -> str:
    # Fixed-size UTF-16 fields end at the first NUL character.
    text = data.decode("utf-16-le", errors="replace")
    return text.split("\x00", 1)[0]


def read_seq_header(path: str | os.PathLike[str]) -> SeqHeader:
    """Read the header of a Norpix ``.seq`` file (any image format).

    Args:
        path: The ``.seq`` file.

    Returns:
        Its :class:`SeqHeader`.

    Raises:
        FileNotFoundError: The file does not exist.
        CorruptSeqError: The file is shorter than a header, the magic number is not 0xFEED, or
            the header size is smaller than the fields it must hold.
    """
    path = Path(path)
    with open(path, "rb") as handle:
        data = handle.read(_HEADER.size)
    if len(data) < _HEADER.size:
        raise CorruptSeqError(
            path, f"truncated header: {len(data)} bytes, a Norpix header has {SEQ_HEADER_SIZE}"
        )
    fields = _HEADER.unpack(data)
    magic = fields[0]
    if magic != SEQ_MAGIC:
        raise CorruptSeqError(
            path, f"not a Norpix .seq file: magic number 0x{magic:X}, expected 0x{SEQ_MAGIC:X}"
        )
    (_, name, version, header_size, description, width, height, bit_depth, bit_depth_real) = fields[
        :9
    ]
    image_size_bytes, image_format, num_frames, _unused, true_image_size, fps = fields[9:]
    if header_size < _HEADER.size:
        raise CorruptSeqError(
            path, f"header size {header_size} is smaller than the header's {_HEADER.size} bytes"
        )
    return SeqHeader(
        name=_from_utf16(name),
        version=version,
        header_size=header_size,
        description=_from_utf16(description),
        width=width,
        height=height,
        bit_depth=bit_depth,
        bit_depth_real=bit_depth_real,
        image_size_bytes=image_size_bytes,
        image_format=image_format,
        num_frames=num_frames,
        true_image_size=true_image_size,
        fps=fps,
    )


# Frame offsets already built in this process: (resolved path, size, mtime_ns) -> offsets.
_MEMORY_INDEX: dict[tuple[str, int, int], np.ndarray] = {}


def _file_key(path: Path) -> tuple[str, int, int]:
    stat = path.stat()
    return (str(path.resolve()), stat.st_size, stat.st_mtime_ns)


class SeqFile:
    """Random access to the frames of a Norpix ``.seq`` video (Caltech Pedestrian's format).

    ``len(seq)`` frames; ``seq[i]`` decodes frame ``i`` (0-based, negative counts from the
    end) to a ``uint8`` tensor ``[3, H, W]`` (grey frames are repeated to three channels);
    :meth:`read_bytes` returns the encoded JPEG/PNG bytes and :meth:`timestamp` the recording
    time. Frames are located through an index of byte offsets built once when the file is
    opened (see the module docstring), so access costs one read and one decode for any ``i``.

    The index is kept in memory for this process (re-opening the same unchanged file reuses
    it) and, if ``cache_dir`` is given, saved there and reused by later processes, e.g. every
    data-loader worker. Nothing is ever written beside the ``.seq`` file, so a read-only
    dataset copy works.

    Args:
        path: The ``.seq`` file.
        cache_dir: Optional directory (created if needed) for the offset index; entries are
            named by a hash of the file's resolved path and checked against its size and
            modification time.

    Attributes:
        path: The file.
        header: Its :class:`SeqHeader`.
        offsets: ``int64`` byte offset of each frame's byte count.

    Raises:
        FileNotFoundError: The file does not exist.
        CorruptSeqError: Bad magic number, truncated header, or a file that ends before the
            number of frames its header declares (names the first incomplete frame).
        UnsupportedSeqFormatError: Raw (uncompressed or Bayer) frames.
    """

    def __init__(
        self, path: str | os.PathLike[str], cache_dir: str | os.PathLike[str] | None = None
    ) -> None:
        self.path = Path(path)
        self.header = read_seq_header(self.path)
        if self.header.image_format not in JPEG_FORMATS + PNG_FORMATS:
            raise UnsupportedSeqFormatError(self.path, self.header.image_format)
        self.cache_dir = None if cache_dir is None else Path(cache_dir)
        self.offsets = self._load_index()

    # -- header fields -------------------------------------------------------------------------
    @property
    def width(self) -> int:
        """Frame width in pixels."""
        return self.header.width

    @property
    def height(self) -> int:
        """Frame height in pixels."""
        return self.header.height

    @property
    def fps(self) -> float:
        """Frames per second recorded in the header."""
        return self.header.fps

    @property
    def image_format(self) -> int:
        """The header's image format code (JPEG 102/201, PNG 1/2)."""
        return self.header.image_format

    @property
    def num_frames(self) -> int:
        """Number of frames (the header's count, or the frames found when it records 0)."""
        return len(self.offsets)

    def __len__(self) -> int:
        return len(self.offsets)

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}({str(self.path)!r}, {len(self)} frames, "
            f"{self.width}x{self.height}, format {self.image_format})"
        )

    # -- index ---------------------------------------------------------------------------------
    def _load_index(self) -> np.ndarray:
        key = _file_key(self.path)
        offsets = _MEMORY_INDEX.get(key)
        if self.cache_dir is not None:
            if offsets is None:
                offsets = self._read_cached_index(key)
            elif not self._cache_file(key).is_file():
                # Built in this process before a cache was asked for: share it now.
                self._write_cached_index(key, offsets)
        if offsets is None:
            offsets = self._build_index(key[1])
            if self.cache_dir is not None:
                self._write_cached_index(key, offsets)
        _MEMORY_INDEX[key] = offsets
        return offsets

    def _build_index(self, file_size: int) -> np.ndarray:
        declared = self.header.num_frames
        offsets: list[int] = []
        position = self.header.header_size
        trailer = _SHORT_TRAILER
        with open(self.path, "rb") as handle:

            def word(at: int) -> int | None:
                if at + 4 > file_size:
                    return None
                handle.seek(at)
                return int(_COUNT.unpack(handle.read(4))[0])

            while declared == 0 or len(offsets) < declared:
                frame = len(offsets)
                count = word(position)
                if count is None or (declared == 0 and count == 0):
                    if declared == 0:
                        break  # the header records no count: the frames end here
                    raise CorruptSeqError(
                        self.path,
                        f"the header declares {declared} frames but the file ends at byte "
                        f"{file_size}, before this frame's byte count (truncated file)",
                        frame=frame,
                    )
                if count < 4 or position + count > file_size:
                    raise CorruptSeqError(
                        self.path,
                        f"byte count {count} at offset {position} runs past the end of the "
                        f"file ({file_size} bytes)"
                        + (f"; the header declares {declared} frames" if declared else "")
                        + " (truncated or corrupt file)",
                        frame=frame,
                    )
                offsets.append(position)
                if frame == 0:
                    # As the toolbox: after an 8-byte trailer comes either the next frame's
                    # (non-zero) byte count or 8 more zero bytes of a 16-byte trailer.
                    after = word(position + count + _SHORT_TRAILER)
                    trailer = _LONG_TRAILER if after == 0 else _SHORT_TRAILER
                position += count + trailer
        return np.asarray(offsets, dtype=np.int64)

    def _cache_file(self, key: tuple[str, int, int]) -> Path:
        assert self.cache_dir is not None
        digest = hashlib.sha256(key[0].encode()).hexdigest()[:24]
        return self.cache_dir / f"seq-index-{digest}.npz"

    def _read_cached_index(self, key: tuple[str, int, int]) -> np.ndarray | None:
        cached = self._cache_file(key)
        try:
            with np.load(cached, allow_pickle=False) as data:
                if str(data["path"]) == key[0] and tuple(data["stat"].tolist()) == key[1:]:
                    return np.asarray(data["offsets"], dtype=np.int64)
        except (OSError, KeyError, ValueError):
            pass  # absent, stale or unreadable: rebuild
        return None

    def _write_cached_index(self, key: tuple[str, int, int], offsets: np.ndarray) -> None:
        assert self.cache_dir is not None
        try:
            self.cache_dir.mkdir(parents=True, exist_ok=True)
            # Write then rename, so that a concurrent reader (another worker) never sees half
            # a file.
            fd, temp = tempfile.mkstemp(dir=self.cache_dir, suffix=".npz.tmp")
            with os.fdopen(fd, "wb") as handle:
                np.savez(handle, path=np.array(key[0]), stat=np.array(key[1:]), offsets=offsets)
            os.replace(temp, self._cache_file(key))
        except OSError as err:
            log.warning(
                "cannot write the frame index of %s to %s: %s", self.path, self.cache_dir, err
            )

    # -- frames --------------------------------------------------------------------------------
    def _position(self, index: int) -> tuple[int, int]:
        n = len(self.offsets)
        if not isinstance(index, (int, np.integer)):
            raise TypeError(f"frame index must be an integer, got {type(index).__name__}")
        i = int(index) + n if index < 0 else int(index)
        if not 0 <= i < n:
            raise IndexError(f"{str(self.path)!r}: frame {index} out of range ({n} frames)")
        return i, int(self.offsets[i])

    def _read(self, offset: int, size: int, frame: int) -> bytes:
        with open(self.path, "rb") as handle:
            handle.seek(offset)
            data = handle.read(size)
        if len(data) != size:
            raise CorruptSeqError(
                self.path, "file ends inside the frame (it changed since it was indexed)", frame
            )
        return data

    def read_bytes(self, index: int) -> bytes:
        """The encoded frame ``index`` (a JPEG or PNG file's bytes), without decoding.

        Raises:
            IndexError: ``index`` is out of range (names the file and the frame count).
        """
        i, offset = self._position(index)
        with open(self.path, "rb") as handle:
            handle.seek(offset)
            head = handle.read(4)
            count = int(_COUNT.unpack(head)[0]) if len(head) == 4 else 0
            data = handle.read(count - 4) if count >= 4 else b""
        if count < 4 or len(data) != count - 4:
            raise CorruptSeqError(
                self.path, "file ends inside the frame (it changed since it was indexed)", i
            )
        return data

    def timestamp(self, index: int) -> float:
        """Recording time of frame ``index`` in seconds (seconds + milliseconds / 1000).

        Raises:
            IndexError: ``index`` is out of range.
            CorruptSeqError: The file ends before the frame's timestamp.
        """
        i, offset = self._position(index)
        head = self._read(offset, 4, i)
        count = int(_COUNT.unpack(head)[0])
        seconds, milliseconds = _TIMESTAMP.unpack(self._read(offset + count, _TIMESTAMP.size, i))
        return seconds + milliseconds / 1000

    def decode(self, data: bytes, frame: int | None = None) -> Tensor:
        """Decode encoded frame bytes to ``uint8`` ``[3, H, W]``.

        Raises:
            CorruptSeqError: The bytes are not a decodable image of this file's format.
        """
        jpeg = self.image_format in JPEG_FORMATS
        try:
            # PNG frames go to PIL: torchvision 0.29's PNG decoder crashes the process on
            # corrupt image data (see image_folder.decode_with_torchvision).
            if not _TORCHVISION_DECODERS or not jpeg:
                with Image.open(io.BytesIO(data), formats=["JPEG" if jpeg else "PNG"]) as pil:
                    pil.load()
                    return F.pil_to_tensor(_to_rgb(pil))
            buffer = torch.frombuffer(bytearray(data), dtype=torch.uint8)
            with warnings.catch_warnings():
                # torchvision 0.29 deprecates its decoders in favour of TorchCodec, which this
                # library does not depend on; the warning concerns this module, not its users.
                warnings.filterwarnings("ignore", _DECODER_DEPRECATION, DeprecationWarning)
                return decode_jpeg(buffer, mode=ImageReadMode.RGB)
        except (RuntimeError, OSError, ValueError, SyntaxError) as err:
            kind = "JPEG" if jpeg else "PNG"
            raise CorruptSeqError(
                self.path, f"cannot decode the {kind} data: {err}", frame
            ) from err

    def __getitem__(self, index: int) -> Tensor:
        """Frame ``index`` decoded to ``uint8`` ``[3, H, W]``.

        Raises:
            IndexError: ``index`` is out of range (names the file and the frame count).
            CorruptSeqError: The frame's data cannot be decoded (names the file and frame).
        """
        i, _ = self._position(index)
        return self.decode(self.read_bytes(i), frame=i)

    def __iter__(self) -> Iterator[Tensor]:
        for i in range(len(self)):
            yield self[i]
