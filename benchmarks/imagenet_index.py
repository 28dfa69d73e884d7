"""How fast and how compactly does ``datasets.ImageNet`` index an ImageNet-sized tree?

On a generated ``train/<wnid>/<wnid>_<n>.JPEG`` tree of empty files (the index never opens an
image, so empty files measure exactly the directory scan), the script measures in one run:

(a) files indexed per second by ``ImageNet(root, "train")`` and, as the baseline, by
    ``torchvision.datasets.ImageFolder`` (which ``stat`` s every file and keeps a list of
    ``(path, class)`` tuples): the ratio ours / torchvision; target >= 100,000 files/s;
(b) bytes held per sample beyond the path characters, from ``tracemalloc`` (everything the
    constructed dataset retains, minus the UTF-8 length of the relative paths), for both:
    target <= 200 bytes;
(c) the same for the Kaggle flat validation folder labelled by ``LOC_val_solution.csv``.

Times are the best of ``--repeats`` runs after one warm-up (the page cache then holds the
directories, as it does after the first epoch of a real run).

    python benchmarks/imagenet_index.py [--classes 100] [--per-class 1000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import gc
import os
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

from torchvision.datasets import ImageFolder

from lightning_deepvision.datasets.imagenet import (
    KAGGLE_DIR,
    KAGGLE_SYNSETS,
    KAGGLE_VAL_SOLUTION,
    ImageNet,
)
from lightning_deepvision.testing import synthetic_synsets


def touch(path: Path) -> None:
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644))


def write_empty_tree(root: Path, classes: int, per_class: int) -> tuple[int, int]:
    """``train/<wnid>/<wnid>_<n>.JPEG`` and a Kaggle flat val; returns the two file counts."""
    synsets = synthetic_synsets(classes)
    for wnid, _ in synsets:
        folder = root / "train" / wnid
        folder.mkdir(parents=True)
        for n in range(1, per_class + 1):
            touch(folder / f"{wnid}_{n}.JPEG")
    kaggle = root / "kaggle"
    val = kaggle / KAGGLE_DIR / "val"
    val.mkdir(parents=True)
    count = max(classes, per_class * classes // 2)
    rows = []
    for i in range(count):
        name = f"ILSVRC2012_val_{i + 1:08d}"
        touch(val / f"{name}.JPEG")
        rows.append(f"{name},{synsets[i % classes][0]} 1 2 30 40\n")
    (kaggle / KAGGLE_SYNSETS).write_text("".join(f"{w} {words}\n" for w, words in synsets))
    (kaggle / KAGGLE_VAL_SOLUTION).write_text("ImageId,PredictionString\n" + "".join(rows))
    return classes * per_class, count


def best_seconds(build: Callable[[], Any], repeats: int) -> float:
    build()  # warm the page cache and the imports
    best = float("inf")
    for _ in range(repeats):
        gc.collect()
        start = time.perf_counter()
        build()
        best = min(best, time.perf_counter() - start)
    return best


def retained_bytes(build: Callable[[], Any]) -> tuple[int, Any]:
    """Bytes allocated by ``build()`` and still held by the object it returns."""
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    dataset = build()
    gc.collect()
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    return after - before, dataset


def path_characters(relative_paths: list[str]) -> int:
    return sum(len(p.encode("utf-8")) for p in relative_paths)


def report(
    name: str, files: int, ours: Callable[[], Any], theirs: Callable[[], Any], repeats: int
) -> None:
    ours_s, theirs_s = best_seconds(ours, repeats), best_seconds(theirs, repeats)
    ours_bytes, dataset = retained_bytes(ours)
    theirs_bytes, baseline = retained_bytes(theirs)
    relative = [dataset.index.path(i) for i in range(len(dataset))]
    assert len(relative) == files == len(baseline), (len(relative), files, len(baseline))
    characters = path_characters(relative)
    # torchvision keeps absolute paths: count their characters as "path strings" too.
    theirs_characters = sum(len(path.encode("utf-8")) for path, _ in baseline.samples)
    ours_rate, theirs_rate = files / ours_s, files / theirs_s
    ours_per_sample = (ours_bytes - characters) / files
    theirs_per_sample = (theirs_bytes - theirs_characters) / files
    memory_ratio = theirs_per_sample / max(ours_per_sample, 1e-9)
    print(f"\n{name}: {files:,} files")
    print(
        f"  indexing   ImageNet {ours_rate:11,.0f} files/s  "
        f"ImageFolder {theirs_rate:11,.0f} files/s"
    )
    print(
        f"             ratio ImageNet / ImageFolder = {ours_rate / theirs_rate:.2f}; "
        f"target >= 100,000 files/s: {ours_rate / 100_000:.2f}x the target"
    )
    print(
        f"  memory     ImageNet {ours_per_sample:8.1f} B/sample   ImageFolder "
        f"{theirs_per_sample:8.1f} B/sample beyond the path characters"
    )
    print(
        f"             ratio ImageFolder / ImageNet = {memory_ratio:.1f}; "
        f"target <= 200 B: {ours_per_sample / 200:.3f} of the target"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--classes", type=int, default=100)
    parser.add_argument("--per-class", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="imagenet_index_") as directory:
        root = Path(directory)
        start = time.perf_counter()
        train_files, val_files = write_empty_tree(root, args.classes, args.per_class)
        print(
            f"wrote {train_files + val_files:,} empty files in {time.perf_counter() - start:.1f} s"
        )
        report(
            "train/<wnid>/*.JPEG",
            train_files,
            lambda: ImageNet(root, "train"),
            lambda: ImageFolder(root / "train", allow_empty=True),
            args.repeats,
        )
        kaggle = root / "kaggle"
        # torchvision has no reader for the flat Kaggle folder; its ImageFolder over one class
        # folder of the same files is the nearest baseline (listing without labels).
        flat = kaggle / KAGGLE_DIR
        report(
            "Kaggle val/*.JPEG + LOC_val_solution.csv",
            val_files,
            lambda: ImageNet(kaggle, "val"),
            lambda: ImageFolder(flat, allow_empty=True),
            args.repeats,
        )


if __name__ == "__main__":
    main()
