"""Turn one identity folder into a verification experiment: training people and LFW-style pairs.

A small real face set (the AT&T faces: 40 people × 10 images) is one identity folder. To
measure verification on people never seen in training the way the recipes do
(``IdentityFolderLFWDataModule``: ``--data.train_root`` / ``--data.lfw_root``), the people are
split into a training identity folder and an LFW-layout tree of the others
(``lfw/<name>/<name>_NNNN.jpg`` and a View 2 style ``pairs.txt`` of balanced pairs in folds,
Huang et al., UMass TR 07-49, 2007).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Sequence
from pathlib import Path

from lightning_deepvision.datasets.identity_folder import IdentityFolder
from lightning_deepvision.datasets.identity_pairs import balanced_pairs
from lightning_deepvision.datasets.image_io import read_image
from lightning_deepvision.testing.identity_folder import refuse_existing, save_image

__all__ = ["split_identity_folder"]


def split_identity_folder(
    source: str | os.PathLike[str],
    root: str | os.PathLike[str],
    test_identities: Sequence[str],
    num_folds: int = 10,
    seed: int = 0,
    quality: int = 95,
) -> tuple[Path, Path]:
    """Write ``<root>/train/<identity>/...`` and ``<root>/lfw/{lfw/, pairs.txt}`` from ``source``.

    Training identities' files are copied byte for byte; each test identity's images (in
    sorted file order) become ``lfw/<identity>/<identity>_NNNN.jpg`` (JPEG of ``quality``, the
    format LFW's pairs refer to). ``pairs.txt`` holds ``num_folds`` folds of ``n`` matched and
    ``n`` mismatched pairs, drawn by
    :func:`~lightning_deepvision.datasets.balanced_pairs` (every matched pair, as many
    mismatched ones; ``n`` is the matched count divided by the folds, rounded down).

    Args:
        source: The identity folder (``<source>/<identity>/<image>``).
        root: Directory to write into (must not hold the files already).
        test_identities: The identities verified in ``pairs.txt``, never in ``train/``.
        num_folds: Folds of ``pairs.txt``.
        seed: Seed of the pair draw.
        quality: JPEG quality of the test images.

    Returns:
        ``(train_root, lfw_root)``.

    Raises:
        ValueError: If ``test_identities`` names no identity of ``source``, leaves none for
            training, or gives fewer matched pairs than folds.
        FileExistsError: A file to write already exists (nothing is written).
    """
    root = Path(root)
    everyone = IdentityFolder(source)
    test = sorted(set(test_identities))
    unknown = sorted(set(test) - set(everyone.classes))
    if unknown or not test or len(test) == everyone.num_classes:
        raise ValueError(
            f"test_identities must be some but not all of the {everyone.num_classes} identities "
            f"under {source}; unknown: {unknown}"
        )
    train = [name for name in everyone.classes if name not in test]
    train_files = [
        (p, root / "train" / p.parent.name / p.name)
        for p in everyone.samples
        if p.parent.name in train
    ]
    test_set = IdentityFolder(source, identities=test)
    numbers = {}
    for index, path in enumerate(test_set.samples):
        numbers[index] = sum(1 for q in test_set.samples[:index] if q.parent == path.parent) + 1
    first, second, same = balanced_pairs(test_set.targets, seed=seed)
    per_side = int(same.sum()) // num_folds
    if per_side < 1:
        raise ValueError(f"{int(same.sum())} matched pairs cannot fill {num_folds} folds")
    matched = [(int(i), int(j)) for i, j, s in zip(first, second, same, strict=True) if s]
    mismatched = [(int(i), int(j)) for i, j, s in zip(first, second, same, strict=True) if not s]

    def name(index: int) -> str:
        return test_set.classes[test_set.targets[index]]

    lines = [f"{num_folds}\t{per_side}"]
    for fold in range(num_folds):
        for i, j in matched[fold * per_side : (fold + 1) * per_side]:
            lines.append(f"{name(i)}\t{numbers[i]}\t{numbers[j]}")
        for i, j in mismatched[fold * per_side : (fold + 1) * per_side]:
            lines.append(f"{name(i)}\t{numbers[i]}\t{name(j)}\t{numbers[j]}")
    lfw_root = root / "lfw"
    test_files = [
        lfw_root / "lfw" / name(k) / f"{name(k)}_{numbers[k]:04d}.jpg"
        for k in range(len(test_set.samples))
    ]
    refuse_existing([*(dst for _, dst in train_files), *test_files, lfw_root / "pairs.txt"])
    for src, dst in train_files:
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, dst)
    for src, dst in zip(test_set.samples, test_files, strict=True):
        dst.parent.mkdir(parents=True, exist_ok=True)
        save_image(read_image(src), dst, quality=quality)
    (lfw_root / "pairs.txt").write_text("\n".join(lines) + "\n")
    return root / "train", lfw_root
