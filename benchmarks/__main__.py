"""Run every benchmark and print one table of their ratios: ``python -m benchmarks``.

Each script in ``benchmarks/`` runs in its own process (as a user runs it) with a small sizing
(``--quick``, the default; ``--full`` gives each its own defaults), and the ratios it prints are
read from its output by the patterns in :data:`SPECS`. The table lists, for each ratio, what is
compared, the ratio, its target, pass/fail and the script's seconds; its header names the CPU
model and vector ISA, torch and the threads, and the load average before and after (ratios are
measured within one run, so load hits both sides; absolute seconds are not comparable across
machines). A script that appears in ``benchmarks/`` without a spec is run with no arguments and
its last line with ``ratio`` is read, with the target its docstring states (``Target: ratio <=
1.05``).

    python -m benchmarks [--full] [--only NAME[,NAME]] [--markdown table.md] [--timeout 600]
"""

from __future__ import annotations

import argparse
import ast
import operator
import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from _harness import machine_header  # noqa: E402

NUMBER = r"([0-9][0-9,]*(?:\.[0-9]+)?)"
OPS: dict[str, Callable[[float, float], bool]] = {
    "<=": operator.le,
    ">=": operator.ge,
    "<": operator.lt,
    ">": operator.gt,
}


@dataclass
class Ratio:
    """One ratio a script prints: what it compares, the pattern of its value, its target."""

    compared: str
    pattern: str  # a regular expression whose first group is the value
    target: str | None = None  # "<= 1.05", ">= 0.6"; None: reported without a target
    optional: bool = False  # a line some runs do not print (a switch that is the default)


@dataclass
class Spec:
    """How to run one benchmark script quickly and which ratios to read from its output."""

    quick: list[str]
    ratios: list[Ratio]
    full: list[str] = field(default_factory=list)
    skip: str | None = None  # why the table leaves it out (unless named with --only)


def step(compared: str) -> Ratio:
    """The summary line of ``_harness.step_overhead`` and the step benchmarks like it."""
    return Ratio(compared, rf"plain loop [0-9.]+ ms.*?= ratio {NUMBER}", "<= 1.05")


SMALL_STEPS = ["--steps", "15", "--rounds", "3"]
SPECS: dict[str, Spec] = {
    "training_step_overhead": Spec(
        [*SMALL_STEPS, "--batch-size", "32"], [step("VerificationTask (DeepID2+) / plain loop")]
    ),
    "classification_step_overhead": Spec(
        [*SMALL_STEPS, "--batch-size", "32"], [step("ClassificationTask (AlexNet) / plain loop")]
    ),
    "attributes_step_overhead": Spec(
        [*SMALL_STEPS, "--batch-size", "32"], [step("AttributesTask (ANet) / plain loop")]
    ),
    "detection_step_overhead": Spec(
        [*SMALL_STEPS, "--batch-size", "16"], [step("DetectionTask (UDN) / plain loop")]
    ),
    "parsing_step_overhead": Spec(
        [*SMALL_STEPS, "--batch-size", "16"], [step("ParsingTask / plain loop")]
    ),
    "reconstruction_step_overhead": Spec(
        [*SMALL_STEPS, "--batch-size", "32"], [step("ReconstructionTask (FIP) / plain loop")]
    ),
    "finite_loss_guard": Spec(
        [*SMALL_STEPS, "--batch-size", "32"], [step("AlexNet step with / without loss guard")]
    ),
    "rbm_pretraining": Spec(
        ["--batches", "20", "--rounds", "2"],
        [Ratio("LayerwisePretraining RBM epoch / plain loop", rf"= ratio {NUMBER}", "<= 1.05")],
    ),
    "deepid2plus_flop_rate": Spec(
        ["--batch-size", "64", "--steps", "6"],
        [Ratio("DeepID2+ step FLOP rate / fp32 GEMM rate", rf"^ratio {NUMBER}", ">= 0.6")],
    ),
    "data_pipeline": Spec(
        ["--steps", "4", "--warmup", "1", "--rounds", "1"],
        [
            Ratio(
                "DeepID2+ step end-to-end / precomputed batches",
                rf"worst ratio {NUMBER}",
                "<= 1.05",
            )
        ],
    ),
    "input_pipeline": Spec(
        ["--images", "64", "--rounds", "1", "--batch-size", "16"],
        [
            Ratio("decode+transforms ours / ImageFolder+PIL", rf"^\(b\).*ratio {NUMBER}", ">= 1.5"),
            Ratio("DataLoader ours / ImageFolder+PIL", rf"^\(c\).*ratio {NUMBER}", ">= 1.5"),
        ],
    ),
    "imagenet_index": Spec(
        ["--classes", "10", "--per-class", "500", "--repeats", "1"],
        [
            # Each section prints the same lines: anchor each ratio to its section's title.
            Ratio(
                "train/<wnid>/ index speed / 100,000 files/s",
                r"^train/<wnid>/.*\n.*\n.*target >= 100,000 files/s: " + NUMBER,
                ">= 1",
            ),
            Ratio(
                "train/<wnid>/ index speed / torchvision ImageFolder",
                r"^train/<wnid>/.*\n.*\n.*ImageNet / ImageFolder = " + NUMBER,
                ">= 1",
            ),
            Ratio(
                "train/<wnid>/ bytes per sample / 200",
                r"^train/<wnid>/(?:.*\n){4}.*target <= 200 B: " + NUMBER,
                "<= 1",
            ),
            Ratio(
                "Kaggle val + LOC_val_solution.csv index / ImageFolder listing (no labels)",
                r"^Kaggle.*\n.*\n.*ImageNet / ImageFolder = " + NUMBER,
            ),
        ],
    ),
    "celeba_annotations": Spec(
        ["--rows", "20000", "--rounds", "1"],
        [Ratio("CelebA annotations torchvision / ours", rf"torchvision / ours = {NUMBER}", ">= 2")],
    ),
    "caltech_seq_access": Spec(
        ["--frames", "100", "--accesses", "6"],
        [
            Ratio(
                ".seq random frame from start / indexed",
                rf"from start / indexed\): {NUMBER}x",
                "> 1",
            )
        ],
    ),
    "kfold_protocol": Spec(
        [], [Ratio("LFW 10-fold loop over thresholds / vectorised", rf"speed-up: {NUMBER}x", "> 1")]
    ),
    "miss_rate": Spec(
        ["--frames", "500"],
        [Ratio("miss rate per-detection loop / vectorised", rf"speed-up: {NUMBER}x", "> 1")],
    ),
    "neuron_properties": Spec(
        ["--images", "1000", "--repeats", "1"],
        [Ratio("validation with NeuronProperties / without", rf"^ratio: {NUMBER}", "<= 1.25")],
    ),
    "udn_sliding_window": Spec(
        ["--frame", "240", "320", "--batch-size", "128"],
        [Ratio("UDN cropped windows / one dense pass", rf"= ratio {NUMBER}", ">= 20")],
    ),
    "startup": Spec(
        ["--repeats", "2"],
        [
            Ratio(
                "deepvision --help / import lightning.pytorch",
                rf"lightning.pytorch = {NUMBER}",
                "<= 1.5",
            )
        ],
    ),
    "prediction_writer": Spec(
        ["--images", "512", "--rounds", "2"],
        [Ratio("predict with PredictionWriter / without", rf"= ratio {NUMBER}", "<= 1.05")],
    ),
    "streaming": Spec(
        ["--classes", "4", "--per-class", "16", "--rounds", "1"],
        [
            Ratio(
                "litdata stream / folder, main process", rf"^\(a\).*ratio stream/folder {NUMBER}"
            ),
            Ratio("litdata stream / folder, DataLoader", rf"^\(b\).*ratio stream/folder {NUMBER}"),
        ],
    ),
    "switches": Spec(
        ["--tiny", "--no-compile", "--batch-size", "32", "--steps", "10", "--rounds", "2"],
        [
            Ratio(
                f"{model} {switch} speed-up vs default",
                rf"^{model} +{switch} .*speed-up vs default {NUMBER}",
                optional=True,
            )
            for model in ("deepid2plus_tiny 55x47", "alexnet_tiny 67x67")
            for switch in ("contiguous", "channels_last", "bf16-mixed", "compile")
        ],
        full=["--batch-size", "64"],
    ),
    "ddp_scaling": Spec(
        ["--steps", "8"],
        [Ratio("DDP (gloo) throughput 2 processes / 1", rf"processes / 1 = {NUMBER}", ">= 1.6")],
    ),
    "gpu_check": Spec(
        [],
        [
            Ratio(
                "GPU bf16-mixed / fp32 (AlexNet)",
                rf"^alexnet +bf16-mixed +[0-9.]+ +{NUMBER}",
                "> 1",
            )
        ],
    ),
    "real_faces": Spec(
        [], [], skip="an accuracy study on ../shared/data over seeds (minutes), not a speed ratio"
    ),
}


@dataclass
class Row:
    """One line of the table."""

    name: str
    compared: str
    ratio: float | None
    target: str | None
    seconds: float
    note: str = ""

    @property
    def verdict(self) -> str:
        """``pass``, ``FAIL``, or ``-`` where there is no ratio or no target."""
        if self.ratio is None or self.target is None:
            return "-"
        op, goal = self.target.split()
        return "pass" if OPS[op](self.ratio, float(goal)) else "FAIL"


def docstring_target(script: Path) -> str | None:
    """``<= 1.05`` from a docstring's ``Target: ratio <= 1.05``."""
    doc = ast.get_docstring(ast.parse(script.read_text())) or ""
    match = re.search(r"[Tt]arget:? (?:ratio )?(<=|>=|<|>) ?([0-9.]+)", doc)
    return f"{match.group(1)} {match.group(2).rstrip('.')}" if match else None


def generic_spec(script: Path) -> Spec:
    """A benchmark without a spec: no arguments, its last ``ratio`` line."""
    return Spec(
        [],
        [
            Ratio(
                f"{script.stem} (last ratio printed)",
                rf"ratio[^0-9]*{NUMBER}",
                docstring_target(script),
            )
        ],
    )


def read_ratio(output: str, pattern: str) -> float | None:
    """The value of the last line matching ``pattern`` (multi-line anchors)."""
    matches = re.findall(pattern, output, flags=re.MULTILINE)
    if not matches:
        return None
    value = matches[-1][0] if isinstance(matches[-1], tuple) else matches[-1]
    return float(value.replace(",", ""))


def run_benchmark(name: str, spec: Spec, full: bool, timeout: float) -> list[Row]:
    """Run one script and read its ratios into rows."""
    args = spec.full if full else spec.quick
    command = [sys.executable, str(HERE / f"{name}.py"), *args]
    start = time.perf_counter()
    print(f"$ python benchmarks/{name}.py {' '.join(args)}", flush=True)
    try:
        # In a directory of its own: a script may leave files where it runs (a callback's
        # results beside a Trainer without a logger).
        with tempfile.TemporaryDirectory(prefix=f"benchmark_{name}_") as directory:
            result = subprocess.run(
                command, cwd=directory, capture_output=True, text=True, timeout=timeout
            )
        output, note = result.stdout + result.stderr, ""
        if result.returncode != 0:
            last = [line for line in result.stderr.splitlines() if line.strip()][-1:] or ["?"]
            note = f"exit {result.returncode}: {last[0][:100]}"
    except subprocess.TimeoutExpired as error:
        output = (
            (error.stdout or b"").decode()
            if isinstance(error.stdout, bytes)
            else (error.stdout or "")
        )
        note = f"timed out after {timeout:.0f} s"
    seconds = time.perf_counter() - start
    if "GPU check skipped" in output:
        note = "skipped: no CUDA device"
    rows = []
    for ratio in spec.ratios:
        value = read_ratio(output, ratio.pattern)
        if value is None and ratio.optional and not note:
            continue
        rows.append(
            Row(
                name,
                ratio.compared,
                value,
                ratio.target,
                seconds,
                note if value is None or note else "",
            )
        )
    if not rows:
        rows.append(Row(name, "-", None, None, seconds, note))
    for row in rows:
        shown = "-" if row.ratio is None else f"{row.ratio:.3g}"
        print(f"  {row.compared}: {shown} {row.verdict} {row.note}", flush=True)
    return rows


def table(rows: list[Row], header: list[str]) -> str:
    """The rows as one Markdown table under the header lines."""
    lines = [
        *header,
        "",
        "| benchmark | compared | ratio | target | pass | s |",
        "| --- | --- | ---: | --- | --- | ---: |",
    ]
    for row in rows:
        ratio = "-" if row.ratio is None else f"{row.ratio:.3g}"
        note = f" ({row.note})" if row.note else ""
        lines.append(
            f"| {row.name} | {row.compared}{note} | {ratio} | {row.target or '-'} | "
            f"{row.verdict} | {row.seconds:.0f} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true", default=True, help="small sizes (default)")
    size.add_argument("--full", action="store_true", help="each benchmark's own defaults")
    parser.add_argument("--only", default="", help="comma-separated benchmark names")
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds per benchmark")
    parser.add_argument("--markdown", type=Path, help="also write the table to this file")
    args = parser.parse_args(argv)
    only = {n.strip() for n in args.only.split(",") if n.strip()}
    scripts = sorted(p for p in HERE.glob("*.py") if not p.name.startswith("_"))
    unknown = only - {p.stem for p in scripts}
    if unknown:
        parser.error(f"no benchmark named {', '.join(sorted(unknown))} in {HERE}")
    before = machine_header()
    print(before, flush=True)
    start = time.perf_counter()
    rows: list[Row] = []
    for script in scripts:
        spec = SPECS.get(script.stem) or generic_spec(script)
        if only and script.stem not in only:
            continue
        if spec.skip and not only:
            rows.append(Row(script.stem, "-", None, None, 0.0, f"not run: {spec.skip}"))
            continue
        rows.extend(run_benchmark(script.stem, spec, args.full, args.timeout))
    load = "/".join(f"{x:.2f}" for x in os.getloadavg())
    header = [
        f"`python -m benchmarks{' --full' if args.full else ''}`: {len(rows)} ratios in "
        f"{time.perf_counter() - start:.0f} s",
        "",
        before.replace("machine:", "Before:", 1),
        "",
        f"Load average after: {load}",
    ]
    text = table(rows, header)
    print("\n" + text)
    if args.markdown is not None:
        args.markdown.write_text(text + "\n")
    return 0 if all(row.verdict != "FAIL" for row in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
