"""VerificationTask training step under Lightning vs the same network in a plain PyTorch loop.

Both sides run DeepID2+ (4 supervised levels, identity heads, joint losses, SGD) on the same
precomputed tensors, interleaved over several rounds; the script prints the median step time of
each and their ratio. Target: ratio <= 1.05.

    python benchmarks/training_step_overhead.py [--backbone deepid2plus] [--rounds 3]
"""

from __future__ import annotations

import argparse
import statistics

import torch
from _harness import (
    add_host_memory_option,
    apply_host_memory_option,
    build_task,
    lightning_step_times,
    make_batches,
    median_after_warmup,
    plain_step_times,
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--backbone", default="deepid2plus")
    parser.add_argument("--steps", type=int, default=15)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=128)
    add_host_memory_option(parser)
    args = parser.parse_args()
    apply_host_memory_option(args)

    identities = args.batch_size // 4
    batches = make_batches(4, args.batch_size, identities, 4, (55, 47))
    ratios, task_medians, plain_medians = [], [], []
    for round_index in range(args.rounds):
        torch.manual_seed(round_index)
        plain = median_after_warmup(
            plain_step_times(build_task(args.backbone, identities), batches, args.steps, 0.01), 3
        )
        torch.manual_seed(round_index)
        task = median_after_warmup(
            lightning_step_times(build_task(args.backbone, identities), batches, args.steps), 3
        )
        ratios.append(task / plain)
        task_medians.append(task)
        plain_medians.append(plain)
        print(
            f"round {round_index}: lightning {task * 1e3:.1f} ms, "
            f"plain {plain * 1e3:.1f} ms, ratio {task / plain:.3f}"
        )
    ratio = statistics.median(ratios)
    print(
        f"{args.backbone} batch {args.batch_size}: VerificationTask step "
        f"{statistics.median(task_medians) * 1e3:.1f} ms / plain loop "
        f"{statistics.median(plain_medians) * 1e3:.1f} ms "
        f"= ratio {ratio:.3f} (target <= 1.05)"
    )


if __name__ == "__main__":
    main()
