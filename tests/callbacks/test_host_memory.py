import subprocess
import sys
import textwrap

import pytest

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


@pytest.mark.skipif(not sys.platform.startswith("linux") or not _glibc(), reason="glibc only")
def test_large_allocations_come_from_the_heap_after_the_setting() -> None:
    result = subprocess.run(
        [sys.executable, "-c", _PROBE], capture_output=True, text=True, check=True, timeout=120
    )
    applied, before, after = result.stdout.split()
    assert applied == "True"
    # Before: the 64 MiB buffer is its own mmap; after: it is carved from the heap.
    assert int(after) < int(before)


def test_callback_applies_once_per_process(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []

    def fake() -> bool:
        calls.append(1)
        return True

    monkeypatch.setattr("lightning_deepvision.callbacks.host_memory.reuse_freed_host_memory", fake)
    callback = ReuseHostMemory()
    callback.setup(None, None, "fit")  # type: ignore[arg-type]
    callback.setup(None, None, "validate")  # type: ignore[arg-type]
    assert calls == [1]
    assert callback.applied
