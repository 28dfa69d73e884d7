"""Errors raised by the dataset readers.

Every error names the file (and line, where there is one) and says what was expected, so that a
user with a malformed download knows what to fix without reading a traceback from deep inside
PIL or the CSV module.
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

#: What :func:`scipy.io.loadmat` raises on a damaged MATLAB file besides its ``MatReadError``:
#: its readers index, unpack and decompress the header's sizes as found, so a flipped byte
#: surfaces as any of these (a dimension read as 2**31 asks for an impossible allocation).
MAT_FILE_ERRORS: tuple[type[BaseException], ...] = (
    OSError,
    ValueError,
    TypeError,
    KeyError,
    IndexError,
    AttributeError,
    EOFError,
    OverflowError,
    MemoryError,
    struct.error,
    zlib.error,
)


class DatasetNotFoundError(FileNotFoundError):
    """A dataset root, or a file the dataset needs under it, is missing.

    Args:
        dataset: Human-readable dataset name, e.g. ``"LFW"``.
        root: The root directory the user passed.
        missing: The file or directory that was looked for.
        how_to_obtain: Where the data comes from (most of these datasets are licensed, so
            nothing is downloaded behind the user's back).
    """

    def __init__(self, dataset: str, root: str | Path, missing: str | Path, how_to_obtain: str):
        self.dataset = dataset
        self.root = Path(root)
        self.missing = Path(missing)
        self.how_to_obtain = how_to_obtain
        super().__init__(
            f"{dataset} not found under root={str(root)!r}: looked for {str(missing)!r}. "
            f"{how_to_obtain}"
        )


class MalformedAnnotationError(ValueError):
    """A line of an annotation or list file does not have the expected form.

    Args:
        path: The annotation file.
        line_number: 1-based line number of the offending line.
        line: The offending line as read.
        expected: What the line should look like.
    """

    def __init__(self, path: str | Path, line_number: int, line: str, expected: str):
        self.path = Path(path)
        self.line_number = line_number
        self.line = line
        self.expected = expected
        super().__init__(f"{path}:{line_number}: expected {expected}, got {line.rstrip()!r}")


class MissingImageError(FileNotFoundError):
    """An annotation refers to an image that is not on disk.

    Args:
        image: The image path that was expected.
        referenced_by: The annotation file (and line) that names it.
    """

    def __init__(self, image: str | Path, referenced_by: str):
        self.image = Path(image)
        self.referenced_by = referenced_by
        super().__init__(f"{referenced_by}: refers to {str(image)!r}, which does not exist")


class CorruptImageError(OSError):
    """An image file exists but cannot be decoded (truncated, corrupt or not an image).

    Args:
        path: The image file.
        reason: What the decoder reported.
    """

    def __init__(self, path: str | Path, reason: str):
        self.path = Path(path)
        self.reason = reason
        super().__init__(f"cannot decode image {str(path)!r}: {reason}")
