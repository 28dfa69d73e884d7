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

A third side is the library's option ``batch_normalize=True`` of ``ImageFolderDataModule`` /
``ImageNetDataModule``: the workers stop at the ``uint8`` crop (the colour shift is drawn there,
at the same point of the random stream), batches of ``uint8`` are collated channels-last, and
``NormalizeBatch`` turns each batch into the same float input (on the GPU in training, here on
the CPU of the main process, and timed).

The script checks that the sides give the same tensors for the same seed, then measures in one
run:

(a) decoding alone, per image on one thread: ``decode_image_file`` vs torchvision's
    ``pil_loader`` + ``pil_to_tensor``;
(b) the whole sample (decode + transforms) on one thread, as in a loader worker; also the
    library's dataset with the baseline's transforms, to separate the decoder's share, and
    ``batch_normalize`` with the collation and ``NormalizeBatch`` of each batch counted
    (the baseline's collation is not);
(c) a ``DataLoader`` with ``--num-workers`` persistent workers (the library's default) and
    batches of ``--batch-size``, after a warm-up epoch as many epochs as make
    ``--min-images`` images (256; at least one epoch): images per wall second, and
    per CPU second of the main process and its workers together (the workers' CPU clocks are
    read by process id, Linux's ``clock_getcpuclockid``). The ``(c)`` line is the library's
    fastest setting, ``batch_normalize``.

(a) and (b) count the thread's CPU time (``time.thread_time``), which other processes on a
shared machine do not inflate as they inflate wall time; the sides take turns every batch of
images, over the set as many times as make ``--min-images``. (c) gives both; its rounds
alternate the sides. Each figure is the median over ``--rounds``. Target for (b) and (c):
ours / baseline >= 1.5.

    python benchmarks/input_pipeline.py [--images 256] [--rounds 3] [--num-workers 2]
        [--batch-size 32] [--min-images 256]
"""

from __future__ import annotations

import argparse
import ctypes
import os
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
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
from lightning_deepvision.transforms.classification_batch import (
    NormalizeBatch,
    collate_channels_last,
)

Batch = Callable[[Any], Any]


def interleaved_rates(
    fns: list[Callable[[int], Any]], count: int, chunk: int, images: int = 0
) -> list[float]:
    """Calls per CPU second of this thread of each ``fn(i)``, ``i < count``.

    The functions take turns every ``chunk`` images, so that a change in the machine's load
    during the measurement hits every side alike; the ``count`` images are gone through again
    until at least ``images`` calls are timed.
    """
    passes = max(1, -(-images // count))
    seconds = [0.0] * len(fns)
    for _ in range(passes):
        for first in range(0, count, chunk):
            for side, fn in enumerate(fns):
                start = time.thread_time()
                for i in range(first, min(first + chunk, count)):
                    fn(i)
                seconds[side] += time.thread_time() - start
    return [passes * count / s for s in seconds]


def batched(dataset: Dataset[Any], batch: Batch, size: int) -> Callable[[int], Any]:
    """``fn(i)`` for :func:`interleaved_rates`: sample ``i``; every ``size``-th one, the batch.

    The samples of a batch are collated and ``batch`` applied when its last one arrives, so
    the per-image time includes the batch step's share.
    """
    pending: list[Any] = []

    def sample(i: int) -> Any:
        pending.append(dataset[i])
        if len(pending) == size:
            batch(collate_channels_last(pending))
            pending.clear()

    return sample


_LIBC = ctypes.CDLL(None, use_errno=True)


def process_cpu_seconds(pid: int) -> float:
    """CPU seconds of every thread of process ``pid`` so far (Linux ``clock_getcpuclockid``)."""
    clock = ctypes.c_int()
    if _LIBC.clock_getcpuclockid(pid, ctypes.byref(clock)):
        raise OSError(ctypes.get_errno(), os.strerror(ctypes.get_errno()), f"process {pid}")
    return time.clock_gettime(clock.value)


def images_in(batch: Any) -> int:
    return len(batch[0] if isinstance(batch, list) else batch["image"])


def loader_epochs(
    loader: DataLoader[Any], batch: Batch | None, images: int = 1
) -> tuple[float, float]:
    """Images per wall second and per CPU second (main process and workers), whole epochs.

    As many epochs as reach ``images`` images are timed (a small set's epoch is too short to
    time alone). Workers are persistent, so an epoch costs what every epoch but the first
    costs; ``batch`` (the batch step, if any) runs in the main process, as
    ``on_after_batch_transfer`` does.
    """
    seen, wall, used = 0, 0.0, 0.0
    while seen < images or not seen:
        iterator: Iterator[Any] = iter(loader)
        workers = [w.pid for w in getattr(iterator, "_workers", [])]
        start, main = time.perf_counter(), time.process_time()
        cpu = [process_cpu_seconds(pid) for pid in workers]
        for item in iterator:
            seen += images_in(item if batch is None else batch(item))
        wall += time.perf_counter() - start
        used += time.process_time() - main
        used += sum(process_cpu_seconds(pid) - c for pid, c in zip(workers, cpu, strict=True))
    return seen / wall, seen / used


def median_ratio(name: str, ours: list[float], theirs: list[float], unit: str) -> float:
    """Print the medians and their ratio; return the ratio."""
    a, b = statistics.median(ours), statistics.median(theirs)
    print(f"{name:<38} ours {a:8.1f} {unit}   ImageFolder+PIL {b:8.1f} {unit}   ratio {a / b:.2f}")
    return a / b


def check_same_samples(
    ours: Dataset[Any], theirs: Dataset[Any], count: int, batch: Batch | None = None
) -> float:
    """Largest difference between the two sides' inputs drawn under the same seeds."""
    worst = 0.0
    for i in range(count):
        torch.manual_seed(i)
        sample = ours[i]
        a = sample["image"] if batch is None else batch(collate_channels_last([sample]))["image"][0]
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
    parser.add_argument(
        "--min-images",
        type=int,
        default=256,
        help="images per timed measurement (the set is read again until it is reached)",
    )
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
        ours_batch = ImageFolderDataset(
            root, "train", transforms=classification_transforms(train=True, batch_normalize=True)
        )
        normalize = NormalizeBatch()
        theirs = ImageFolder(str(root / "train"), transform=reference)
        count = len(ours)
        assert count == len(theirs)
        paths = [ours.path(i) for i in range(count)]
        assert [Path(p) for p, _ in theirs.samples] == paths  # same files, same order
        first = decode_image_file(paths[0])
        pil = F.pil_to_tensor(pil_loader(str(paths[0])))
        print(
            f"{count} JPEGs of {tuple(first.shape)}; decoded max |ours - PIL| = "
            f"{(first.int() - pil.int()).abs().max().item()}; inputs under the same seed: "
            f"max |ours - baseline| = {check_same_samples(ours, theirs, 16):.1e}, with "
            f"batch_normalize {check_same_samples(ours_batch, theirs, 16, normalize):.1e}"
        )

        threads = torch.get_num_threads()
        torch.set_num_threads(1)  # what a DataLoader worker runs with
        decode: tuple[list[float], ...] = ([], [])
        sample: tuple[list[float], ...] = ([], [], [], [])
        whole = count - count % args.batch_size or count  # whole batches for the batch step
        for _ in range(args.rounds):
            rates = interleaved_rates(
                [
                    lambda i: decode_image_file(paths[i]),
                    lambda i: F.pil_to_tensor(pil_loader(str(paths[i]))),
                ],
                count,
                args.batch_size,
                args.min_images,
            )
            for side, rate in enumerate(rates):
                decode[side].append(rate)
            rates = interleaved_rates(
                [
                    ours.__getitem__,
                    theirs.__getitem__,
                    ours_unfused.__getitem__,
                    batched(ours_batch, normalize, args.batch_size),
                ],
                whole,
                args.batch_size,
                args.min_images,
            )
            for side, rate in enumerate(rates):
                sample[side].append(rate)
        torch.set_num_threads(threads)
        median_ratio("(a) decode, one thread", *decode, "img/CPU-s")
        median_ratio("(b) decode + transforms, one thread", sample[0], sample[1], "img/CPU-s")
        median_ratio("    ours, torchvision's separate steps", sample[2], sample[1], "img/CPU-s")
        median_ratio("    ours, batch_normalize", sample[3], sample[1], "img/CPU-s")

        sides: list[tuple[Dataset[Any], Batch | None]] = [
            (ours_batch, normalize),
            (ours, None),
            (theirs, None),
        ]
        loaders = [
            DataLoader(
                dataset,
                batch_size=args.batch_size,
                shuffle=True,
                num_workers=args.num_workers,
                persistent_workers=args.num_workers > 0,
                collate_fn=collate_channels_last if batch is not None else None,
            )
            for dataset, batch in sides
        ]
        for loader, (_, batch) in zip(loaders, sides, strict=True):
            loader_epochs(loader, batch)  # warm-up: workers started, page cache, allocator
        wall: tuple[list[float], ...] = ([], [], [])
        cpu: tuple[list[float], ...] = ([], [], [])
        for _ in range(args.rounds):
            for side, (loader, (_, batch)) in enumerate(zip(loaders, sides, strict=True)):
                per_wall, per_cpu = loader_epochs(loader, batch, args.min_images)
                wall[side].append(per_wall)
                cpu[side].append(per_cpu)
        workers = f"{args.num_workers} workers"
        median_ratio(f"(c) DataLoader, {workers}, batch_normalize", wall[0], wall[2], "img/s")
        median_ratio("    the same, all processes' CPU time", cpu[0], cpu[2], "img/CPU-s")
        median_ratio(f"    DataLoader, {workers}, per sample", wall[1], wall[2], "img/s")
        median_ratio("    the same, all processes' CPU time", cpu[1], cpu[2], "img/CPU-s")
        print("target: ratio >= 1.5 for (b) and (c)")


if __name__ == "__main__":
    main()
