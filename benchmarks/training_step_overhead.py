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
    STEP_LR,
    build_task,
    lightning_step_times,
    median_after_warmup,
    parse_step_benchmark_args,
    plain_step_times,
)


def main() -> None:
    def options(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--backbone", default="deepid2plus")
        parser.add_argument("--rounds", type=int, default=3)

    args, batches = parse_step_benchmark_args(__doc__, options)
    identities = args.identities
    ratios, task_medians, plain_medians = [], [], []
    for round_index in range(args.rounds):
        torch.manual_seed(round_index)
        plain = median_after_warmup(
            plain_step_times(build_task(args.backbone, identities), batches, args.steps, STEP_LR), 3
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
