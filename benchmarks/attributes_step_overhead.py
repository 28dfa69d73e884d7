"""AttributesTask training step under Lightning vs the same network in a plain PyTorch loop.

Both sides run the attribute recipe's network (ANet at 64×56 by default: backbone, one linear
classifier per attribute, binary cross-entropy, SGD with momentum and weight decay) on the same
precomputed tensors, interleaved over several rounds; the script prints the median step time of
each and their ratio. The Lightning side also accumulates the training metrics (mean,
balanced and per-attribute accuracy) and steps the learning-rate schedule, as the recipe does.
Target: ratio <= 1.05.

    python benchmarks/attributes_step_overhead.py [--backbone anet] [--batch-size 64]
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

from lightning_deepvision.tasks import AttributesTask


def make_batches(
    count: int, batch_size: int, attributes: int, size: tuple[int, int]
) -> list[dict[str, torch.Tensor]]:
    """Random faces and 0/1 attributes, ``count`` batches."""
    generator = torch.Generator().manual_seed(0)
    return [
        {
            "image": torch.randn(batch_size, 3, *size, generator=generator),
            "attributes": torch.randint(0, 2, (batch_size, attributes), generator=generator),
        }
        for _ in range(count)
    ]


def build_task(args: argparse.Namespace) -> AttributesTask:
    """The recipe's task with a fixed attribute count."""
    return AttributesTask(
        backbone=args.backbone,
        num_attributes=args.attributes,
        input_size=(args.height, args.width),
        print_table=False,
    )


def plain_step_times(
    task: AttributesTask, batches: list[dict[str, torch.Tensor]], steps: int
) -> list[float]:
    """Seconds per step of the same backbone, classifier and loss in a hand-written loop."""
    hp = task.hparams
    optimizer = torch.optim.SGD(  # fused, as BaseTask on CPU
        task.parameters(),
        lr=hp.lr,
        momentum=hp.momentum,
        weight_decay=hp.weight_decay,
        fused=True,
    )
    task.train()
    times = []
    for step in range(steps):
        batch = batches[step % len(batches)]
        start = time.perf_counter()
        logits = task.head(task.backbone(batch["image"]))
        loss = F.binary_cross_entropy_with_logits(logits, batch["attributes"].float())
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        times.append(time.perf_counter() - start)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--backbone", default="anet")
    parser.add_argument("--height", type=int, default=64)
    parser.add_argument("--width", type=int, default=56)
    parser.add_argument("--attributes", type=int, default=40)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--steps", type=int, default=15)
    parser.add_argument("--rounds", type=int, default=3)
    add_host_memory_option(parser)
    args = parser.parse_args()
    apply_host_memory_option(args)
    size = (args.height, args.width)
    batches = make_batches(4, args.batch_size, args.attributes, size)
    step_overhead(
        lambda: build_task(args),
        lambda task: plain_step_times(task, batches, args.steps),
        lambda task: lightning_step_times(task, batches, args.steps),
        args.rounds,
        f"{args.backbone} {args.height}x{args.width} batch {args.batch_size}, "
        f"{args.attributes} attributes: AttributesTask",
    )


if __name__ == "__main__":
    main()
