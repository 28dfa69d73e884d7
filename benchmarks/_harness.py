"""Shared pieces of the benchmarks: fixed batches, a step timer, a plain PyTorch loop."""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from collections.abc import Callable
from typing import Any

import torch
from lightning.pytorch import Callback, LightningModule, Trainer
from torch.utils.data import Dataset

from lightning_deepvision.callbacks import reuse_freed_host_memory
from lightning_deepvision.tasks import VerificationTask
from lightning_deepvision.testing.trainers import quiet_trainer


class FixedBatches(Dataset):
    """Yields the same precomputed batches (so loaders cost nothing and both sides match)."""

    def __init__(self, batches: list[dict[str, torch.Tensor]], length: int) -> None:
        self.batches = batches
        self.length = length

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        return self.batches[index % len(self.batches)]


def make_batches(
    count: int, batch_size: int, identities: int, per_identity: int, size: tuple[int, int]
) -> list[dict[str, torch.Tensor]]:
    """Identity-balanced random batches of face-sized images."""
    generator = torch.Generator().manual_seed(0)
    labels = torch.arange(identities).repeat_interleave(per_identity)[:batch_size]
    return [
        {"image": torch.randn(batch_size, 3, *size, generator=generator), "label": labels.clone()}
        for _ in range(count)
    ]


class StepTimer(Callback):
    """Wall time of every training step (batch start to batch end, optimiser included)."""

    def __init__(self) -> None:
        self.times: list[float] = []
        self._start = 0.0

    def on_train_batch_start(self, *args: Any) -> None:
        self._start = time.perf_counter()

    def on_train_batch_end(self, *args: Any) -> None:
        self.times.append(time.perf_counter() - self._start)


def timing_trainer(steps: int, callback: Callback) -> Trainer:
    """A quiet CPU ``Trainer`` for ``steps`` training steps with only ``callback`` attached."""
    return quiet_trainer(
        max_steps=steps, limit_val_batches=0, num_sanity_val_steps=0, callbacks=[callback]
    )


def lightning_step_times(
    model: LightningModule, batches: list[dict[str, torch.Tensor]], steps: int
) -> list[float]:
    """Seconds per training step of ``model`` run by a Lightning ``Trainer``."""
    timer = StepTimer()
    trainer = timing_trainer(steps, timer)
    loader = torch.utils.data.DataLoader(FixedBatches(batches, steps), batch_size=None)
    trainer.fit(model, train_dataloaders=loader)
    return timer.times


def plain_step_times(
    model: VerificationTask, batches: list[dict[str, torch.Tensor]], steps: int, lr: float
) -> list[float]:
    """Seconds per step of the same network, heads and losses in a hand-written loop."""
    # fused: the kernels BaseTask.configure_optimizers picks on the CPU.
    optimizer = torch.optim.SGD(
        model.parameters(), lr=lr, momentum=0.9, weight_decay=5e-4, fused=True
    )
    assert model.identity_heads is not None
    model.train()
    times = []
    for step in range(steps):
        batch = batches[step % len(batches)]
        start = time.perf_counter()
        images = batch["image"].contiguous(memory_format=torch.channels_last)
        levels = model.backbone.forward_levels(images)
        loss = sum(
            loss_fn(embedding, head(embedding), batch["label"])["loss"]
            for embedding, head, loss_fn in zip(
                levels, model.identity_heads, model.joint_losses, strict=True
            )
        )
        optimizer.zero_grad(set_to_none=True)
        loss.backward()  # type: ignore[union-attr]
        optimizer.step()
        times.append(time.perf_counter() - start)
    return times


def median_after_warmup(times: list[float], warmup: int) -> float:
    """Median of ``times`` without the first ``warmup`` entries."""
    return statistics.median(times[warmup:])


#: The learning rate of the DeepID2+ benchmark steps, both sides of each comparison.
STEP_LR = 1e-3


def build_task(backbone: str, identities: int) -> VerificationTask:
    """The recipe's task with a fixed identity count."""
    # 1e-3, not the recipe's 0.02: random batches at 0.01 reach a NaN loss within 15 steps,
    # which the task's finite-loss check stops (the rate does not change a step's cost).
    return VerificationTask(backbone=backbone, num_identities=identities, lr=STEP_LR)


def matmul_flops_per_second(n: int = 2048, repeats: int = 10) -> float:
    """This machine's fp32 matrix-multiply rate (FLOP/s), best of ``repeats``."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    torch.mm(a, b)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        torch.mm(a, b)
        best = min(best, time.perf_counter() - start)
    return 2 * n**3 / best


def timed(fn: Callable[[], Any]) -> float:
    """Seconds taken by ``fn()``."""
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def add_host_memory_option(parser: argparse.ArgumentParser) -> None:
    """Add ``--host-memory {reuse,release}``: as the recipes run, or glibc's default."""
    parser.add_argument(
        "--host-memory",
        choices=["reuse", "release"],
        default="reuse",
        help="reuse: keep freed memory mapped as the recipes' ReuseHostMemory callback does "
        "(applied to both sides of a comparison); release: glibc's default",
    )


def apply_host_memory_option(args: argparse.Namespace) -> None:
    """Apply ``--host-memory`` to this process and say what is in effect."""
    print(machine_header())
    applied = args.host_memory == "reuse" and reuse_freed_host_memory()
    print(f"host memory: {'reuse freed memory' if applied else 'glibc default (release)'}")


#: The x86 vector-ISA flags that decide which oneDNN / ATen kernels run (in /proc/cpuinfo).
ISA_FLAGS = ("avx2", "avx512f", "avx512_bf16", "avx512_vnni", "amx_bf16", "amx_tile")


def cpu_model_and_isa() -> tuple[str, list[str]]:
    """The CPU model name and which of :data:`ISA_FLAGS` it has (Linux ``/proc/cpuinfo``).

    Elsewhere the model is ``platform.processor()`` and the flags come from PyTorch's own
    capability probe (``torch.backends.cpu.get_cpu_capability``).
    """
    model, flags = platform.processor() or platform.machine(), set()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                key, _, value = line.partition(":")
                if key.strip() == "model name" and value.strip():
                    model = value.strip()
                elif key.strip() == "flags":
                    flags = set(value.split())
                    break
    except OSError:
        flags = {torch.backends.cpu.get_cpu_capability().lower()}
    return model, [flag for flag in ISA_FLAGS if flag in flags]


def machine_header() -> str:
    """One line naming the CPU, its vector ISA, torch, the threads and the load average."""
    model, isa = cpu_model_and_isa()
    load = "/".join(f"{x:.2f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") else "?"
    return (
        f"machine: {model}; ISA {' '.join(isa) or 'none of ' + '/'.join(ISA_FLAGS)}; "
        f"ATen CPU capability {torch.backends.cpu.get_cpu_capability()}; "
        f"torch {torch.__version__}; {torch.get_num_threads()} threads; load average {load}"
    )


def parse_step_benchmark_args(
    description: str | None, extra: Callable[[argparse.ArgumentParser], None] | None = None
) -> tuple[argparse.Namespace, list[dict[str, torch.Tensor]]]:
    """The options every training-step benchmark shares, and its fixed face batches.

    ``--batch-size`` (128, 4 images per identity), ``--steps`` (15) and ``--host-memory``
    (applied before returning); ``extra`` adds a benchmark's own options.

    Returns:
        The parsed arguments and 4 identity-balanced 55x47 batches.
    """
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--steps", type=int, default=15)
    add_host_memory_option(parser)
    if extra is not None:
        extra(parser)
    args = parser.parse_args()
    apply_host_memory_option(args)
    args.identities = args.batch_size // 4
    return args, make_batches(4, args.batch_size, args.identities, 4, (55, 47))


def interleaved_best(fns: list, repeats: list[int]) -> list[tuple[float, object]]:
    """Minimum wall time of each function, runs interleaved so that load spikes hit both."""
    best = [float("inf")] * len(fns)
    results: list[object] = [None] * len(fns)
    for round_ in range(max(repeats)):
        for k, fn in enumerate(fns):
            if round_ < repeats[k]:
                start = time.perf_counter()
                results[k] = fn()
                best[k] = min(best[k], time.perf_counter() - start)
    return list(zip(best, results, strict=True))


def step_overhead(
    build: Callable[[], Any],
    plain_times: Callable[[Any], list[float]],
    task_times: Callable[[Any], list[float]],
    rounds: int,
    label: str,
    warmup: int = 3,
) -> float:
    """Interleave rounds of a plain loop and the task's ``fit``; print and return the ratio.

    Each round builds a fresh task with the same seed for both sides (``build``), times the
    plain loop then the Lightning steps, and prints their medians after ``warmup`` steps; the
    summary line gives the medians over rounds as ``<label> step … ms / plain loop … ms``.
    """
    ratios, task_medians, plain_medians = [], [], []
    for round_index in range(rounds):
        torch.manual_seed(round_index)
        plain = median_after_warmup(plain_times(build()), warmup)
        torch.manual_seed(round_index)
        task = median_after_warmup(task_times(build()), warmup)
        ratios.append(task / plain)
        task_medians.append(task)
        plain_medians.append(plain)
        print(
            f"round {round_index}: lightning {task * 1e3:.1f} ms, "
            f"plain {plain * 1e3:.1f} ms, ratio {task / plain:.3f}",
            flush=True,
        )
    ratio = statistics.median(ratios)
    print(
        f"{label} step {statistics.median(task_medians) * 1e3:.1f} ms / plain loop "
        f"{statistics.median(plain_medians) * 1e3:.1f} ms = ratio {ratio:.3f} (target <= 1.05)"
    )
    return ratio
