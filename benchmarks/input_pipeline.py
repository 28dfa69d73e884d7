"""Input pipeline: the library's ImageNet/ImageFolder path vs ``ImageFolder`` + PIL.

Both read the same JPEGs (an image-folder tree written by ``lightning_deepvision.testing`` at
ImageNet's most common size, 500x375) and apply AlexNet's training augmentation (shorter side
to 256, centre 256 square, random 227 crop, mirror, PCA lighting with ImageNet's eigenvalues and
eigenvectors, normalisation), with the same random draws:

* ours: ``ImageFolderDataset`` (``torchvision.io`` decoding, libjpeg-turbo straight into a
  tensor) with the library's preset, ``classification_transforms(train=True)``
  (``ResizeSquareCrop`` + ``LightingNormalize``: the rows rescaled, only the crop's columns
  rescaled, one arithmetic pass to the normalised float input);
* baseline: ``torchvision.datasets.ImageFolder`` (PIL decoding) with the same augmentation as
  torchvision's separate v2 steps, ``classification_transforms(train=True, fused=False)``
  (``Resize``, ``CenterCrop``, ``RandomCrop``, ``RandomHorizontalFlip``, ``ToDtype``,
  ``PCALighting``, ``Normalize``), what a user of ``ImageFolder`` writes.

The script checks that the two give the same tensors for the same seed, then measures in one
run:

(a) decoding alone, per image on one thread: ``decode_image_file`` vs torchvision's
    ``pil_loader`` + ``pil_to_tensor``;
(b) the whole sample (decode + transforms) on one thread, as in a loader worker; also the
    library's dataset with the baseline's transforms, to separate the decoder's share;
(c) a ``DataLoader`` with ``--num-workers`` workers and batches of ``--batch-size``, one epoch
    after a warm-up epoch: images per wall second, and per CPU second of the main process and
    its workers together (collation included).

(a) and (b) count the thread's CPU time (``time.thread_time``), which other processes on a
shared machine do not inflate as they inflate wall time; (c) gives both. Rounds alternate the
sides; each figure is the median over ``--rounds``. Target for (b) and (c): ours / baseline >= 1.5.

    python benchmarks/input_pipeline.py [--images 256] [--rounds 3] [--num-workers 2]
"""

from __future__ import annotations

import argparse
import resource
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import DataLoader, Dataset
from torchvision.datasets import ImageFolder
from torchvision.datasets.folder import pil_loader
from torchvision.transforms.v2 import functional as F

from lightning_deepvision.datasets.image_folder import ImageFolderDataset, decode_image_file
from lightning_deepvision.testing import write_image_folder
from lightning_deepvision.transforms.classification import classification_transforms


def per_image_seconds(fn: Callable[[int], Any], count: int) -> float:
    """CPU seconds of this thread per call of ``fn(i)``, ``i < count``."""
    start = time.thread_time()
    for i in range(count):
        fn(i)
    return (time.thread_time() - start) / count


def cpu_seconds() -> float:
    """CPU time of this process and of its children that have exited (loader workers)."""
    own, children = (
        resource.getrusage(resource.RUSAGE_SELF),
        resource.getrusage(resource.RUSAGE_CHILDREN),
    )
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def loader_images_per_second(
    dataset: Dataset[Any], batch_size: int, workers: int
) -> tuple[float, float]:
    """Images per wall second and per CPU second (all processes) of one loader epoch.

    Workers are not persistent, so each epoch's workers have exited, and their CPU time is
    counted, when the epoch ends.
    """
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=True, num_workers=workers)
    for _ in loader:  # warm-up epoch: page cache, allocator
        pass
    start, cpu = time.perf_counter(), cpu_seconds()
    seen = sum(len(batch[0] if isinstance(batch, list) else batch["image"]) for batch in loader)
    return seen / (time.perf_counter() - start), seen / (cpu_seconds() - cpu)


def median_ratio(name: str, ours: list[float], theirs: list[float], unit: str) -> float:
    """Print the medians and their ratio; return the ratio."""
    a, b = statistics.median(ours), statistics.median(theirs)
    print(f"{name:<38} ours {a:8.1f} {unit}   ImageFolder+PIL {b:8.1f} {unit}   ratio {a / b:.2f}")
    return a / b


def check_same_samples(ours: Dataset[Any], theirs: Dataset[Any], count: int) -> float:
    """Largest difference between the two sides' samples drawn under the same seeds."""
    worst = 0.0
    for i in range(count):
        torch.manual_seed(i)
        a = ours[i]["image"]
        torch.manual_seed(i)
        b = theirs[i][0]
        worst = max(worst, float((a - b).abs().max()))
    return worst


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=256)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--num-workers", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=32)
    args = parser.parse_args()
    classes = 8
    with tempfile.TemporaryDirectory(prefix="input_pipeline_") as directory:
        root = write_image_folder(
            Path(directory),
            num_classes=classes,
            images_per_class={"train": max(1, args.images // classes)},
            image_size=(375, 500),
        )
        reference = classification_transforms(train=True, fused=False)
        ours = ImageFolderDataset(root, "train", transforms=classification_transforms(train=True))
        ours_unfused = ImageFolderDataset(root, "train", transforms=reference)
        theirs = ImageFolder(str(root / "train"), transform=reference)
        count = len(ours)
        assert count == len(theirs)
        paths = [ours.path(i) for i in range(count)]
        assert [Path(p) for p, _ in theirs.samples] == paths  # same files, same order
        first = decode_image_file(paths[0])
        pil = F.pil_to_tensor(pil_loader(str(paths[0])))
        print(
            f"{count} JPEGs of {tuple(first.shape)}; decoded max |ours - PIL| = "
            f"{(first.int() - pil.int()).abs().max().item()}; samples under the same seed: "
            f"max |ours - baseline| = {check_same_samples(ours, theirs, 16):.1e}"
        )

        threads = torch.get_num_threads()
        torch.set_num_threads(1)  # what a DataLoader worker runs with
        decode: tuple[list[float], list[float]] = ([], [])
        sample: tuple[list[float], list[float], list[float]] = ([], [], [])
        for _ in range(args.rounds):
            decode[0].append(1 / per_image_seconds(lambda i: decode_image_file(paths[i]), count))
            decode[1].append(
                1 / per_image_seconds(lambda i: F.pil_to_tensor(pil_loader(str(paths[i]))), count)
            )
            sample[0].append(1 / per_image_seconds(ours.__getitem__, count))
            sample[1].append(1 / per_image_seconds(theirs.__getitem__, count))
            sample[2].append(1 / per_image_seconds(ours_unfused.__getitem__, count))
        torch.set_num_threads(threads)
        median_ratio("(a) decode, one thread", *decode, "img/CPU-s")
        median_ratio("(b) decode + transforms, one thread", sample[0], sample[1], "img/CPU-s")
        median_ratio("    ours, torchvision's separate steps", sample[2], sample[1], "img/CPU-s")

        wall: tuple[list[float], list[float]] = ([], [])
        cpu: tuple[list[float], list[float]] = ([], [])
        for _ in range(args.rounds):
            for side, dataset in enumerate((ours, theirs)):
                per_wall, per_cpu = loader_images_per_second(
                    dataset, args.batch_size, args.num_workers
                )
                wall[side].append(per_wall)
                cpu[side].append(per_cpu)
        median_ratio(f"(c) DataLoader, {args.num_workers} workers", *wall, "img/s")
        median_ratio("    the same, all processes' CPU time", *cpu, "img/CPU-s")
        print("target: ratio >= 1.5 for (b) and (c)")


if __name__ == "__main__":
    main()
