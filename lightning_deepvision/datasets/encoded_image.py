"""An image still in its file's encoding, and the decoding that gives the dataset's own pixels.

Streaming formats (``litdata``) store each sample once, before transforms, with the image as
the bytes of its original file (a JPEG stays that JPEG: re-encoding would change the pixels
and cost space). The datasets hand out such un-decoded samples through ``raw_sample(index)``:
the sample dict their ``__getitem__`` gives before ``transforms``, with ``image`` an
:class:`EncodedImage`. :meth:`EncodedImage.decode` then decodes with the decoder the dataset
itself uses, so the pixels are the dataset's, bit for bit:

- ``"pil"``: :func:`~lightning_deepvision.datasets.image_io.read_image`'s decoding (PIL, grey,
  palette and 16-bit images to RGB), used by the face datasets;
- ``"torchvision"``: :func:`~lightning_deepvision.datasets.image_folder.decode_image_file`'s
  decoding (:func:`torchvision.io.decode_image` for JPEG, PNG, WebP and GIF, PIL for the rest
  and for what torchvision refuses), used by the classification folders and the Caltech
  ``.seq`` frames.

:func:`read_image` takes a path; PIL and torchvision both decode from memory, so this module
adds the in-memory entry points rather than writing bytes back to a temporary file.
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from PIL import Image
from torchvision import tv_tensors
from torchvision.transforms.v2 import functional as F

from lightning_deepvision.datasets.errors import CorruptImageError, MissingImageError
from lightning_deepvision.datasets.image_folder import (
    _TORCHVISION_EXTENSIONS,
    decode_with_torchvision,
)
from lightning_deepvision.datasets.image_io import _DECODE_ERRORS, _to_rgb, has_image_extension

__all__ = ["DECODERS", "EncodedImage", "decode_image_bytes"]

Decoder = Literal["pil", "torchvision"]
#: The decoders an :class:`EncodedImage` names.
DECODERS: tuple[str, ...] = ("pil", "torchvision")


def decode_image_bytes(data: bytes, name: str, decoder: Decoder = "pil") -> tv_tensors.Image:
    """Decode an encoded image to a ``uint8`` RGB ``tv_tensors.Image`` of shape ``3xHxW``.

    Args:
        data: The encoded file's bytes.
        name: Where the bytes came from (a file path, ``video.seq:frame``): it picks the
            torchvision decoder by extension, as the folder readers do, and is named in errors.
        decoder: ``"pil"`` or ``"torchvision"`` (see the module docstring).

    Returns:
        The image the dataset's own reader decodes from the same bytes.

    Raises:
        ValueError: An unknown ``decoder``.
        CorruptImageError: The bytes are empty or not a decodable image (names ``name``).
    """
    if decoder not in DECODERS:
        raise ValueError(f"decoder must be one of {DECODERS}, got {decoder!r}")
    if not data:
        raise CorruptImageError(name, "empty file (0 bytes)")
    if decoder == "torchvision" and has_image_extension(name, _TORCHVISION_EXTENSIONS):
        image = decode_with_torchvision(bytearray(data))
        if image is not None:
            return image
        # Else PIL decodes it or says why not, as decode_image_file falls back to read_image.
    try:
        with Image.open(io.BytesIO(data)) as pil:
            pil.load()  # decode now, so that a truncated body is reported here
            rgb = _to_rgb(pil)
    except _DECODE_ERRORS as err:
        raise CorruptImageError(name, f"{type(err).__name__}: {err}") from err
    return tv_tensors.Image(F.pil_to_tensor(rgb))


@dataclass(frozen=True, slots=True)
class EncodedImage:
    """An image as its file's bytes, with the decoder its dataset uses.

    Attributes:
        data: The encoded bytes (JPEG, PNG, PGM, ... as on disk).
        name: The file (or ``.seq`` frame) the bytes came from, relative or absolute.
        decoder: ``"pil"`` or ``"torchvision"``.
    """

    data: bytes
    name: str
    decoder: Decoder = "pil"

    @classmethod
    def from_file(
        cls,
        path: str | os.PathLike[str],
        decoder: Decoder = "pil",
        referenced_by: str | None = None,
    ) -> EncodedImage:
        """Read a file's bytes without decoding them.

        Args:
            path: The image file.
            decoder: The decoder of the dataset reading it.
            referenced_by: Where the path came from; when given, a missing file raises
                :class:`MissingImageError` naming it.

        Raises:
            MissingImageError: The file does not exist and ``referenced_by`` was given.
            FileNotFoundError: The file does not exist.
            CorruptImageError: The path is a directory.
        """
        path = Path(path)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            if referenced_by is not None:
                raise MissingImageError(path, referenced_by) from None
            raise
        except IsADirectoryError as err:
            raise CorruptImageError(path, "is a directory, not an image file") from err
        return cls(data, str(path), decoder)

    def decode(self) -> tv_tensors.Image:
        """The decoded image (see :func:`decode_image_bytes`)."""
        return decode_image_bytes(self.data, self.name, self.decoder)

    def __repr__(self) -> str:
        return f"EncodedImage({self.name!r}, {len(self.data)} bytes, decoder={self.decoder!r})"
