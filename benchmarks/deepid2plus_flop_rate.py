"""DeepID2+ training FLOP rate as a fraction of this machine's fp32 matrix-multiply rate.

FLOPs of one training step are the forward FLOPs counted with
``torch.utils.flop_counter.FlopCounterMode`` times 3 (backward = gradients w.r.t. inputs and
weights, each as costly as the forward; the counter's own backward count overstates grouped
convolutions by the number of groups); the step is timed inside a Lightning ``Trainer``
running ``VerificationTask``; the matmul rate is measured in the same run. Target: >= 0.6.

    python benchmarks/deepid2plus_flop_rate.py [--batch-size 128]
"""

from __future__ import annotations

import torch
from _harness import (
    build_task,
    lightning_step_times,
    matmul_flops_per_second,
    median_after_warmup,
    parse_step_benchmark_args,
)
from torch.utils.flop_counter import FlopCounterMode


def step_flops(batch: dict[str, torch.Tensor], identities: int) -> int:
    """FLOPs of one forward+backward of the task's training loss (3 × forward)."""
    model = build_task("deepid2plus", identities)
    model.train()
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model.training_step(batch, 0)
    return 3 * int(counter.get_total_flops())


def main() -> None:
    args, batches = parse_step_benchmark_args(__doc__)
    identities = args.identities
    flops = step_flops(batches[0], identities)
    matmul_before = matmul_flops_per_second()
    seconds = median_after_warmup(
        lightning_step_times(build_task("deepid2plus", identities), batches, args.steps), 3
    )
    matmul_after = matmul_flops_per_second()
    matmul = max(matmul_before, matmul_after)
    rate = flops / seconds
    print(f"threads: {torch.get_num_threads()}")
    print(
        f"DeepID2+ step: {flops / 1e9:.2f} GFLOP in {seconds * 1e3:.1f} ms "
        f"= {rate / 1e9:.1f} GFLOP/s"
    )
    print(f"fp32 matmul (2048^2): {matmul / 1e9:.1f} GFLOP/s")
    print(f"ratio {rate / matmul:.3f} (target >= 0.6)")


if __name__ == "__main__":
    main()
