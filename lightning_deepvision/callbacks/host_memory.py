"""Keep freed host memory for reuse instead of handing it back to the kernel every step.

glibc serves every allocation above its mmap threshold (at most 32 MiB on 64-bit) with a fresh
``mmap`` and returns it with ``munmap`` on free. A CPU training step of DeepID2+ at batch 128
allocates and frees dozens of such buffers (conv1's 150 MB activation, FC-1's 150 MB weight
gradient, their backward temporaries), so every step re-faults and re-zeroes hundreds of MB page
by page: measured with ``benchmarks/deepid2plus_flop_rate.py`` on 2 cores, 785 ms a step, of
which about a third is kernel time; with freed memory kept in the heap, 519 ms. The same holds
for any large-activation network on CPU; GPU memory is unaffected (PyTorch's CUDA caching
allocator already reuses it).

Scope: this is a process-wide, irreversible setting of the C library, not a property of one
model or one ``Trainer``. Once applied it lasts until the process exits, data loader workers
forked afterwards inherit it, and the resident size stays at its peak instead of shrinking
between steps. It is therefore opt-in: the CPU recipes list :class:`ReuseHostMemory`, which
applies it only when the trainer runs on the CPU; nothing else in the library turns it on.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging

from lightning.pytorch import Callback, LightningModule, Trainer
from lightning.pytorch.accelerators import CPUAccelerator

log = logging.getLogger(__name__)

# mallopt(3) parameter numbers from glibc's <malloc.h>.
_M_TRIM_THRESHOLD = -1
_M_MMAP_MAX = -4
# The largest value mallopt accepts for the trim threshold (an int): 2 GiB - 1.
_NEVER_TRIM = 2**31 - 1


def reuse_freed_host_memory() -> bool:
    """Make glibc keep freed memory in the heap for reuse, for the rest of the process.

    Large allocations then come from the heap instead of one ``mmap`` each, and freed memory is
    not trimmed back to the kernel, so the next step's buffers reuse already-mapped pages. The
    process's resident size stays at its peak instead of shrinking between steps. Child
    processes forked afterwards (data loader workers) inherit the setting.

    Returns:
        True when the setting was applied; False where the C library is not glibc (macOS,
        Windows, musl), where nothing is changed.
    """
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
        libc.gnu_get_libc_version  # noqa: B018 - only glibc has it; musl's mallopt is a no-op
    except (OSError, AttributeError, TypeError):
        log.debug("mallopt is not available (C library %s): host memory reuse not applied", name)
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    applied = bool(mallopt(_M_MMAP_MAX, 0)) and bool(mallopt(_M_TRIM_THRESHOLD, _NEVER_TRIM))
    if not applied:
        log.warning("mallopt rejected the settings: host memory reuse not applied")
    return applied


class ReuseHostMemory(Callback):
    """Apply :func:`reuse_freed_host_memory` when a CPU run starts (in every process).

    The setting is process-wide and irreversible (see the module notes): it outlives the
    ``Trainer``, is inherited by data loader workers forked afterwards, and keeps the resident
    size at its peak. It pays only where the training step itself runs on the CPU, so the
    callback applies it only when the trainer's accelerator is Lightning's ``CPUAccelerator``;
    on any other accelerator it changes nothing and says so once at info level. The CPU recipes
    list it; it is off everywhere else unless a user adds it::

        Trainer(accelerator="cpu", callbacks=[ReuseHostMemory()])

    Attributes:
        applied: Whether this callback applied the setting in this process.
    """

    def __init__(self) -> None:
        self.applied = False
        self._skip_logged = False

    def setup(self, trainer: Trainer, pl_module: LightningModule, stage: str) -> None:
        """Apply the setting once per process, on the CPU only."""
        if self.applied:
            return
        if not isinstance(trainer.accelerator, CPUAccelerator):
            if not self._skip_logged:
                log.info(
                    "ReuseHostMemory: accelerator is %s, not the CPU: host memory reuse not "
                    "applied",
                    type(trainer.accelerator).__name__,
                )
                self._skip_logged = True
            return
        self.applied = reuse_freed_host_memory()
