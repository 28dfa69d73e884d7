"""CelebA annotation parsing: this library's reader vs torchvision's CelebA parser.

Writes the five annotation files at CelebA's real size (202,599 rows, the published formatting:
count lines, headers, right-aligned columns separated by runs of spaces) into a temporary
folder, then parses all five with both readers, interleaved, best of several rounds, and prints
the times, their ratio and the bytes each keeps. Targets: ratio >= 2, ours < 2 s.

    python benchmarks/celeba_annotations.py [--rows 202599] [--rounds 3]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path
from types import SimpleNamespace

import numpy as np
from _harness import interleaved_best
from torchvision.datasets import CelebA as TorchvisionCelebA

from lightning_deepvision.datasets.celeba_annotations import (
    BBOX_COLUMNS,
    CELEBA_ATTRIBUTES,
    CELEBA_FILES,
    LANDMARK_COLUMNS,
    read_celeba_table,
)

KEYS = ("attributes", "identity", "bbox", "landmarks", "partition")


def write_files(folder: Path, rows: int, seed: int = 0) -> None:
    """The five files with ``rows`` random rows each, formatted as the released ones."""
    rng = np.random.default_rng(seed)
    names = [f"{i:06d}.jpg" for i in range(1, rows + 1)]
    attributes = rng.choice(np.array([" -1", "  1"]), size=(rows, 40))
    texts = {
        "attributes": [str(rows), " ".join(CELEBA_ATTRIBUTES) + " "]
        + [n + "".join(a) for n, a in zip(names, attributes, strict=True)],
        "identity": [f"{n} {i}" for n, i in zip(names, rng.integers(1, 10178, rows), strict=True)],
        "bbox": [str(rows), " ".join(BBOX_COLUMNS)]
        + [
            f"{n:<10}" + "".join(f"{v:>6}" for v in row)
            for n, row in zip(names, rng.integers(0, 1000, (rows, 4)), strict=True)
        ],
        "landmarks": [str(rows), " ".join(LANDMARK_COLUMNS)]
        + [
            f"{n:<10}" + "".join(f"{v:>5}" for v in row)
            for n, row in zip(names, rng.integers(60, 160, (rows, 10)), strict=True)
        ],
        "partition": [
            f"{n} {p}"
            for n, p in zip(
                names, np.searchsorted([162770, 182637], np.arange(rows), "right"), strict=True
            )
        ],
    }
    for key, lines in texts.items():
        (folder / CELEBA_FILES[key].file).write_text("\n".join(lines) + "\n")


def ours(folder: Path) -> int:
    """Parse the five files; return the bytes the parsed arrays hold."""
    tables = [read_celeba_table(folder / CELEBA_FILES[k].file, CELEBA_FILES[k]) for k in KEYS]
    return sum(t.names.nbytes + t.values.nbytes for t in tables)


def torchvisions(folder: Path) -> int:
    """Parse the five files with torchvision's ``CelebA._load_csv``, as its constructor does.

    Returns the bytes of the tensors it builds (its per-row name lists come on top).
    """
    reader = SimpleNamespace(root=str(folder.parent), base_folder=folder.name)
    total = 0
    for key in KEYS:
        spec = CELEBA_FILES[key]
        parsed = TorchvisionCelebA._load_csv(reader, spec.file, header=1 if spec.counted else None)  # type: ignore[arg-type]
        total += parsed.data.numel() * parsed.data.element_size()
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=202599)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "celeba"
        folder.mkdir()
        write_files(folder, args.rows)
        size = sum(f.stat().st_size for f in folder.iterdir())
        (t_ours, b_ours), (t_tv, b_tv) = interleaved_best(
            [lambda: ours(folder), lambda: torchvisions(folder)], [args.rounds, args.rounds]
        )
    print(f"{args.rows} rows, five files, {size / 1e6:.1f} MB of text")
    print(f"lightning_deepvision: {t_ours:.3f} s, arrays {int(b_ours) / 1e6:.1f} MB")  # type: ignore[call-overload]
    print(f"torchvision CelebA:   {t_tv:.3f} s, tensors {int(b_tv) / 1e6:.1f} MB + per-row lists")  # type: ignore[call-overload]
    ok = t_tv / t_ours >= 2 and t_ours < 2
    print(f"ratio torchvision / ours = {t_tv / t_ours:.2f} (target >= 2, ours < 2 s): "
          f"{'met' if ok else 'NOT met'}")  # fmt: skip


if __name__ == "__main__":
    main()
