"""Argument validation shared by the synthetic renderers and datasets.

Every check returns the normalised value, so a constructor reads ``self.x = check_...(x)``, and
raises ``ValueError`` naming the argument (``TypeError``/``IndexError`` for a dataset index, as
Python's sequences do).
"""

from __future__ import annotations

import operator
from collections.abc import Sequence
from typing import Any

MIN_IMAGE_SIZE = 16
"""Smallest image side the renderers accept (below it whole face parts vanish)."""


def check_integer(name: str, value: Any, minimum: int) -> int:
    """``value`` as an ``int`` of at least ``minimum`` (``bool`` is not accepted as a count).

    Raises:
        ValueError: If ``value`` is not an integer, is a ``bool`` or is below ``minimum``.
    """
    expected = "a non-negative integer" if minimum == 0 else f"an integer >= {minimum}"
    message = f"{name} must be {expected}, got {value!r}"
    if isinstance(value, bool):
        raise ValueError(message)
    try:
        number = operator.index(value)
    except TypeError:
        raise ValueError(message) from None
    if number < minimum:
        raise ValueError(message)
    return number


def check_index(name: str, value: Any) -> int:
    """``value`` as a non-negative ``int`` (an identity, a sample index, a seed)."""
    return check_integer(name, value, 0)


def check_positive(name: str, value: Any, minimum: int = 1) -> int:
    """``value`` as an ``int`` of at least ``minimum`` (a count)."""
    return check_integer(name, value, minimum)


def check_size(size: Any, minimum: int = MIN_IMAGE_SIZE) -> tuple[int, int]:
    """``size`` as ``(height, width)``, both integers of at least ``minimum``."""
    message = f"image size must be (height, width) with both >= {minimum}, got {size!r}"
    try:
        height, width = size
        height, width = operator.index(height), operator.index(width)
    except (TypeError, ValueError):
        raise ValueError(message) from None
    if height < minimum or width < minimum:
        raise ValueError(message)
    return height, width


def check_split(split: Any, allowed: Sequence[str]) -> str:
    """``split`` if it is one of ``allowed``."""
    if split not in allowed:
        raise ValueError(f"split must be one of {tuple(allowed)}, got {split!r}")
    return str(split)


def check_transforms(transforms: Any) -> None:
    """Reject a ``transforms`` argument that is neither callable nor ``None``."""
    if transforms is not None and not callable(transforms):
        raise ValueError(f"transforms must be callable or None, got {type(transforms).__name__}")


def check_item(index: Any, length: int) -> int:
    """A dataset index in ``[0, length)``, negative indices counting from the end.

    Raises:
        TypeError: If ``index`` is not an integer.
        IndexError: If it is out of range.
    """
    try:
        i = operator.index(index)
    except TypeError:
        raise TypeError(f"index must be an integer, got {type(index).__name__}") from None
    if i < 0:
        i += length
    if not 0 <= i < length:
        raise IndexError(f"index {index} out of range for a dataset of {length} samples")
    return i
