"""DetectionTask training step under Lightning vs the same network in a plain PyTorch loop.

Both sides run the UDN recipe's window classifier (UDN on its stacked input channels made on
the fly from RGB windows, the log loss, Adam) on the same precomputed 84x28 windows,
interleaved over several rounds; the script prints the median step time of each and their
ratio. Target: ratio <= 1.05.

    python benchmarks/detection_step_overhead.py [--conv1-channels 16] [--batch-size 32]
"""

from __future__ import annotations

import argparse
import time

import torch
from _harness import (
    add_host_memory_option,
    apply_host_memory_option,
    lightning_step_times,
    step_overhead,
)
from torch.nn import functional as F

from lightning_deepvision.tasks import DetectionTask
from lightning_deepvision.transforms import udn_channels


def make_batches(count: int, batch_size: int) -> list[dict[str, torch.Tensor]]:
    """Random RGB windows and pedestrian/background labels, ``count`` batches."""
    generator = torch.Generator().manual_seed(0)
    return [
        {
            "image": torch.randn(batch_size, 3, 84, 28, generator=generator),
            "label": torch.randint(0, 2, (batch_size,), generator=generator),
        }
        for _ in range(count)
    ]


def build_task(args: argparse.Namespace) -> DetectionTask:
    """The recipe's task (UDN, stacked channels, Adam, cosine schedule)."""
    return DetectionTask(
        backbone="udn",
        backbone_kwargs={"conv1_channels": args.conv1_channels},
        optimizer="adam",
        lr=2e-3,
        weight_decay=0.0,
    )


def plain_step_times(
    task: DetectionTask, batches: list[dict[str, torch.Tensor]], steps: int
) -> list[float]:
    """Seconds per step of the same preprocessing, network and loss in a hand-written loop."""
    optimizer = torch.optim.Adam(task.parameters(), lr=2e-3, fused=True)  # as BaseTask on CPU
    task.train()
    times = []
    for step in range(steps):
        batch = batches[step % len(batches)]
        start = time.perf_counter()
        logits = task.backbone(udn_channels(batch["image"], "stacked")).reshape(-1)
        loss = F.binary_cross_entropy_with_logits(logits, batch["label"].float())
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        times.append(time.perf_counter() - start)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--conv1-channels", type=int, default=16)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--steps", type=int, default=15)
    parser.add_argument("--rounds", type=int, default=3)
    add_host_memory_option(parser)
    args = parser.parse_args()
    apply_host_memory_option(args)
    batches = make_batches(4, args.batch_size)
    step_overhead(
        lambda: build_task(args),
        lambda task: plain_step_times(task, batches, args.steps),
        lambda task: lightning_step_times(task, batches, args.steps),
        args.rounds,
        f"UDN conv1 {args.conv1_channels} batch {args.batch_size}: DetectionTask",
    )


if __name__ == "__main__":
    main()
