"""What ``on_bad_sample="skip"`` costs a reader when every file is readable.

Writes an image folder of JPEGs, then reads every sample of the same ``ImageFolderDataset``
with the default policy (``"raise"``: ``__getitem__`` calls ``get_sample``) and with
``"skip"`` (each index first checked against the shared record of unreadable samples),
alternating sample by sample so that load spikes hit both alike, and prints the CPU times and
the median over rounds of their ratio. A second line reads
a copy with 5 % of the files emptied under ``"skip"``, whose first pass pays one failed decode
per bad file and whose later passes jump over them (CPU times). Target: ratio <= 1.05.

    python benchmarks/bad_sample_policy.py [--images 600] [--size 64] [--rounds 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from lightning_deepvision.datasets import ImageFolderDataset
from lightning_deepvision.testing import write_image_folder


def read_all(dataset: ImageFolderDataset) -> int:
    """Read every sample; returns the number of pixels read (so nothing is optimised away)."""
    return sum(int(dataset[i]["image"].numel()) for i in range(len(dataset)))


def cpu_seconds(fn: Callable[[], object]) -> float:
    """This process's CPU seconds running ``fn``."""
    start = time.process_time()
    fn()
    return time.process_time() - start


def alternating(first: ImageFolderDataset, second: ImageFolderDataset) -> tuple[float, float]:
    """Seconds reading every sample of each, the two read in turn sample by sample.

    Which of the two reads a file first alternates, since the second read of a file finds it
    warm in the caches. The clock is this process's CPU time: on a shared machine the wall
    time of a sub-millisecond read is mostly other processes' turns on the cores.
    """
    spent = [0.0, 0.0]
    for i in range(len(first)):
        order = ((0, first), (1, second)) if i % 2 == 0 else ((1, second), (0, first))
        for k, dataset in order:
            start = time.process_time()
            dataset[i]
            spent[k] += time.process_time() - start
    return spent[0], spent[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=600)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="200 images, 3 rounds")
    args = parser.parse_args()
    if args.quick:
        args.images, args.rounds = 200, 3
    with tempfile.TemporaryDirectory() as folder:
        per_class = {"train": max(1, args.images // 4)}
        root = write_image_folder(
            Path(folder) / "tree", 4, per_class, (args.size, args.size), seed=0
        )
        raising = ImageFolderDataset(root, "train")
        skipping = ImageFolderDataset(root, "train")
        skipping.on_bad_sample = "skip"
        rounds = [alternating(raising, skipping) for _ in range(args.rounds)]
        ratio = statistics.median(skip / plain for plain, skip in rounds)
        plain, skip = (statistics.median(side) for side in zip(*rounds, strict=True))
        with_bad = ImageFolderDataset(root, "train")
        for index in range(0, len(with_bad), 20):
            with_bad.path(index).write_bytes(b"")
        with_bad.on_bad_sample = "skip"
        first = cpu_seconds(lambda: read_all(with_bad))
        later = min(cpu_seconds(lambda: read_all(with_bad)) for _ in range(args.rounds))
    n = len(raising)
    load = "/".join(f"{x:.2f}" for x in os.getloadavg())
    print(
        f"{n} JPEGs of {args.size}x{args.size}, load {load}: "
        f"5 % empty files under skip: first pass {first * 1e6 / n:.0f} us/sample, "
        f"later passes {later * 1e6 / n:.0f} us/sample ({with_bad.skipped_count} skipped)"
    )
    print(
        f"skip policy {skip * 1e6 / n:.1f} us/sample / raise policy {plain * 1e6 / n:.1f} "
        f"us/sample: ratio {ratio:.3f}"
    )


if __name__ == "__main__":
    main()
