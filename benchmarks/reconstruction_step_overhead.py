"""ReconstructionTask training step under Lightning vs the same network in a plain PyTorch loop.

Both sides run a recipe's network (FIP of ``fip_multipie`` or MVP of ``mvp_multipie``, 32×32
grey; Adam; the reconstruction loss, and MVP's view cross-entropy) on the same precomputed
batches, interleaved over several rounds; the script prints the median step time of each and
their ratio. Target: ratio <= 1.05.

    python benchmarks/reconstruction_step_overhead.py [--backbone fip|mvp] [--batch-size 64]
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

from lightning_deepvision.tasks import ReconstructionTask

# The recipes' network sizes (recipes/configs/{fip,mvp}_multipie.yaml).
RECIPE_KWARGS = {
    "fip": {"channels": (16, 16, 16), "kernel_sizes": (5, 3, 3)},
    "mvp": {"hidden": 1024, "identity_dim": 1024, "view_dim": 64},
}


def make_batches(count: int, batch_size: int, size: int) -> list[dict[str, torch.Tensor]]:
    """Random grey images and targets with Multi-PIE poses."""
    generator = torch.Generator().manual_seed(0)
    poses = torch.tensor([-45.0, -30.0, -15.0, 0.0, 15.0, 30.0, 45.0])
    return [
        {
            "image": torch.rand(batch_size, 1, size, size, generator=generator),
            "target": torch.rand(batch_size, 1, size, size, generator=generator),
            "yaw": poses[torch.randint(0, 7, (batch_size,), generator=generator)],
            "target_yaw": poses[torch.randint(0, 7, (batch_size,), generator=generator)],
            "identity": torch.randint(0, 100, (batch_size,), generator=generator),
        }
        for _ in range(count)
    ]


def build_task(args: argparse.Namespace) -> ReconstructionTask:
    """The recipe's task."""
    return ReconstructionTask(
        backbone=args.backbone,
        input_size=(args.input_size, args.input_size),
        backbone_kwargs=dict(RECIPE_KWARGS[args.backbone]),
    )


def plain_step_times(
    task: ReconstructionTask, batches: list[dict[str, torch.Tensor]], steps: int
) -> list[float]:
    """Seconds per step of the same network, losses and optimiser in a hand-written loop."""
    hp = task.hparams
    optimizer = torch.optim.Adam(  # fused, as BaseTask on CPU
        task.parameters(), lr=hp.lr, weight_decay=hp.weight_decay, fused=True
    )
    network = task.backbone
    views = int(getattr(network, "num_views", 0))
    network.train()
    times = []
    for step in range(steps):
        batch = batches[step % len(batches)]
        start = time.perf_counter()
        view = network.view_index(batch["target_yaw"]) if views else None
        out = network.forward_all(batch["image"], view)
        loss = F.mse_loss(out["reconstruction"], batch["target"])
        if views:
            view_loss = F.cross_entropy(out["view_logits"], network.view_index(batch["yaw"]))
            loss = loss + hp.view_loss_weight * view_loss
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        times.append(time.perf_counter() - start)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--backbone", choices=sorted(RECIPE_KWARGS), default="fip")
    parser.add_argument("--input-size", type=int, default=32)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--steps", type=int, default=15)
    parser.add_argument("--rounds", type=int, default=3)
    add_host_memory_option(parser)
    args = parser.parse_args()
    apply_host_memory_option(args)
    batches = make_batches(4, args.batch_size, args.input_size)
    step_overhead(
        lambda: build_task(args),
        lambda task: plain_step_times(task, batches, args.steps),
        lambda task: lightning_step_times(task, batches, args.steps),
        args.rounds,
        f"{args.backbone} {args.input_size}x{args.input_size} batch {args.batch_size}: "
        "ReconstructionTask",
    )


if __name__ == "__main__":
    main()
