r"""``torch.compile`` for a task's networks, switched on from a config.

Lightning has no compile callback: its ``Trainer`` accepts a module already wrapped by
``torch.compile``, which a LightningCLI configuration cannot express. :class:`CompileModel`
compiles the named sub-modules of the task in place (``nn.Module.compile``), so that state-dict
keys, checkpoints and ``init_from`` are unchanged, and it also compiles ``forward_levels``
where a backbone has it (``VerificationTask`` calls that method, not ``forward``, to get every
supervised level of DeepID2+ in one pass)::

    python recipes/deepid2plus.py fit \
        --trainer.callbacks+=lightning_deepvision.callbacks.CompileModel

The other switches need no callback: the memory format is a task argument
(``--model.init_args.channels_last true``; ``VerificationTask`` defaults to it) and precision
is Lightning's (``--trainer.precision bf16-mixed``, or ``recipes/configs/scale/bf16.yaml``).
``benchmarks/switches.py`` measures each against the default on the machine at hand; the first
compiled steps pay the compilation (tens of seconds on CPU), so it pays off in long runs only.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any, Literal

import torch
from lightning.pytorch import Callback, LightningModule, Trainer
from torch import nn

__all__ = ["CompileModel"]

log = logging.getLogger(__name__)

#: Methods other than ``forward`` that tasks call on a backbone and that get compiled too.
EXTRA_METHODS: tuple[str, ...] = ("forward_levels",)
_MARK = "_deepvision_compiled"


class CompileModel(Callback):
    """Compile the task's networks with ``torch.compile`` when the trainer sets up.

    Args:
        modules: Sub-module names of the task to compile (``get_submodule`` paths); by default
            the backbone, where nearly all of the computation is. Losses and heads are small
            and stay eager.
        backend: The ``torch.compile`` backend (``inductor`` generates fused C++/OpenMP code
            on CPU and Triton kernels on GPU; ``eager`` only traces, for debugging).
        mode: ``torch.compile`` mode (``None``, ``reduce-overhead``, ``max-autotune``).
        fullgraph: Fail on a graph break instead of falling back to eager for that part.
        dynamic: Shape dynamism (``None``: static first, dynamic after a shape changes; the
            last, smaller training batch then costs one recompilation).

    Raises:
        AttributeError: At setup, when a name in ``modules`` is not a sub-module of the task.
    """

    def __init__(
        self,
        modules: Sequence[str] = ("backbone",),
        backend: str = "inductor",
        mode: Literal["default", "reduce-overhead", "max-autotune"] | None = None,
        fullgraph: bool = False,
        dynamic: bool | None = None,
    ) -> None:
        self.modules = list(modules)
        self.options: dict[str, Any] = {
            "backend": backend,
            "mode": mode,
            "fullgraph": fullgraph,
            "dynamic": dynamic,
        }

    def setup(self, trainer: Trainer, pl_module: LightningModule, stage: str) -> None:
        """Compile each named module once (a later ``test`` after ``fit`` finds it compiled)."""
        for name in self.modules:
            module = pl_module.get_submodule(name)
            if getattr(module, _MARK, False):
                continue
            compile_module(module, **self.options)
            log.info("torch.compile(%s, %s)", name, self.options)


def compile_module(module: nn.Module, **options: Any) -> list[str]:
    """Compile ``module`` in place: ``forward`` and the backbone methods of :data:`EXTRA_METHODS`.

    Args:
        module: The network to compile.
        **options: Keyword arguments of ``torch.compile``.

    Returns:
        The names of the compiled methods.
    """
    module.compile(**options)
    compiled = ["forward"]
    for method in EXTRA_METHODS:
        bound = getattr(module, method, None)
        if callable(bound):
            # An instance attribute shadows the class's method; the parameters stay those of
            # ``module``, so the state dict is untouched.
            setattr(module, method, torch.compile(bound, **options))
            compiled.append(method)
    setattr(module, _MARK, True)
    return compiled
