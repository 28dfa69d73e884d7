import logging
import subprocess
import sys
import textwrap

import pytest
from lightning.pytorch.accelerators import CPUAccelerator

from lightning_deepvision.callbacks import ReuseHostMemory

# Runs in a child process: the setting lasts for the whole process it is applied in.
_PROBE = textwrap.dedent(
    """
    import ctypes, torch
    from lightning_deepvision.callbacks import reuse_freed_host_memory

    class MallInfo2(ctypes.Structure):
        _fields_ = [(name, ctypes.c_size_t) for name in (
            "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks",
            "uordblks", "fordblks", "keepcost")]

    libc = ctypes.CDLL(None)
    libc.mallinfo2.restype = MallInfo2

    def mapped_blocks_during_allocation():
        big = torch.empty(64 * 2**20, dtype=torch.uint8)
        blocks = libc.mallinfo2().hblks
        del big
        return blocks

    before = mapped_blocks_during_allocation()
    applied = reuse_freed_host_memory()
    after = mapped_blocks_during_allocation()
    print(applied, before, after)
    """
)


def _glibc() -> bool:
    import ctypes

    try:
        ctypes.CDLL(None).gnu_get_libc_version  # noqa: B018
    except AttributeError:
        return False
    return True


@pytest.mark.skipif(
    not sys.platform.startswith("linux") or not _glibc(),
    reason="not glibc on Linux: mallopt host-memory check skipped",
)
def test_large_allocations_come_from_the_heap_after_the_setting() -> None:
    result = subprocess.run(
        [sys.executable, "-c", _PROBE], capture_output=True, text=True, check=True, timeout=120
    )
    applied, before, after = result.stdout.split()
    assert applied == "True"
    # Before: the 64 MiB buffer is its own mmap; after: it is carved from the heap.
    assert int(after) < int(before)


class _FakeTrainer:
    """Only what the callback reads: the accelerator."""

    def __init__(self, accelerator: object) -> None:
        self.accelerator = accelerator


class _FakeGPUAccelerator:
    """Stands for CUDAAccelerator/MPSAccelerator (no GPU needed): anything not the CPU."""


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    recorded: list[int] = []

    def fake() -> bool:
        recorded.append(1)
        return True

    monkeypatch.setattr("lightning_deepvision.callbacks.host_memory.reuse_freed_host_memory", fake)
    return recorded


def test_callback_applies_once_per_process_on_the_cpu(calls: list[int]) -> None:
    trainer = _FakeTrainer(CPUAccelerator())
    callback = ReuseHostMemory()
    callback.setup(trainer, None, "fit")  # type: ignore[arg-type]
    callback.setup(trainer, None, "validate")  # type: ignore[arg-type]
    assert calls == [1]
    assert callback.applied


def test_callback_skips_other_accelerators_and_logs_once(
    calls: list[int], caplog: pytest.LogCaptureFixture
) -> None:
    trainer = _FakeTrainer(_FakeGPUAccelerator())
    callback = ReuseHostMemory()
    with caplog.at_level(logging.INFO, logger="lightning_deepvision.callbacks.host_memory"):
        callback.setup(trainer, None, "fit")  # type: ignore[arg-type]
        callback.setup(trainer, None, "validate")  # type: ignore[arg-type]
    assert calls == []
    assert not callback.applied
    skipped = [r for r in caplog.records if "not applied" in r.getMessage()]
    assert len(skipped) == 1
    assert skipped[0].levelno == logging.INFO
    assert "_FakeGPUAccelerator" in skipped[0].getMessage()


def test_importing_the_package_loads_no_callback_module() -> None:
    # A fresh interpreter: the pytest process has long imported everything.
    probe = (
        "import sys, lightning_deepvision.callbacks as c\n"
        "loaded = sorted(m for m in sys.modules if m.startswith(c.__name__ + '.'))\n"
        "print(loaded, 'matplotlib' in sys.modules)\n"
        "print(c.ReuseHostMemory.__module__, 'ReuseHostMemory' in dir(c))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=120
    )
    first, second = result.stdout.splitlines()
    assert first == "[] False"
    assert second == "lightning_deepvision.callbacks.host_memory True"


def test_unknown_name_is_an_attribute_error() -> None:
    import lightning_deepvision.callbacks as callbacks

    with pytest.raises(AttributeError, match="NoSuchCallback"):
        callbacks.NoSuchCallback  # noqa: B018
