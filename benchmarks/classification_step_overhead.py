"""ClassificationTask training step under Lightning vs the same network in a plain PyTorch loop.

Both sides run the classification recipe's network (AlexNet at 67×67 by default: backbone,
classifier, cross-entropy, SGD with momentum and weight decay) on the same precomputed tensors,
interleaved over several rounds; the script prints the median step time of each and their
ratio. The Lightning side also computes and logs the top-1 / top-5 training accuracies and
steps the learning-rate schedule, as the recipe does. Target: ratio <= 1.05.

    python benchmarks/classification_step_overhead.py [--backbone alexnet] [--input-size 67]
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

from lightning_deepvision.tasks import ClassificationTask


def make_batches(
    count: int, batch_size: int, classes: int, size: int
) -> list[dict[str, torch.Tensor]]:
    """Random images and labels, ``count`` batches."""
    generator = torch.Generator().manual_seed(0)
    return [
        {
            "image": torch.randn(batch_size, 3, size, size, generator=generator),
            "label": torch.randint(0, classes, (batch_size,), generator=generator),
        }
        for _ in range(count)
    ]


def build_task(args: argparse.Namespace) -> ClassificationTask:
    """The recipe's task with a fixed class count."""
    return ClassificationTask(
        backbone=args.backbone,
        num_classes=args.classes,
        input_size=(args.input_size, args.input_size),
        backbone_kwargs={"init": "kaiming"} if args.backbone.startswith("alexnet") else None,
    )


def plain_step_times(
    task: ClassificationTask, batches: list[dict[str, torch.Tensor]], steps: int
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
        loss = F.cross_entropy(logits, batch["label"])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        times.append(time.perf_counter() - start)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--backbone", default="alexnet")
    parser.add_argument("--input-size", type=int, default=67)
    parser.add_argument("--classes", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--steps", type=int, default=15)
    parser.add_argument("--rounds", type=int, default=3)
    add_host_memory_option(parser)
    args = parser.parse_args()
    apply_host_memory_option(args)
    batches = make_batches(4, args.batch_size, args.classes, args.input_size)
    step_overhead(
        lambda: build_task(args),
        lambda task: plain_step_times(task, batches, args.steps),
        lambda task: lightning_step_times(task, batches, args.steps),
        args.rounds,
        f"{args.backbone} {args.input_size}x{args.input_size} batch {args.batch_size}: "
        "ClassificationTask",
    )


if __name__ == "__main__":
    main()
