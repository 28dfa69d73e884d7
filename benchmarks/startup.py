"""Start-up time: ``deepvision --help`` against importing Lightning alone.

Each repeat starts fresh interpreters, in turn: ``python -c "import lightning.pytorch"`` (the
floor every Lightning command pays), ``python -c "import lightning_deepvision.cli"`` and
``deepvision --help`` (the import plus building the parsers of every subcommand). The medians
are reported and their ratio to the baseline; the target for ``--help`` is at most 1.5.

Run: ``python benchmarks/startup.py [--repeats 5]``.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

TARGET = 1.5


def _command_line() -> list[str]:
    script = Path(sys.executable).with_name("deepvision")
    if script.is_file():
        return [str(script), "--help"]
    # What the installed console script runs, for an environment without it.
    code = "import sys; from lightning_deepvision.cli import run; sys.argv[1:] = ['--help']; run()"
    return [sys.executable, "-c", code]


COMMANDS = {
    "import lightning.pytorch": [sys.executable, "-c", "import lightning.pytorch"],
    "import lightning_deepvision.cli": [sys.executable, "-c", "import lightning_deepvision.cli"],
    "deepvision --help": _command_line(),
}


def wall_time(command: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    for command in COMMANDS.values():
        wall_time(command)  # warm the file cache once
    times: dict[str, list[float]] = {name: [] for name in COMMANDS}
    for _ in range(args.repeats):
        for name, command in COMMANDS.items():  # interleaved: load drifts hit all alike
            times[name].append(wall_time(command))
    baseline = statistics.median(times["import lightning.pytorch"])
    print(f"median of {args.repeats} runs each:")
    for name, values in times.items():
        median = statistics.median(values)
        print(f"  {name:32s} {median:6.2f} s   ratio {median / baseline:.2f}")
    ratio = statistics.median(times["deepvision --help"]) / baseline
    verdict = "meets" if ratio <= TARGET else "misses"
    print(f"deepvision --help / import lightning.pytorch = {ratio:.2f} ({verdict} <= {TARGET})")


if __name__ == "__main__":
    main()
