"""The speed switches of a run, each against the default: memory format, precision, compile.

For DeepID2+ (``VerificationTask``, 55×47 faces) and AlexNet (``ClassificationTask``, 67×67)
the script times Lightning training steps on the same precomputed batches with

* the task's default (DeepID2+ runs channels-last by default, AlexNet contiguous),
* the other memory format (``--model.init_args.channels_last``),
* ``--trainer.precision bf16-mixed``,
* ``CompileModel`` (``--trainer.callbacks+=lightning_deepvision.callbacks.CompileModel``),

and prints each step's median (after warm-up) with its ratio to the default (> 1: faster).
The compiled run's first steps (tracing and code generation) are reported separately: they are
paid once per run. Target: none, the ratios are what a user needs to choose.

    python benchmarks/switches.py [--batch-size 64] [--steps 8] [--no-compile] [--tiny]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch
from _harness import (
    FixedBatches,
    StepTimer,
    add_host_memory_option,
    apply_host_memory_option,
    make_batches,
)
from classification_step_overhead import make_batches as make_class_batches
from lightning.pytorch import Callback

from lightning_deepvision.callbacks import CompileModel
from lightning_deepvision.tasks import BaseTask, ClassificationTask, VerificationTask
from lightning_deepvision.testing import quiet_trainer

WARMUP = 3


@dataclass
class Model:
    """One network of the comparison: how to build its task and its batches."""

    name: str
    build: Callable[[bool], BaseTask]
    batches: list[dict[str, torch.Tensor]]
    default_channels_last: bool


def models(batch_size: int, tiny: bool = False) -> list[Model]:
    """DeepID2+ and AlexNet as their recipes build them (their ``_tiny`` variants if ``tiny``)."""
    identities = batch_size // 4
    suffix = "_tiny" if tiny else ""
    return [
        Model(
            f"deepid2plus{suffix} 55x47",
            # A low rate: random batches at the recipe's 0.02 can diverge within the steps.
            lambda cl: VerificationTask(
                backbone=f"deepid2plus{suffix}",
                num_identities=identities,
                lr=1e-3,
                channels_last=cl,
            ),
            make_batches(4, batch_size, identities, 4, (55, 47)),
            True,
        ),
        Model(
            f"alexnet{suffix} 67x67",
            lambda cl: ClassificationTask(
                backbone=f"alexnet{suffix}",
                num_classes=10,
                input_size=(67, 67),
                backbone_kwargs={"init": "kaiming"},
                channels_last=cl,
            ),
            make_class_batches(4, batch_size, 10, 67),
            False,
        ),
    ]


def step_times(
    task: BaseTask,
    batches: list[dict[str, torch.Tensor]],
    steps: int,
    precision: str = "32-true",
    callbacks: tuple[Callback, ...] = (),
) -> list[float]:
    """Seconds per training step of ``task`` under a quiet CPU ``Trainer``."""
    timer = StepTimer()
    trainer = quiet_trainer(
        max_steps=steps,
        limit_val_batches=0,
        num_sanity_val_steps=0,
        precision=precision,
        callbacks=[*callbacks, timer],
    )
    loader = torch.utils.data.DataLoader(FixedBatches(batches, steps), batch_size=None)
    trainer.fit(task, train_dataloaders=loader)
    return timer.times


def compare(model: Model, steps: int, rounds: int, with_compile: bool) -> dict[str, float]:
    """Median step of each switch and its ratio default / switch; prints one line each."""
    other = "contiguous" if model.default_channels_last else "channels_last"
    runs: dict[str, Callable[[], list[float]]] = {
        "default": lambda: step_times(
            model.build(model.default_channels_last), model.batches, steps
        ),
        other: lambda: step_times(
            model.build(not model.default_channels_last), model.batches, steps
        ),
        "bf16-mixed": lambda: step_times(
            model.build(model.default_channels_last), model.batches, steps, "bf16-mixed"
        ),
    }
    medians: dict[str, list[float]] = {name: [] for name in runs}
    # One untimed fit first: the process's first fit pays one-time set-up (oneDNN primitives,
    # Lightning's first-use imports) in its steps, which would land on the default only.
    runs["default"]()
    # Rounds interleave the variants so that a load spike on the shared machine hits them all.
    for _ in range(rounds):
        for name, run in runs.items():
            torch.manual_seed(0)
            medians[name].append(statistics.median(run()[WARMUP:]))
    result = {name: statistics.median(values) for name, values in medians.items()}
    first_steps = 0.0
    if with_compile:
        torch.manual_seed(0)
        torch._dynamo.reset()
        start = time.perf_counter()
        times = step_times(
            model.build(model.default_channels_last),
            model.batches,
            steps + WARMUP,
            callbacks=(CompileModel(),),
        )
        first_steps = sum(times[:WARMUP])
        result["compile"] = statistics.median(times[2 * WARMUP :])
        print(f"  (compile run {time.perf_counter() - start:.1f} s in all)")
    ratios = {}
    for name, seconds in result.items():
        ratios[name] = result["default"] / seconds
        extra = f"; first {WARMUP} steps {first_steps:.1f} s" if name == "compile" else ""
        print(
            f"{model.name} {name:<13} {seconds * 1e3:8.1f} ms/step  "
            f"speed-up vs default {ratios[name]:.2f}{extra}",
            flush=True,
        )
    return ratios


def run(
    batch_size: int, steps: int, rounds: int, with_compile: bool, tiny: bool = False
) -> dict[str, float]:
    """Every switch for both networks; ``{"<model> <switch>": speed-up vs default}``."""
    out = {}
    for model in models(batch_size, tiny):
        for name, ratio in compare(model, steps, rounds, with_compile).items():
            if name != "default":
                out[f"{model.name} {name}"] = ratio
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--steps", type=int, default=8, help="steps per run, warm-up included")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--no-compile", action="store_true", help="skip the torch.compile run")
    parser.add_argument(
        "--tiny", action="store_true", help="the _tiny variants (8-24 maps): seconds, not minutes"
    )
    add_host_memory_option(parser)
    args = parser.parse_args()
    apply_host_memory_option(args)
    run(args.batch_size, args.steps, args.rounds, not args.no_compile, args.tiny)


if __name__ == "__main__":
    main()
