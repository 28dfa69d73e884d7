"""Lazy package exports: a sub-module is imported when one of its names is first used.

Importing a package of the library (the CLI imports several to resolve ``class_path`` entries)
must stay cheap and must not pull in optional heavy dependencies (timm, matplotlib) for names a
run never touches. PEP 562's module ``__getattr__`` does it; this builds the pair of functions
each package's ``__init__`` installs.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable, Mapping
from typing import Any


def lazy_exports(
    package: str, names: Mapping[str, str], exported: Iterable[str]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """Return ``(__getattr__, __dir__)`` for ``package``.

    Args:
        package: The package's ``__name__``.
        names: Exported name → sub-module (relative to ``package``) that defines it.
        exported: The package's ``__all__``.
    """
    namespace = importlib.import_module(package).__dict__
    public = sorted(exported)

    def __getattr__(name: str) -> Any:
        if name in names:
            value = getattr(importlib.import_module(f"{package}.{names[name]}"), name)
            namespace[name] = value  # later lookups skip this hook
            return value
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    def __dir__() -> list[str]:
        return sorted(set(namespace) | set(public))

    return __getattr__, __dir__
