"""Name → builder registry for the library's architectures, with timm as the fallback.

``create_model("deepid2plus")`` builds a registered architecture; any other name is handed to
:func:`timm.create_model` (with ``pretrained=False`` unless the caller says otherwise, so that
nothing is downloaded behind the user's back).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import timm
from torch import nn

ModelBuilder = Callable[..., nn.Module]
_B = TypeVar("_B", bound=ModelBuilder)

_REGISTRY: dict[str, ModelBuilder] = {}


def register_model(name: str) -> Callable[[_B], _B]:
    """Register ``builder`` under ``name`` (decorator).

    Args:
        name: The registry name, e.g. ``"deepid2plus"``; must be unique.

    Raises:
        ValueError: If the name is already registered.
    """

    def decorator(builder: _B) -> _B:
        if name in _REGISTRY:
            raise ValueError(f"model name {name!r} is already registered")
        _REGISTRY[name] = builder
        return builder

    return decorator


def _import_builtin_models() -> None:
    # Importing the modules runs their @register_model decorators.
    from lightning_deepvision.models import deepid  # noqa: F401


def list_models() -> list[str]:
    """Return the sorted names of the library's own registered architectures."""
    _import_builtin_models()
    return sorted(_REGISTRY)


def create_model(name: str, **kwargs: Any) -> nn.Module:
    """Build a model by name.

    Args:
        name: A registered name (see :func:`list_models`) or any :func:`timm.create_model` name.
        **kwargs: Passed to the builder (e.g. ``num_classes``, ``in_chans``).

    Returns:
        The freshly initialised model.

    Raises:
        ValueError: If the name is neither registered nor known to timm.
    """
    _import_builtin_models()
    if name in _REGISTRY:
        return _REGISTRY[name](**kwargs)
    if not timm.is_model(name):
        raise ValueError(
            f"unknown model {name!r}: not one of lightning_deepvision's "
            f"{list_models()} and not a timm model name"
        )
    kwargs.setdefault("pretrained", False)
    return timm.create_model(name, **kwargs)
