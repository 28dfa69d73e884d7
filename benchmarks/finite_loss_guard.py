"""Cost of the finite-loss guard: a task's training step with it vs the same step without it.

``BaseTask.on_before_backward`` checks ``torch.isfinite(loss)`` every step (one scalar copied to
the host) so that a NaN/inf loss stops training before its backward pass. Both sides run the
classification recipe's network (AlexNet at 67x67) under the same Lightning ``Trainer`` on the
same precomputed tensors, interleaved over several rounds; the side "without" overrides the
hook with Lightning's no-op. The script prints the median step time of each and their ratio.
Target: ratio <= 1.05, the standing step-overhead target (the guard adds one scalar copy per
step).

    python benchmarks/finite_loss_guard.py [--backbone alexnet] [--input-size 67]
"""

from __future__ import annotations

import argparse

import torch
from _harness import lightning_step_times, machine_header, step_overhead
from classification_step_overhead import build_task, make_batches

from lightning_deepvision.tasks import ClassificationTask


class UnguardedClassificationTask(ClassificationTask):
    """The same task with Lightning's own (empty) ``on_before_backward``."""

    def on_before_backward(self, loss: torch.Tensor) -> None:
        """Do nothing, as ``LightningModule.on_before_backward`` does."""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--backbone", default="alexnet")
    parser.add_argument("--input-size", type=int, default=67)
    parser.add_argument("--classes", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--steps", type=int, default=15)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    print(machine_header(), flush=True)
    batches = make_batches(4, args.batch_size, args.classes, args.input_size)

    def unguarded_times(task: ClassificationTask) -> list[float]:
        unguarded = UnguardedClassificationTask(**task.hparams)
        unguarded.load_state_dict(task.state_dict())
        return lightning_step_times(unguarded, batches, args.steps)

    step_overhead(
        lambda: build_task(args),
        unguarded_times,
        lambda task: lightning_step_times(task, batches, args.steps),
        args.rounds,
        f"{args.backbone} {args.input_size}x{args.input_size} batch {args.batch_size}: "
        "ClassificationTask with the finite-loss guard (vs without; 'plain loop' below)",
    )


if __name__ == "__main__":
    main()
