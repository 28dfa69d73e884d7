"""Name → builder registry for the library's architectures, with timm as the fallback.

``create_model("deepid2plus")`` builds a registered architecture; any other name is handed to
:func:`timm.create_model` (with ``pretrained=False`` unless the caller says otherwise, so that
nothing is downloaded behind the user's back). timm is imported only when a name reaches it,
so that importing this module (or :mod:`lightning_deepvision.models`) stays cheap.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from collections.abc import Callable
from typing import Any, TypeVar

from torch import nn

__all__ = ["create_model", "list_models", "model_accepts", "register_model"]

ModelBuilder = Callable[..., nn.Module]
_B = TypeVar("_B", bound=ModelBuilder)

_REGISTRY: dict[str, ModelBuilder] = {}

# The arguments every timm model takes through timm.create_model.
_TIMM_ARGUMENTS = frozenset({"num_classes", "in_chans", "pretrained", "drop_rate"})

# Sub-packages and modules of lightning_deepvision.models that define no architecture.
_NOT_MODELS = frozenset({"registry", "layers"})


def register_model(name: str) -> Callable[[_B], _B]:
    """Register ``builder`` under ``name`` (decorator).

    The builder's signature is the list of arguments :func:`create_model` passes it: declare
    each one (a builder with ``**kwargs`` takes any).

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
    # Importing a module runs its @register_model decorators. Every module of the package is
    # imported, so that a model file added later cannot be missed, which would let its names
    # fall back to a timm model of the same name without a word.
    package = importlib.import_module("lightning_deepvision.models")
    for module in pkgutil.iter_modules(package.__path__):
        if module.name not in _NOT_MODELS:
            importlib.import_module(f"{package.__name__}.{module.name}")


def list_models() -> list[str]:
    """Return the sorted names of the library's own registered architectures."""
    _import_builtin_models()
    return sorted(_REGISTRY)


def _declared_arguments(builder: ModelBuilder) -> tuple[list[str], bool]:
    """The keyword arguments ``builder`` declares, and whether it takes any (``**kwargs``)."""
    parameters = inspect.signature(builder).parameters.values()
    names = [
        p.name
        for p in parameters
        if p.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    ]
    return names, any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters)


def model_accepts(name: str, argument: str) -> bool:
    """Whether :func:`create_model` may pass ``argument`` to the model called ``name``.

    For the library's architectures, whether the builder declares the argument (a builder with
    ``**kwargs`` accepts any); for a timm name, whether it is one of the arguments every timm
    model takes (``num_classes``, ``in_chans``, ``pretrained``, ``drop_rate``). A task uses it
    to pass, e.g., ``input_size`` only to the builders that take it. An unknown name accepts
    nothing (False): :func:`create_model` is the one to report it.
    """
    _import_builtin_models()
    if name in _REGISTRY:
        declared, takes_any = _declared_arguments(_REGISTRY[name])
        return takes_any or argument in declared
    import timm

    return timm.is_model(name) and argument in _TIMM_ARGUMENTS


def create_model(name: str, **kwargs: Any) -> nn.Module:
    """Build a model by name.

    Args:
        name: A registered name (see :func:`list_models`) or any :func:`timm.create_model` name.
        **kwargs: Passed to the builder (e.g. ``num_classes``, ``in_chans``).

    Returns:
        The freshly initialised model.

    Raises:
        ValueError: If the name is neither registered nor known to timm.
        TypeError: If a registered builder does not declare one of ``kwargs``.
    """
    _import_builtin_models()
    if name in _REGISTRY:
        builder = _REGISTRY[name]
        declared, takes_any = _declared_arguments(builder)
        unknown = sorted(set(kwargs) - set(declared))
        if unknown and not takes_any:
            raise TypeError(
                f"model {name!r} does not take the argument(s) {unknown}; it accepts {declared}"
            )
        return builder(**kwargs)
    import timm

    if not timm.is_model(name):
        raise ValueError(
            f"unknown model {name!r}: not one of lightning_deepvision's "
            f"{sorted(_REGISTRY)} and not a timm model name"
        )
    kwargs.setdefault("pretrained", False)
    return timm.create_model(name, **kwargs)
