"""Real faces: the recipes against Eigenfaces, Fisherfaces and raw pixels on unseen AT&T people.

For each seed, the AT&T faces (40 people × 10 grey 92×112 images, ``../shared/data/att_faces``)
are split by identity: ``--test-people`` people (10) are written as an LFW-layout tree with a
View 2 style ``pairs.txt`` (every matched pair, as many mismatched, 10 folds), the others
(30) as the training identity folder (``testing.split_identity_folder``). Every method is then
scored on exactly the same pairs, preprocessed exactly as the recipes see them (grey, 55×47,
[-1, 1]), with the LFW protocol (threshold chosen on the other nine folds):

- raw pixels: cosine of the preprocessed pixel vectors;
- Eigenfaces (Turk & Pentland, 1991): PCA (100 components) fitted on the training people,
  cosine of the projections;
- Fisherfaces (Belhumeur, Hespanha, Kriegman, 1997): PCA (50) then LDA fitted on the training
  people, cosine in the LDA space;
- each recipe variant, trained and tested through the CLI exactly as a user runs it
  (``fit --data.train_root DIR --data.lfw_root DIR``, then ``test --ckpt_path`` with the model
  the held-out training people selected): ``best`` is configs/real_faces.yaml (the DeepID2
  patch ensemble: four grey patches, patch + mirror features, PCA-50 + Joint Bayesian fitted on
  augmented passes over the training people), ``single`` one DeepID2 on the whole face scored
  by PCA-50 + LDA (configs/real_faces_single.yaml), ``scratch`` one DeepID2 scored by plain
  cosine (configs/real_faces_cosine.yaml), ``transfer`` one DeepID2 pre-trained on
  SyntheticFaces then fine-tuned (configs/real_faces_transfer.yaml).

It prints one line per seed and the mean ± std over seeds, and the best variant's margin over
Eigenfaces and raw pixels. Absolute times are noise on a shared machine; the accuracies are not.

    python -m benchmarks.real_faces [--seeds 0 1 2 3 4] [--variants best single scratch transfer]
        [--pretrained CKPT]   # the transfer variant's SyntheticFaces checkpoint

``--pretrained`` is a grey DeepID2 checkpoint, e.g. from
``python recipes/deepid2.py fit --model.in_chans 1 --data.grayscale true``.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from sklearn.decomposition import PCA
from sklearn.discriminant_analysis import LinearDiscriminantAnalysis

from lightning_deepvision.cli import main as cli_main
from lightning_deepvision.datamodules import IdentityFolderLFWDataModule
from lightning_deepvision.datasets import IdentityFolder
from lightning_deepvision.metrics import kfold_verification_accuracy, pair_scores
from lightning_deepvision.testing.identity_split import split_identity_folder

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = ROOT / "recipes" / "configs"
#: Variant -> extra config files on top of configs/real_faces.yaml.
VARIANTS: dict[str, list[Path]] = {
    "best": [],
    "single": [CONFIGS / "real_faces_single.yaml"],
    "scratch": [CONFIGS / "real_faces_cosine.yaml"],
    "transfer": [CONFIGS / "real_faces_transfer.yaml"],
}


def split_people(source: Path, test_people: int, seed: int) -> list[str]:
    """The ``test_people`` identities verified for ``seed`` (a seeded permutation)."""
    names = IdentityFolder(source).classes
    order = torch.randperm(len(names), generator=torch.Generator().manual_seed(seed))
    return sorted(names[int(k)] for k in order[:test_people])


def _pixels(data: IdentityFolderLFWDataModule) -> tuple[np.ndarray, np.ndarray]:
    """Preprocessed training images (all training people) as vectors, and their labels."""
    loader = data.embedding_fit_dataloader(max_images=100000)
    images, labels = [], []
    for batch in loader:
        images.append(batch["image"].flatten(1))
        labels.append(batch["label"])
    return torch.cat(images).numpy(), torch.cat(labels).numpy()


def baselines(train_root: Path, lfw_root: Path) -> dict[str, float]:
    """Raw pixels, Eigenfaces and Fisherfaces on the test pairs, as the recipe preprocesses."""
    data = IdentityFolderLFWDataModule(
        train_root,
        lfw_root,
        grayscale=True,
        center_crop_fraction=1.0,
        val_split="10fold",
        num_workers=0,
        eval_batch_size=256,
    )
    train_x, train_y = _pixels(data)
    first, second, same, folds = [], [], [], []
    data.setup("test")
    for batch in data.test_dataloader():
        first.append(batch["image1"].flatten(1))
        second.append(batch["image2"].flatten(1))
        same.append(batch["same"])
        folds.append(batch["fold"])
    x1, x2 = torch.cat(first), torch.cat(second)
    truth, fold = torch.cat(same), torch.cat(folds)

    def accuracy(project: Callable[[np.ndarray], np.ndarray] | None) -> float:
        a = x1 if project is None else torch.as_tensor(project(x1.numpy()))
        b = x2 if project is None else torch.as_tensor(project(x2.numpy()))
        per_fold, _ = kfold_verification_accuracy(pair_scores(a, b), truth, fold)
        return float(per_fold.mean())

    eigen = PCA(100, random_state=0).fit(train_x)
    pca50 = PCA(50, random_state=0).fit(train_x)
    lda = LinearDiscriminantAnalysis().fit(pca50.transform(train_x), train_y)
    return {
        "raw pixels": accuracy(None),
        "Eigenfaces (PCA-100, cosine)": accuracy(eigen.transform),
        "Fisherfaces (PCA-50 + LDA)": accuracy(lambda x: lda.transform(pca50.transform(x))),
    }


def run_variant(
    configs: list[Path],
    train_root: Path,
    lfw_root: Path,
    workdir: Path,
    seed: int,
    extra: list[str],
) -> float:
    """Fit then test one recipe variant through the CLI; the test accuracy."""
    data = [
        f"--data.train_root={train_root}",
        f"--data.lfw_root={lfw_root}",
        f"--trainer.default_root_dir={workdir}",
        "--trainer.logger=lightning.pytorch.loggers.CSVLogger",
        f"--trainer.logger.save_dir={workdir}",
        "--trainer.enable_progress_bar=false",
        f"--seed_everything={seed}",
    ]
    overlays = [f"--config={c}" for c in configs]
    defaults = [CONFIGS / "real_faces.yaml"]
    cli = cli_main(args=["fit", *overlays, *data, *extra], default_config_files=defaults)
    checkpoint = cli.trainer.checkpoint_callback
    best = getattr(checkpoint, "best_model_path", "") or getattr(checkpoint, "last_model_path", "")
    cli = cli_main(
        args=["test", *overlays, *data, *extra, f"--ckpt_path={best}"],
        default_config_files=defaults,
    )
    return float(cli.trainer.callback_metrics["test/accuracy"])


def summary(values: list[float]) -> str:
    mean = statistics.fmean(values)
    std = statistics.pstdev(values) if len(values) > 1 else 0.0
    return f"{mean:.4f} ± {std:.4f}"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=ROOT.parent / "shared" / "data" / "att_faces")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--test-people", type=int, default=10)
    parser.add_argument(
        "--variants",
        nargs="*",
        default=["best", "single", "scratch", "transfer"],
        choices=VARIANTS,
    )
    parser.add_argument("--pretrained", type=Path, default=None)
    parser.add_argument(
        "--extra", nargs="*", default=[], help="more CLI arguments for every variant's fit/test"
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> dict[str, list[float]]:
    """Run the comparison; return every method's accuracy per seed."""
    args = parse_args(argv)
    if not args.root.is_dir():
        raise SystemExit(f"AT&T faces not found at {args.root} (--root)")
    variants = [v for v in args.variants if v != "transfer" or args.pretrained is not None]
    if "transfer" in args.variants and args.pretrained is None:
        print("transfer variant skipped: pass --pretrained CKPT (a grey DeepID2 checkpoint)")
    results: dict[str, list[float]] = {}
    for seed in args.seeds:
        with tempfile.TemporaryDirectory() as tmp:
            work = Path(tmp)
            test = split_people(args.root, args.test_people, seed)
            train_root, lfw_root = split_identity_folder(args.root, work / "data", test, seed=seed)
            row: dict[str, Any] = baselines(train_root, lfw_root)
            for name in variants:
                extra = list(args.extra)
                if name == "transfer":
                    extra.append(f"--model.init_from={args.pretrained}")
                start = time.perf_counter()
                row[f"recipe: {name}"] = run_variant(
                    VARIANTS[name], train_root, lfw_root, work / name, seed, extra
                )
                print(f"  seed {seed} {name}: {time.perf_counter() - start:.0f} s", flush=True)
            for key, value in row.items():
                results.setdefault(key, []).append(value)
            print(f"seed {seed}: " + ", ".join(f"{k} {v:.4f}" for k, v in row.items()), flush=True)
    print(f"\n{len(args.seeds)} seeds, {args.test_people} unseen people each (mean ± std):")
    for key, values in results.items():
        print(f"  {key:32s} {summary(values)}")
    recipes = {k: statistics.fmean(v) for k, v in results.items() if k.startswith("recipe")}
    if recipes:
        best = max(recipes, key=recipes.__getitem__)
        eigen = statistics.fmean(results["Eigenfaces (PCA-100, cosine)"])
        pixels = statistics.fmean(results["raw pixels"])
        print(
            f"best variant {best}: {100 * (recipes[best] - eigen):+.1f} points over Eigenfaces "
            f"(target +5), {100 * (recipes[best] - pixels):+.1f} over raw pixels (target +8)"
        )
    return results


if __name__ == "__main__":
    main()
