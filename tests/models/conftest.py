"""Fixtures shared by the model and layer tests."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator

import pytest
import torch
from torch import nn


@pytest.fixture
def single_thread() -> Iterator[None]:
    """Run the test on one intra-op thread, restoring the previous count afterwards."""
    # Tiny workloads gain nothing from intra-op threads, and on a busy machine every oneDNN
    # parallel region waits for a descheduled thread: one thread keeps these tests fast.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def state_digest() -> Callable[[nn.Module], str]:
    """SHA-256 of a module's ``state_dict`` (names, in order, and the bytes of every tensor)."""

    def digest(module: nn.Module) -> str:
        h = hashlib.sha256()
        for name, value in module.state_dict().items():
            h.update(name.encode())
            h.update(value.detach().contiguous().numpy().tobytes())
        return h.hexdigest()

    return digest
