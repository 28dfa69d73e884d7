"""ParsingTask training step under Lightning vs the same network in a plain PyTorch loop.

Both sides run the face-parsing recipe's network (the cross-modality parsing net at 64×56 with
its 1×1 classifier, per-pixel cross-entropy, Adam with weight decay) on the same precomputed
batches of images and label maps, interleaved over several rounds; the script prints the
median step time of each and their ratio. The Lightning side also accumulates its training
confusion matrix and the per-pixel label histogram of the majority baseline, logs the loss and
steps the cosine schedule, as the recipe does. Target: ratio <= 1.05.

    python benchmarks/parsing_step_overhead.py [--backbone cross_modality_parsing] [--steps 12]
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

from lightning_deepvision.datasets.synthetic import SyntheticFaces
from lightning_deepvision.tasks import ParsingTask
from lightning_deepvision.transforms.parsing import parsing_transforms


def make_batches(
    count: int, batch_size: int, size: tuple[int, int]
) -> list[dict[str, torch.Tensor]]:
    """``count`` batches of rendered faces and their label maps, as the recipe feeds them."""
    faces = SyntheticFaces(
        "train", count * batch_size, 1, size, transforms=parsing_transforms(size)
    )
    batches = []
    for b in range(count):
        samples = [faces[b * batch_size + i] for i in range(batch_size)]
        batches.append(
            {
                "image": torch.stack([s["image"].as_subclass(torch.Tensor) for s in samples]),
                "mask": torch.stack([s["mask"].as_subclass(torch.Tensor) for s in samples]),
            }
        )
    return batches


def build_task(args: argparse.Namespace) -> ParsingTask:
    """The recipe's task with the class count fixed."""
    return ParsingTask(backbone=args.backbone, num_classes=11, lr=3e-3)


def plain_step_times(
    task: ParsingTask, batches: list[dict[str, torch.Tensor]], steps: int
) -> list[float]:
    """Seconds per step of the same network, classifier and loss in a hand-written loop."""
    hp = task.hparams
    optimizer = torch.optim.Adam(  # fused, as BaseTask on CPU
        task.parameters(), lr=hp.lr, weight_decay=hp.weight_decay, fused=True
    )
    task.train()
    times = []
    for step in range(steps):
        batch = batches[step % len(batches)]
        start = time.perf_counter()
        logits = task.head(task.backbone(batch["image"]))
        loss = F.cross_entropy(logits, batch["mask"])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        times.append(time.perf_counter() - start)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--backbone", default="cross_modality_parsing")
    parser.add_argument("--size", type=int, nargs=2, default=(64, 56))
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--steps", type=int, default=12)
    parser.add_argument("--rounds", type=int, default=3)
    add_host_memory_option(parser)
    args = parser.parse_args()
    apply_host_memory_option(args)
    batches = make_batches(4, args.batch_size, tuple(args.size))
    step_overhead(
        lambda: build_task(args),
        lambda task: plain_step_times(task, batches, args.steps),
        lambda task: lightning_step_times(task, batches, args.steps),
        args.rounds,
        f"{args.backbone} {args.size[0]}x{args.size[1]} batch {args.batch_size}: ParsingTask",
    )


if __name__ == "__main__":
    main()
