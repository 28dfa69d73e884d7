"""Lines of an annotation text file, each decoded on its own so that bad bytes name their line.

``Path.read_text`` decodes the whole file at once and reports a non-UTF-8 byte as a position in
bytes (``UnicodeDecodeError ... position 1679``) from deep inside the codec; the list and table
readers (LFW, HELEN, LFW Part Labels, LFW attributes) read through :func:`read_text_lines`
instead, which raises :class:`~lightning_deepvision.datasets.errors.MalformedAnnotationError`
naming the file and the line.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from lightning_deepvision.datasets.errors import MalformedAnnotationError

__all__ = ["read_text_lines"]


def read_text_lines(path: Path) -> Iterator[tuple[int, str]]:
    """Yield ``(1-based line number, line)`` of a UTF-8 text file, line ends removed.

    Lines are split as :meth:`bytes.splitlines` does (LF, CRLF or CR), so a file saved on
    Windows reads the same.

    Raises:
        MalformedAnnotationError: A line is not UTF-8, or ``path`` is a directory.
    """
    try:
        data = path.read_bytes()
    except IsADirectoryError as err:
        raise MalformedAnnotationError(path, 1, "", "a text file, not a directory") from err
    for number, raw in enumerate(data.splitlines(), start=1):
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError as err:
            raise MalformedAnnotationError(path, number, repr(raw), "UTF-8 text") from err
        yield number, line
