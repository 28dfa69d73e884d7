"""Evaluate (and, on two processes, fit) every task on tiny data; one process group for all.

Run as a script, on one process (``python ddp_cases.py OUT``) or under ``torchrun
--nproc_per_node N ddp_cases.py OUT`` (gloo on the CPU, ``strategy="ddp"``: Lightning takes the
process group torchrun describes). Every case builds its task from the same seed, so the
weights are the same on any number of processes, then runs ``validate`` and ``test`` on
evaluation sets whose sizes 2 and 3 do not divide; with ``--fit`` it then trains the task a few
steps (validating once). Rank zero writes ``OUT/metrics.json``: case → stage → metric → value.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from lightning.pytorch import LightningDataModule, LightningModule, Trainer, seed_everything

Case = Callable[[], tuple[LightningModule, LightningDataModule, list[Any]]]


def _faces(**overrides: Any) -> LightningDataModule:
    from lightning_deepvision.datamodules import SyntheticFacesDataModule

    # 5 folds x 2 x 2 = 20 pairs: 3 processes get 7, 7 and 6.
    options: dict[str, Any] = {
        "num_train_identities": 6,
        "images_per_train_identity": 3,
        "num_eval_identities": 10,
        "images_per_eval_identity": 3,
        "num_folds": 5,
        "pairs_per_fold": 2,
        "identities_per_batch": 3,
        "images_per_identity": 2,
        "eval_batch_size": 4,
        "num_workers": 0,
    }
    return SyntheticFacesDataModule(**{**options, **overrides})


def deepid2() -> tuple[LightningModule, LightningDataModule, list[Any]]:
    from lightning_deepvision.tasks import VerificationTask

    return VerificationTask(backbone="deepid2_tiny", scoring="joint_bayesian"), _faces(), []


def deepid2plus() -> tuple[LightningModule, LightningDataModule, list[Any]]:
    from lightning_deepvision.callbacks import VerificationROCLogger
    from lightning_deepvision.tasks import VerificationTask

    task = VerificationTask(backbone="deepid2plus_tiny", flip_test="concat")
    return task, _faces(), [VerificationROCLogger()]


def neurons() -> tuple[LightningModule, LightningDataModule, list[Any]]:
    from lightning_deepvision.callbacks import NeuronProperties
    from lightning_deepvision.tasks import VerificationTask

    # Caps above the evaluation set (30 images, 20 pairs): each process keeps its share of a
    # cap, so a binding cap selects other samples on another number of processes.
    analysis = NeuronProperties(
        analyses=["sparsity", "binary_codes", "selectivity", "robustness"],
        max_images=60,
        max_identities=4,
        robustness_pairs=40,
        occlusion_fractions=[0.3],
        block_fractions=[0.3],
        pictures=False,
    )
    return VerificationTask(backbone="deepid2plus_tiny"), _faces(), [analysis]


def patch_ensemble() -> tuple[LightningModule, LightningDataModule, list[Any]]:
    from lightning_deepvision.tasks import PatchEnsembleTask

    task = PatchEnsembleTask(patch_net="deepid2_tiny", joint_bayesian_pca_dim=8)
    return task, _faces(input_size=(64, 56)), []


def _objects(**overrides: Any) -> LightningDataModule:
    from lightning_deepvision.datamodules.synthetic_objects import SyntheticObjectsDataModule

    # 5 classes x 5 images = 25 per evaluation split.
    options: dict[str, Any] = {
        "classes": ["disc", "bullseye", "square", "triangle", "cross"],
        "train_images_per_class": 4,
        "eval_images_per_class": 5,
        "render_size": 32,
        "resize_size": 72,
        "image_size": 67,
        "batch_size": 4,
        "eval_batch_size": 4,
        "num_workers": 0,
    }
    return SyntheticObjectsDataModule(**{**options, **overrides})


def alexnet() -> tuple[LightningModule, LightningDataModule, list[Any]]:
    from lightning_deepvision.callbacks import RetrievalGridLogger
    from lightning_deepvision.tasks import ClassificationTask

    task = ClassificationTask(
        backbone="alexnet_tiny", input_size=(67, 67), top_k=3, retrieval_k=[1, 3]
    )
    return task, _objects(ten_crop_test=True), [RetrievalGridLogger(k=2)]


def transfer() -> tuple[LightningModule, LightningDataModule, list[Any]]:
    from lightning_deepvision.tasks import ClassificationTask

    task = ClassificationTask(backbone="alexnet_tiny", input_size=(67, 67), freeze_backbone=True)
    data = _objects(classes=["stripes", "checkerboard", "dots", "flower", "arc"])
    return task, data, []


def attributes() -> tuple[LightningModule, LightningDataModule, list[Any]]:
    from lightning_deepvision.datamodules import SyntheticAttributesDataModule
    from lightning_deepvision.tasks import AttributesTask

    data = SyntheticAttributesDataModule(
        num_train_identities=4,
        images_per_train_identity=3,
        num_eval_identities=5,
        images_per_eval_identity=5,
        batch_size=4,
        eval_batch_size=4,
        num_workers=0,
    )
    return AttributesTask(backbone="anet_tiny"), data, []


def detection() -> tuple[LightningModule, LightningDataModule, list[Any]]:
    from lightning_deepvision.datamodules import SyntheticPedestriansDataModule
    from lightning_deepvision.tasks import DetectionTask

    data = SyntheticPedestriansDataModule(
        train_frames=2,
        val_frames=5,
        test_frames=5,
        frame_size=(120, 160),
        batch_size=4,
        eval_batch_size=2,
        num_workers=0,
    )
    return DetectionTask(backbone="udn_tiny"), data, []


def parsing() -> tuple[LightningModule, LightningDataModule, list[Any]]:
    from lightning_deepvision.datamodules import SyntheticParsingDataModule
    from lightning_deepvision.tasks import ParsingTask

    data = SyntheticParsingDataModule(
        train_images=8,
        eval_images=7,
        images_per_identity=1,
        image_size=(32, 28),
        batch_size=4,
        eval_batch_size=2,
        num_workers=0,
    )
    return ParsingTask(backbone="cross_modality_parsing_tiny"), data, []


def _multiview() -> LightningDataModule:
    from lightning_deepvision.datamodules import SyntheticMultiViewDataModule

    # 3 people x 7 views = 21 evaluation images, and 13 reference images for the LDA.
    return SyntheticMultiViewDataModule(
        train_identities=4,
        eval_identities=3,
        images_per_identity=7,
        render_size=32,
        image_size=(16, 16),
        lda_reference_images=13,
        batch_size=7,
        eval_batch_size=4,
        num_workers=0,
    )


def fip() -> tuple[LightningModule, LightningDataModule, list[Any]]:
    from lightning_deepvision.tasks import ReconstructionTask

    return ReconstructionTask(backbone="fip_tiny", input_size=(16, 16)), _multiview(), []


def mvp() -> tuple[LightningModule, LightningDataModule, list[Any]]:
    from lightning_deepvision.tasks import ReconstructionTask

    task = ReconstructionTask(backbone="mvp_tiny", input_size=(16, 16), lda=True)
    return task, _multiview(), []


def autoencoder() -> tuple[LightningModule, LightningDataModule, list[Any]]:
    from lightning_deepvision.callbacks import LayerwisePretraining
    from lightning_deepvision.datamodules import DigitsDataModule
    from lightning_deepvision.tasks import AutoencoderTask

    task = AutoencoderTask(backbone="deep_autoencoder_tiny", num_images=4)
    pretraining = LayerwisePretraining(
        [f"encoder.{i}" for i in range(4)],
        mirrors=[f"decoder.{i}" for i in (3, 2, 1, 0)],
        hidden=["bernoulli", "bernoulli", "bernoulli", "gaussian"],
        epochs=1,
        save_checkpoint=False,
        samples=0,
    )
    # 1797 digits: 269 validation, 449 test images.
    return task, DigitsDataModule(batch_size=64, eval_batch_size=64), [pretraining]


CASES: dict[str, Case] = {
    "deepid2": deepid2,
    "deepid2plus": deepid2plus,
    "patch_ensemble": patch_ensemble,
    "neurons": neurons,
    "alexnet": alexnet,
    "transfer": transfer,
    "attributes": attributes,
    "detection": detection,
    "parsing": parsing,
    "fip": fip,
    "mvp": mvp,
    "autoencoder": autoencoder,
}


def _trainer(world: int, root: Path, callbacks: list[Any], **overrides: Any) -> Trainer:
    return Trainer(
        accelerator="cpu",
        devices=world,
        strategy="ddp" if world > 1 else "auto",
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        default_root_dir=root,
        callbacks=callbacks,
        **overrides,
    )


def _floats(metrics: dict[str, Any]) -> dict[str, float]:
    return {k: float(v) for k, v in metrics.items()}


def main(out: Path, names: list[str], fit: bool) -> None:
    """Run the cases ``names`` and write their metrics (rank zero)."""
    torch.set_num_threads(1)
    world = int(os.environ.get("WORLD_SIZE", "1"))
    results: dict[str, dict[str, Any]] = {}
    for name in names:
        seed_everything(0)
        task, data, callbacks = CASES[name]()
        # Heads sized from the data module are initialised in ``setup``, from the random state
        # of that moment, which DDP's start-up changes (Lightning reseeds every process).
        # Sizes given up front build them in the constructor, from the seed.
        hparams = dict(task.hparams)
        sizes = {
            key: getattr(data, attribute)
            for key, attribute in type(task).data_hparams.items()  # type: ignore[attr-defined]
            if hparams.get(key) is None
        }
        if sizes:
            seed_everything(0)
            task = type(task)(**{**hparams, **sizes})
        root = out / name
        validated = _trainer(world, root, callbacks).validate(task, datamodule=data, verbose=False)
        tested = _trainer(world, root, callbacks).test(task, datamodule=data, verbose=False)
        results[name] = {"validate": _floats(validated[0]), "test": _floats(tested[0])}
        if fit:
            trainer = _trainer(world, root, callbacks, max_steps=2, limit_val_batches=1)
            trainer.fit(task, datamodule=data)
            results[name]["fit_steps"] = trainer.global_step
    if int(os.environ.get("RANK", "0")) == 0:
        (out / "metrics.json").write_text(json.dumps(results, indent=1))
    if torch.distributed.is_initialized():
        # Every rank leaves the group together, before the interpreter shuts down: a gloo
        # group still alive at finalisation can abort one process at exit (torch#179291).
        torch.distributed.barrier()
        torch.distributed.destroy_process_group()


if __name__ == "__main__":
    arguments = sys.argv[1:]
    selected = [a for a in arguments[1:] if not a.startswith("--")] or list(CASES)
    main(Path(arguments[0]), selected, "--fit" in arguments)
