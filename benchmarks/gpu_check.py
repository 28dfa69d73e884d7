"""GPU check: DeepID2+ and AlexNet training throughput under each precision and strategy.

On a machine with CUDA, trains DeepID2+ (``VerificationTask``, 55×47, batch 512) and AlexNet
(``ClassificationTask``, the paper's 227×227, batch 128) for a few steps under each of

* fp32 on one device (the baseline), TF32 matmuls, bf16-mixed,
* the other memory format (``channels_last``), ``CompileModel`` (fp32 and bf16-mixed),
* DDP (every visible GPU through ``ddp_spawn``; one-process DDP on a single GPU), fp32 and bf16,
* FSDP on one device (Lightning's FSDP launches its processes by re-running the script, so a
  script of many sub-checks runs it in-process), fp32 and bf16,

and prints images per second (all processes together) with the ratio to the fp32 baseline.
Batches live on the device (no host-to-device copy in the timed steps) and the first steps
(cuDNN autotuning, compilation) are excluded and reported as warm-up seconds. Every sub-check
runs in its own ``try``: a failure prints its error and the check goes on. The whole check
stops starting sub-checks after ``--budget-s`` seconds (default 200: under 4 minutes on one
H200). Nothing is downloaded. Without CUDA it prints that it is skipped and exits with 0
(``--allow-cpu`` runs the same sub-checks on the CPU with the tiny variants, to try the script).

    python benchmarks/gpu_check.py [--steps 20] [--budget-s 200] [--csv results.csv]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from _harness import machine_header
from lightning.pytorch import Callback, LightningModule, Trainer
from torch.utils.data import DataLoader, Dataset

from lightning_deepvision.callbacks import CompileModel
from lightning_deepvision.tasks import BaseTask, ClassificationTask, VerificationTask


class DeviceBatches(Dataset):
    """The same few batches, moved once to the current CUDA device on first use.

    Made on the host so that ``ddp_spawn`` can pickle them to its processes; each process moves
    them to its own device (Lightning has set it by the first batch).
    """

    def __init__(self, batches: list[dict[str, torch.Tensor]], length: int, cuda: bool) -> None:
        self.batches = batches
        self.length = length
        self.cuda = cuda
        self._moved: list[dict[str, torch.Tensor]] | None = None

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        if self._moved is None:
            device = torch.device("cuda", torch.cuda.current_device()) if self.cuda else "cpu"
            self._moved = [{k: v.to(device) for k, v in b.items()} for b in self.batches]
        return self._moved[index % len(self._moved)]


class Throughput(Callback):
    """Seconds of the first ``warmup`` steps and of the steps after, device-synchronised.

    Rank zero writes ``{"warmup_s", "timed_s", "steps"}`` to ``path`` when training ends.
    """

    def __init__(self, warmup: int, path: str) -> None:
        self.warmup = warmup
        self.path = path
        self.marks: list[float] = []

    def _sync(self, pl_module: LightningModule) -> None:
        if pl_module.device.type == "cuda":
            torch.cuda.synchronize(pl_module.device)

    def on_train_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        """Mark the start of the warm-up."""
        self._sync(pl_module)
        self.marks = [time.perf_counter()]

    def on_train_batch_start(
        self, trainer: Trainer, pl_module: LightningModule, batch: Any, batch_idx: int
    ) -> None:
        """Mark the end of the warm-up."""
        if batch_idx == self.warmup:
            self._sync(pl_module)
            self.marks.append(time.perf_counter())

    def on_train_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        """Write the seconds (rank zero)."""
        self._sync(pl_module)
        self.marks.append(time.perf_counter())
        if trainer.is_global_zero and len(self.marks) == 3:
            start, warm, end = self.marks
            steps = trainer.global_step - self.warmup
            record = {"warmup_s": warm - start, "timed_s": end - warm, "steps": steps}
            Path(self.path).write_text(json.dumps(record))


@dataclass
class Case:
    """One sub-check: a network under one precision / strategy / memory format / compile."""

    model: str
    name: str
    precision: str = "32-true"
    strategy: str = "auto"
    devices: int = 1
    channels_last: bool | None = None  # None: the task's default
    compile: bool = False
    tf32: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


def build(model: str, channels_last: bool | None, tiny: bool, batch_size: int) -> BaseTask:
    """The recipe's task for ``model`` (``deepid2plus`` or ``alexnet``)."""
    suffix = "_tiny" if tiny else ""
    memory = {} if channels_last is None else {"channels_last": channels_last}
    if model == "deepid2plus":
        return VerificationTask(
            backbone=f"deepid2plus{suffix}", num_identities=batch_size // 4, lr=1e-3, **memory
        )
    size = 67 if tiny else 227
    return ClassificationTask(
        backbone=f"alexnet{suffix}",
        num_classes=1000,
        input_size=(size, size),
        backbone_kwargs={"init": "kaiming"},
        lr=1e-3,
        **memory,
    )


def batches_for(model: str, batch_size: int, tiny: bool) -> list[dict[str, torch.Tensor]]:
    """Two random batches of the model's input size."""
    generator = torch.Generator().manual_seed(0)
    if model == "deepid2plus":
        labels = torch.arange(batch_size // 4).repeat_interleave(4)
        shape: tuple[int, ...] = (batch_size, 3, 55, 47)
    else:
        size = 67 if tiny else 227
        labels = torch.randint(0, 1000, (batch_size,), generator=generator)
        shape = (batch_size, 3, size, size)
    return [
        {"image": torch.randn(*shape, generator=generator), "label": labels.clone()}
        for _ in range(2)
    ]


def run_case(case: Case, args: argparse.Namespace) -> dict[str, float]:
    """Fit ``case`` for ``warmup + steps`` steps; images per second over all processes."""
    from lightning.pytorch.strategies import DDPStrategy, FSDPStrategy

    batch_size = args.batch_sizes[case.model]
    torch.manual_seed(0)
    torch._dynamo.reset()
    torch.backends.cuda.matmul.allow_tf32 = case.tf32
    torch.backends.cudnn.allow_tf32 = case.tf32
    task = build(case.model, case.channels_last, args.tiny, batch_size)
    strategy: Any = case.strategy
    if case.strategy == "ddp":
        strategy = DDPStrategy(find_unused_parameters=False, gradient_as_bucket_view=True)
    elif case.strategy == "ddp_spawn":
        strategy = DDPStrategy(
            start_method="spawn", find_unused_parameters=False, gradient_as_bucket_view=True
        )
    elif case.strategy == "fsdp":
        strategy = FSDPStrategy(sharding_strategy="FULL_SHARD")
    steps = args.warmup + args.steps
    with tempfile.TemporaryDirectory() as directory:
        path = os.path.join(directory, "throughput.json")
        callbacks: list[Callback] = [Throughput(args.warmup, path)]
        if case.compile:
            callbacks.insert(0, CompileModel())
        trainer = Trainer(
            accelerator="cpu" if args.cpu else "gpu",
            devices=case.devices,
            strategy=strategy,
            precision=case.precision,  # type: ignore[arg-type]
            max_steps=steps,
            limit_val_batches=0,
            num_sanity_val_steps=0,
            logger=False,
            enable_checkpointing=False,
            enable_progress_bar=False,
            enable_model_summary=False,
            callbacks=callbacks,
            default_root_dir=directory,
        )
        data = DeviceBatches(
            batches_for(case.model, batch_size, args.tiny), steps * case.devices, not args.cpu
        )
        trainer.fit(task, train_dataloaders=DataLoader(data, batch_size=None))
        record = json.loads(Path(path).read_text())
    images = record["steps"] * batch_size * case.devices
    return {"img_s": images / record["timed_s"], "warmup_s": record["warmup_s"]}


def cases(devices: int) -> list[Case]:
    """Every sub-check, the fp32 baseline of each model first."""
    ddp = ("ddp_spawn", devices) if devices > 1 else ("ddp", 1)
    out = []
    for model in ("deepid2plus", "alexnet"):
        other = model == "alexnet"  # DeepID2+ defaults to channels-last, AlexNet does not
        out += [
            Case(model, "fp32"),
            Case(model, "tf32", tf32=True),
            Case(model, "bf16-mixed", precision="bf16-mixed"),
            Case(model, "channels_last" if other else "contiguous", channels_last=other),
            Case(model, "compile", compile=True),
            Case(model, "compile bf16-mixed", precision="bf16-mixed", compile=True),
            Case(model, f"DDP x{ddp[1]}", strategy=ddp[0], devices=ddp[1]),
            Case(
                model,
                f"DDP x{ddp[1]} bf16-mixed",
                precision="bf16-mixed",
                strategy=ddp[0],
                devices=ddp[1],
            ),
            Case(model, "FSDP x1", strategy="fsdp"),
            Case(model, "FSDP x1 bf16-mixed", precision="bf16-mixed", strategy="fsdp"),
        ]
    return out


def report(rows: list[dict[str, Any]]) -> None:
    """Print the table of every sub-check."""
    print(f"\n{'model':<12} {'sub-check':<22} {'img/s':>10} {'x fp32':>7} {'warm-up s':>9}  note")
    for row in rows:
        rate = f"{row['img_s']:10.1f}" if row.get("img_s") else f"{'-':>10}"
        ratio = f"{row['ratio']:7.2f}" if row.get("ratio") else f"{'-':>7}"
        warm = f"{row['warmup_s']:9.1f}" if row.get("warmup_s") is not None else f"{'-':>9}"
        print(f"{row['model']:<12} {row['name']:<22} {rate} {ratio} {warm}  {row['note']}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", type=int, default=20, help="timed steps per sub-check")
    parser.add_argument("--warmup", type=int, default=5, help="untimed steps first")
    parser.add_argument("--budget-s", type=float, default=200.0)
    parser.add_argument("--deepid2plus-batch", type=int, default=512)
    parser.add_argument("--alexnet-batch", type=int, default=128)
    parser.add_argument("--only", default="", help="run the sub-checks whose name has this")
    parser.add_argument("--csv", type=Path, help="also write the table to this CSV file")
    parser.add_argument("--allow-cpu", action="store_true", help="without CUDA, try on CPU")
    args = parser.parse_args(argv)
    args.batch_sizes = {"deepid2plus": args.deepid2plus_batch, "alexnet": args.alexnet_batch}
    print(machine_header())
    args.cpu = not torch.cuda.is_available()
    if args.cpu and not args.allow_cpu:
        print("GPU check skipped: no CUDA device (torch.cuda.is_available() is False).")
        return 0
    args.tiny = args.cpu
    devices = 2 if args.cpu else torch.cuda.device_count()
    if not args.cpu:
        names = {torch.cuda.get_device_name(i) for i in range(devices)}
        print(f"CUDA {torch.version.cuda}, {devices} x {', '.join(sorted(names))}")
    start = time.perf_counter()
    rows: list[dict[str, Any]] = []
    baseline: dict[str, float] = {}
    for case in cases(devices):
        if args.only and args.only not in case.name:
            continue
        row: dict[str, Any] = {"model": case.model, "name": case.name, "note": ""}
        rows.append(row)
        if time.perf_counter() - start > args.budget_s:
            row["note"] = f"skipped: past --budget-s {args.budget_s:.0f}"
            continue
        try:
            row.update(run_case(case, args))
        except Exception as error:  # a failed sub-check must not stop the rest
            row["note"] = f"failed: {type(error).__name__}: {str(error).splitlines()[0][:120]}"
            traceback.print_exc()
            continue
        if case.name == "fp32":
            baseline[case.model] = row["img_s"]
        if case.model in baseline:
            row["ratio"] = row["img_s"] / baseline[case.model]
        print(f"{case.model} {case.name}: {row['img_s']:.1f} img/s", flush=True)
    report(rows)
    print(f"\ntotal {time.perf_counter() - start:.0f} s")
    if args.csv is not None:
        with args.csv.open("w", newline="") as handle:
            writer = csv.DictWriter(handle, ["model", "name", "img_s", "ratio", "warmup_s", "note"])
            writer.writeheader()
            writer.writerows(rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
