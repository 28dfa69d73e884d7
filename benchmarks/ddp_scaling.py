"""Training throughput under CPU DDP (gloo): 2 processes against 1.

The DeepID2+ training step (``VerificationTask``, tiny variant by default so that the run takes
seconds) is timed under Lightning's ``ddp_spawn`` strategy on the CPU with 1 and with N
processes, each process on one intra-op thread with the same per-process batch (weak scaling,
as ``recipes/configs/scale/ddp.yaml`` trains: N processes see N batches a step). Throughput is
images per second over all processes; the ratio N / 1 is N when the gradient all-reduce is
free and the machine has a free core per process. Target: >= 0.8 N on an otherwise idle
machine with at least N cores (a shared machine's load lowers it).

    python benchmarks/ddp_scaling.py [--processes 2] [--backbone deepid2plus_tiny]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
from pathlib import Path
from typing import Any

import torch
from _harness import FixedBatches, StepTimer, build_task, machine_header, make_batches
from lightning.pytorch import LightningModule, Trainer

from lightning_deepvision.testing import quiet_trainer

WARMUP = 3


class SaveStepTimes(StepTimer):
    """Step times of each process, written to ``<directory>/rank<N>.json`` when training ends."""

    def __init__(self, directory: str) -> None:
        super().__init__()
        self.directory = directory

    def setup(self, trainer: Trainer, pl_module: LightningModule, stage: str) -> None:
        """Run this process on one intra-op thread."""
        # One thread per process: N processes share the cores instead of oversubscribing them.
        torch.set_num_threads(1)

    def on_train_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        """Write this process's step times for the parent process to read."""
        path = Path(self.directory) / f"rank{trainer.global_rank}.json"
        path.write_text(json.dumps(self.times))


def throughput(
    processes: int, backbone: str, batch_size: int, steps: int, lr: float = 1e-3
) -> float:
    """Images per second over all ``processes`` (median step after warm-up, slowest rank)."""
    identities = batch_size // 4
    batches = make_batches(4, batch_size, identities, 4, (55, 47))
    with tempfile.TemporaryDirectory() as directory:
        trainer = quiet_trainer(
            max_steps=steps,
            limit_val_batches=0,
            num_sanity_val_steps=0,
            strategy="ddp_spawn",
            devices=processes,
            callbacks=[SaveStepTimes(directory)],
        )
        task = build_task(backbone, identities)
        task.hparams.lr = lr
        loader: Any = torch.utils.data.DataLoader(
            FixedBatches(batches, steps * processes), batch_size=None
        )
        trainer.fit(task, train_dataloaders=loader)
        per_rank = [
            statistics.median(json.loads(p.read_text())[WARMUP:])
            for p in sorted(Path(directory).glob("rank*.json"))
        ]
    if len(per_rank) != processes:
        raise RuntimeError(f"expected step times of {processes} processes, got {len(per_rank)}")
    return processes * batch_size / max(per_rank)


def run(
    processes: int = 2,
    backbone: str = "deepid2plus_tiny",
    batch_size: int = 32,
    steps: int = 12,
    rounds: int = 2,
) -> float:
    """Print both throughputs and return the ratio N processes / 1.

    The 1- and N-process fits alternate over ``rounds`` and each side keeps its best round, so
    that a load spike on a shared machine does not land on one side only.
    """
    single, multi = 0.0, 0.0
    for _ in range(rounds):
        single = max(single, throughput(1, backbone, batch_size, steps))
        multi = max(multi, throughput(processes, backbone, batch_size, steps))
    ratio = multi / single
    print(f"{backbone} batch {batch_size}/process, gloo DDP, 1 thread/process, best of {rounds}")
    print(f"1 process:   {single:8.1f} img/s")
    print(f"{processes} processes: {multi:8.1f} img/s")
    print(
        f"ratio {processes} processes / 1 = {ratio:.2f} "
        f"(ideal {processes}, target >= {0.8 * processes:.1f})"
    )
    return ratio


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--backbone", default="deepid2plus_tiny")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--steps", type=int, default=12, help="steps per process, warm-up included")
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    print(machine_header())
    run(args.processes, args.backbone, args.batch_size, args.steps, args.rounds)


if __name__ == "__main__":
    main()
