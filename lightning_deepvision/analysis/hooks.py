"""Forward hooks that record the activations of named layers for chosen forward calls.

An evaluation step may run the network several times per batch (DeepID2+ is evaluated on each
image and its mirror), and only some of those calls are the images one wants to analyse. The
recorder therefore keeps a layer's output only while a call is *being recorded*: either inside
:meth:`ActivationRecorder.record`, for forward passes of one's own, or while the model (or a
parent module of the hooked layers) runs on one of the exact input tensors given to
:meth:`ActivationRecorder.watch`, for forward passes made by someone else's code. Matching is
by tensor identity, so a mirrored or otherwise transformed copy of a watched batch is never
mistaken for it.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any, Literal

import torch
from torch import Tensor, nn
from torch.utils.hooks import RemovableHandle

__all__ = ["Activation", "ActivationRecorder"]

Activation = Literal["relu", "none"]


class ActivationRecorder:
    """Record the (flattened) outputs of named sub-modules of ``model``.

    Args:
        model: The root module (a ``LightningModule`` is one).
        layers: Display name → module name in ``model.named_modules()``, e.g.
            ``{"FC-4": "backbone.fc"}``.
        activation: Applied to each recorded output: ``"relu"`` (for a linear or
            convolutional layer whose ReLU follows as a separate, possibly shared or in-place
            module, as DeepID2+'s FC-n) or ``"none"`` (the output already is the feature).

    Raises:
        ValueError: If a module name is not in ``model``.
    """

    def __init__(
        self, model: nn.Module, layers: Mapping[str, str], activation: Activation = "relu"
    ) -> None:
        if activation not in ("relu", "none"):
            raise ValueError(f"activation must be 'relu' or 'none', got {activation!r}")
        modules = dict(model.named_modules())
        missing = [name for name in layers.values() if name not in modules]
        if missing:
            known = ", ".join(name for name in list(modules)[:40] if name)
            raise ValueError(
                f"no module named {missing} in {type(model).__name__}; its modules include: {known}"
            )
        if not layers:
            raise ValueError("layers must name at least one module")
        self.model = model
        self.layers = dict(layers)
        self.activation = activation
        self._modules = modules
        self._handles: list[RemovableHandle] = []
        self._records: dict[str, dict[str, Tensor]] = {}
        self._watched: dict[str, Tensor] = {}
        self._key: str | None = None
        self._tagger: nn.Module | None = None

    @property
    def attached(self) -> bool:
        """Whether the hooks are registered."""
        return bool(self._handles)

    def attach(self) -> None:
        """Register the hooks (a no-op if they are)."""
        if self._handles:
            return
        for display, name in self.layers.items():
            self._handles.append(
                self._modules[name].register_forward_hook(self._layer_hook(display))
            )
        # The root and every parent of a hooked layer may receive a watched batch: a task may
        # call ``self(images)`` or ``self.backbone(images)``.
        parents = {""}
        for name in self.layers.values():
            parts = name.split(".")
            parents.update(".".join(parts[:i]) for i in range(1, len(parts)))
        for name in sorted(parents):
            module = self._modules.get(name)
            if module is None:
                continue
            self._handles.append(
                module.register_forward_pre_hook(self._watch_hook, with_kwargs=True)
            )
            self._handles.append(module.register_forward_hook(self._release_hook))

    def detach(self) -> None:
        """Remove the hooks and forget everything recorded."""
        for handle in self._handles:
            handle.remove()
        self._handles = []
        self.take()

    def watch(self, inputs: Mapping[str, Any]) -> None:
        """Record the calls whose input is one of these tensors, under its key.

        Non-tensor values are ignored. Replaces what was watched before.
        """
        self._watched = {k: v for k, v in inputs.items() if isinstance(v, Tensor)}

    @contextmanager
    def record(self, key: str) -> Iterator[None]:
        """Record every forward call made inside the block under ``key``."""
        previous, self._key = self._key, key
        try:
            yield
        finally:
            self._key = previous

    def take(self) -> dict[str, dict[str, Tensor]]:
        """Return ``{key: {layer: [B, features]}}`` recorded so far and start afresh.

        Only the first call recorded under a key counts for each layer.
        """
        records, self._records = self._records, {}
        self._watched = {}
        if self._tagger is not None:  # a call that raised never released its tag
            self._key, self._tagger = None, None
        return records

    # -- hooks ---------------------------------------------------------------------------------
    def _watch_hook(self, module: nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        if self._key is not None or not self._watched:
            return
        first = args[0] if args else next(iter(kwargs.values()), None)
        for key, tensor in self._watched.items():
            if first is tensor:
                self._key, self._tagger = key, module
                return

    def _release_hook(self, module: nn.Module, args: tuple[Any, ...], output: Any) -> None:
        if self._tagger is module:
            self._key, self._tagger = None, None

    def _layer_hook(self, display: str) -> Any:
        relu = self.activation == "relu"

        def hook(module: nn.Module, args: tuple[Any, ...], output: Any) -> None:
            if self._key is None:
                return
            slot = self._records.setdefault(self._key, {})
            if display in slot:
                return
            out = output[0] if isinstance(output, (tuple, list)) else output
            flat = out.detach().flatten(1).float()
            # A new tensor either way: an in-place ReLU after the layer would change a view.
            slot[display] = torch.relu(flat) if relu else flat.clone()

        return hook
