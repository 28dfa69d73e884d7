"""Torch datasets over the official on-disk formats (never imports Lightning).

Readers validate list files at construction and decode images lazily; every problem with the
data on disk raises one of the errors below, naming the file (and line).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from lightning_deepvision.datasets.errors import (
    CorruptImageError,
    DatasetNotFoundError,
    MalformedAnnotationError,
    MissingImageError,
)
from lightning_deepvision.datasets.identity_folder import IdentityFolder
from lightning_deepvision.datasets.image_io import read_image
from lightning_deepvision.datasets.lfw import (
    LFWPairs,
    LFWPeople,
    read_lfw_pairs_file,
    read_lfw_people_file,
)

if TYPE_CHECKING:
    from lightning_deepvision.datasets.samplers import IdentityBalancedSampler
    from lightning_deepvision.datasets.synthetic import (
        RenderedFaces,
        SyntheticFacePairs,
        SyntheticFaces,
    )

__all__ = [
    "CorruptImageError",
    "DatasetNotFoundError",
    "IdentityBalancedSampler",
    "IdentityFolder",
    "LFWPairs",
    "LFWPeople",
    "MalformedAnnotationError",
    "MissingImageError",
    "RenderedFaces",
    "SyntheticFacePairs",
    "SyntheticFaces",
    "read_image",
    "read_lfw_pairs_file",
    "read_lfw_people_file",
]

# Imported on first access so that importing this package never depends on them (and stays
# cheap): name -> sub-module.
_LAZY = {
    "RenderedFaces": "synthetic",
    "SyntheticFaces": "synthetic",
    "SyntheticFacePairs": "synthetic",
    "IdentityBalancedSampler": "samplers",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        module = importlib.import_module(f"{__name__}.{_LAZY[name]}")
        value = getattr(module, name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
