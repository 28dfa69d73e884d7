"""Buffers whose shapes come from fitted data (PCA, LDA, Joint Bayesian).

A scorer fitted before evaluation holds its projection as buffers, so checkpoints carry the fit;
their shapes depend on the data, so a fresh (unfitted) module must take the incoming shapes
before ``nn.Module`` copies the values into them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import torch
from torch import Tensor, nn


def resize_buffers_to_state(
    module: nn.Module, state_dict: Mapping[str, Any], prefix: str, names: Iterable[str]
) -> None:
    """Give each named buffer of ``module`` the shape of its entry in ``state_dict``.

    Call from ``_load_from_state_dict`` before the parent's: the values are then copied by
    ``nn.Module`` itself (dtype and device stay the module's).
    """
    for name in names:
        incoming = state_dict.get(prefix + name)
        current = module._buffers[name]
        if isinstance(incoming, Tensor) and current is not None:
            module._buffers[name] = torch.empty(
                incoming.shape, dtype=current.dtype, device=current.device
            )
