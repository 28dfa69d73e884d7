"""Image decoding with clear errors.

One entry point, :func:`read_image`, decodes any of the formats the face datasets ship in (JPEG for
LFW / CelebA / CASIA-WebFace, PGM for AT&T / ORL, PNG, PPM, BMP, TIFF, WebP) into a
``torchvision.tv_tensors.Image`` of ``uint8`` with three channels.

PIL is used rather than :func:`torchvision.io.decode_image` because the latter does not read the
PNM family (PGM/PPM), which the AT&T faces use. Every failure is re-raised as one of this
package's errors naming the file, never as a bare traceback from deep inside PIL.

Every mode becomes 8-bit RGB the same way whichever decoder reads the file (this module's PIL path
or the torchvision path of :func:`~lightning_deepvision.datasets.image_folder.decode_image_file`):

* grey (``L``, ``1``) is repeated into three equal channels;
* 16-bit grey (``I;16``) is rescaled from the full 16-bit range (``v // 257``), not clipped at
  255 as PIL's own conversion does;
* palette images (``P``, ``PA``) are expanded through their palette, via RGBA when they carry
  transparency (PIL warns on a direct conversion);
* alpha (``LA``, ``RGBA``, ``PA``, palette transparency) is dropped, not composited: the colour
  under a transparent pixel is kept, which is what torchvision's decoders give, so that both
  decoders agree pixel for pixel (composite in a transform if a background is wanted);
* CMYK is converted by PIL's formula;
* the EXIF orientation tag is applied (:func:`PIL.ImageOps.exif_transpose`), so a photograph
  taken with the camera on its side is upright, as it shows in every image viewer.

Truncated JPEGs are only detected while ``PIL.ImageFile.LOAD_TRUNCATED_IMAGES`` is ``False``
(PIL's default). This module never changes that flag; if some other code sets it to ``True``,
PIL silently pads truncated images with grey and they can no longer be reported.
"""

from __future__ import annotations

import errno
import os
import struct
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps
from torchvision import tv_tensors
from torchvision.transforms.v2 import functional as F

from lightning_deepvision.datasets.errors import CorruptImageError, MissingImageError

__all__ = ["IMAGE_EXTENSIONS", "has_image_extension", "read_image", "to_uint8"]

#: File extensions (lower case, with the dot) that :func:`read_image` decodes.
IMAGE_EXTENSIONS: tuple[str, ...] = (
    ".jpg",
    ".jpeg",
    ".png",
    ".pgm",
    ".ppm",
    ".pnm",
    ".pbm",
    ".bmp",
    ".tif",
    ".tiff",
    ".webp",
)

# What PIL raises for undecodable data: OSError covers UnidentifiedImageError and "image file is
# truncated"; SyntaxError, ValueError, struct.error and EOFError come out of individual format
# plugins on malformed headers; DecompressionBombError guards absurd sizes.
_DECODE_ERRORS: tuple[type[BaseException], ...] = (
    OSError,
    SyntaxError,
    ValueError,
    struct.error,
    EOFError,
    IndexError,
    Image.DecompressionBombError,
)

_SIXTEEN_BIT_MODES = ("I;16", "I;16L", "I;16B", "I;16N")


def has_image_extension(name: str | os.PathLike[str], extensions: tuple[str, ...]) -> bool:
    """Whether ``name`` ends in one of ``extensions`` (case-insensitive).

    Args:
        name: File name or path.
        extensions: Lower-case extensions with the leading dot, e.g. ``(".jpg", ".png")``.

    Returns:
        ``True`` when the suffix matches.
    """
    return os.fspath(name).lower().endswith(extensions)


def to_uint8(image: torch.Tensor) -> torch.Tensor:
    """A decoded tensor in ``uint8``: torchvision's ``uint16`` (16-bit PNG) rescaled as here.

    torchvision's PNG decoder keeps 16 bits; :func:`read_image` maps the full 16-bit range to
    8 bits (``v // 257``, so 65535 becomes 255), and so does this, so that both decoders give
    the same pixels. ``uint8`` input is returned as it is.
    """
    if image.dtype == torch.uint16:
        return (image.to(torch.int32) // 257).to(torch.uint8)
    return image


def _to_rgb(image: Image.Image) -> Image.Image:
    """Convert any PIL mode to 8-bit RGB, upright by the EXIF orientation (see the module)."""
    # exif_transpose returns a transposed copy only when the file has an orientation tag.
    image = ImageOps.exif_transpose(image)
    if image.mode == "RGB":
        return image
    if image.mode in _SIXTEEN_BIT_MODES:
        # PIL's own I;16 -> L conversion clips at 255 instead of rescaling, which would turn a
        # 16-bit grey image almost white; rescale the full 16-bit range to 8 bits instead.
        array = np.asarray(image, dtype=np.uint16)
        image = Image.fromarray((array // 257).astype(np.uint8), mode="L")
    elif image.mode in ("P", "PA") and ("transparency" in image.info or image.mode == "PA"):
        # Palette images with a transparent index must pass through RGBA (PIL warns otherwise).
        image = image.convert("RGBA")
    return image.convert("RGB")


def read_image(path: str | os.PathLike[str], referenced_by: str | None = None) -> tv_tensors.Image:
    """Decode an image file to a ``uint8`` RGB ``tv_tensors.Image`` of shape ``3xHxW``.

    Grey, palette, RGBA, CMYK and 16-bit images are converted to 3-channel RGB (alpha is
    dropped, 16-bit rescaled, EXIF orientation applied: see the module), so every sample of a
    dataset has the same number of channels.

    Args:
        path: The image file.
        referenced_by: Where the path came from (e.g. ``"pairs.txt:12"``). When given, a missing
            file raises :class:`MissingImageError` naming it; otherwise a plain
            :class:`FileNotFoundError`.

    Returns:
        The decoded image, ``uint8``, ``3xHxW``.

    Raises:
        MissingImageError: The file does not exist and ``referenced_by`` was given.
        FileNotFoundError: The file does not exist.
        CorruptImageError: The file exists but is not a decodable image (truncated, corrupt,
            wrong format or a directory).
    """
    path = Path(path)
    try:
        with Image.open(path) as pil:
            # Image.open only parses the header; load() decodes the pixels so that a truncated
            # body is caught here rather than later inside a transform.
            pil.load()
            rgb = _to_rgb(pil)
    except FileNotFoundError as err:
        if referenced_by is not None:
            raise MissingImageError(path, referenced_by) from err
        raise FileNotFoundError(errno.ENOENT, "image file not found", str(path)) from err
    except PermissionError:
        # Not a decoding problem: the OS message already names the file and the cause.
        raise
    except IsADirectoryError as err:
        raise CorruptImageError(path, "is a directory, not an image file") from err
    except _DECODE_ERRORS as err:
        reason = f"{type(err).__name__}: {err}"
        if referenced_by is not None:
            reason = f"{reason} (referenced by {referenced_by})"
        raise CorruptImageError(path, reason) from err
    return tv_tensors.Image(F.pil_to_tensor(rgb))
