"""Checkpoints load with ``torch.load(weights_only=True)`` only; a malicious pickle never runs.

The malicious checkpoint's ``__reduce__`` writes a marker file when unpickled. With
``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1`` (set in these tests), Lightning's own loading leaves
``weights_only`` to ``torch.load``, which then unpickles everything: the control test shows the
marker appearing there, so the other tests' "no marker" means the library refused the file.
"""

from __future__ import annotations

import builtins
import enum
import pickle
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from lightning.pytorch import LightningModule

from lightning_deepvision.cli import main
from lightning_deepvision.datamodules.synthetic_objects import SyntheticObjectsDataModule
from lightning_deepvision.tasks import (
    AttributesTask,
    AutoencoderTask,
    BaseTask,
    ClassificationTask,
    DetectionTask,
    ParsingTask,
    ReconstructionTask,
    VerificationTask,
)
from lightning_deepvision.tasks.safety import UnsafeCheckpointError, plain_values
from lightning_deepvision.testing.trainers import quiet_trainer

TINY_OBJECTS: dict[str, Any] = {
    "train_images_per_class": 2,
    "eval_images_per_class": 1,
    "render_size": 32,
    "resize_size": 72,
    "image_size": 67,
    "batch_size": 8,
    "num_workers": 0,
}


class _WritesMarker:
    """Unpickled, calls ``exec`` to write the marker file (what an attack would do)."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (builtins.exec, (f"open({str(self.marker)!r}, 'w').write('ran')",))


@pytest.fixture
def malicious(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    """``(checkpoint, marker)``: a checkpoint-shaped pickle whose loading writes ``marker``."""
    monkeypatch.setenv("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "1")
    marker = tmp_path / "marker"
    path = tmp_path / "malicious.ckpt"
    payload = {
        "state_dict": {},
        "hyper_parameters": {"backbone": "alexnet_tiny"},
        "pytorch-lightning_version": "2.6.0",
        "payload": _WritesMarker(marker),
    }
    torch.save(payload, path)
    return path, marker


def tiny_objects() -> SyntheticObjectsDataModule:
    return SyntheticObjectsDataModule(**TINY_OBJECTS)


def tiny_task(**kwargs: Any) -> ClassificationTask:
    return ClassificationTask(backbone="alexnet_tiny", input_size=(67, 67), **kwargs)


def test_control_plain_lightning_runs_the_payload(malicious: tuple[Path, Path]) -> None:
    path, marker = malicious
    with pytest.raises(Exception):  # noqa: B017 - whatever it raises after running the code
        LightningModule.load_from_checkpoint(path)
    assert marker.read_text() == "ran"


def test_load_from_checkpoint_refuses_without_running(malicious: tuple[Path, Path]) -> None:
    path, marker = malicious
    with pytest.raises(UnsafeCheckpointError, match=r"malicious\.ckpt.*refused.*exec"):
        ClassificationTask.load_from_checkpoint(path)
    assert not marker.exists()
    with pytest.raises(ValueError, match="weights_only=False is not accepted"):
        ClassificationTask.load_from_checkpoint(path, weights_only=False)
    assert not marker.exists()


def test_init_from_refuses_without_running(malicious: tuple[Path, Path], tmp_path: Path) -> None:
    path, marker = malicious
    trainer = quiet_trainer(max_steps=1, limit_val_batches=0, default_root_dir=tmp_path)
    with pytest.raises(Exception, match="Weights only load failed"):
        trainer.fit(
            tiny_task(init_from=str(path)), datamodule=SyntheticObjectsDataModule(**TINY_OBJECTS)
        )
    assert not marker.exists()


def test_fit_ckpt_path_refuses_without_running(
    malicious: tuple[Path, Path], tmp_path: Path
) -> None:
    path, marker = malicious
    trainer = quiet_trainer(max_steps=1, limit_val_batches=0, default_root_dir=tmp_path)
    with pytest.raises(UnsafeCheckpointError, match="malicious"):
        trainer.fit(
            tiny_task(), datamodule=SyntheticObjectsDataModule(**TINY_OBJECTS), ckpt_path=path
        )
    assert not marker.exists()
    args = [
        "fit",
        "--model=ClassificationTask",
        "--model.backbone=alexnet_tiny",
        "--model.input_size=[67,67]",
        "--data=SyntheticObjectsDataModule",
        *(f"--data.{key}={value}" for key, value in TINY_OBJECTS.items()),
        "--trainer.max_steps=1",
        "--trainer.logger=false",
        "--trainer.enable_progress_bar=false",
        f"--trainer.default_root_dir={tmp_path / 'cli'}",
        f"--ckpt_path={path}",
    ]
    # LightningCLI reads the hyperparameters of ``ckpt_path`` itself, with weights_only=True.
    with pytest.raises(pickle.UnpicklingError):
        main(args=args)
    assert not marker.exists()


class _Colour(enum.Enum):
    RED = "red"


@dataclass
class _Options:
    depth: int
    where: Path


def test_plain_values_makes_what_python_users_pass_loadable(tmp_path: Path) -> None:
    value = {
        "path": tmp_path / "a",
        "colour": _Colour.RED,
        "count": np.int64(3),
        "sizes": np.array([2, 3]),
        "options": _Options(2, Path("x")),
        "pair": (Path("p"), 1),
        "tensor": torch.ones(2),
    }
    plain = plain_values(value)
    assert plain["path"] == str(tmp_path / "a") and plain["colour"] == "red"
    assert plain["count"] == 3 and type(plain["count"]) is int and plain["sizes"] == [2, 3]
    assert plain["options"] == {"depth": 2, "where": "x"} and plain["pair"] == ("p", 1)
    torch.save(plain, tmp_path / "plain.pt")
    torch.load(tmp_path / "plain.pt", weights_only=True)
    torch.save(value, tmp_path / "raw.pt")
    with pytest.raises(Exception, match="Weights only load failed"):
        torch.load(tmp_path / "raw.pt", weights_only=True)  # why the conversion is needed


def test_a_checkpoint_with_python_typed_hparams_loads_weights_only(tmp_path: Path) -> None:
    # From Python, a user may give a NumPy number or a Path where a float or a str is declared.
    task = tiny_task(lr=np.float32(0.01))
    trainer = quiet_trainer(max_steps=1, limit_val_batches=0, default_root_dir=tmp_path)
    trainer.fit(task, datamodule=tiny_objects())
    task.hparams["init_from"] = tmp_path / "elsewhere.ckpt"
    path = tmp_path / "typed.ckpt"
    trainer.save_checkpoint(path)
    hparams = torch.load(path, weights_only=True)["hyper_parameters"]
    assert hparams["init_from"] == str(tmp_path / "elsewhere.ckpt")
    assert type(hparams["lr"]) is float
    restored = ClassificationTask.load_from_checkpoint(path, init_from=None)
    assert restored.hp.num_classes == 10


def _task_and_data(name: str, tiny_faces: Callable[..., Any]) -> tuple[BaseTask, Any]:
    """A tiny task of each kind with a seconds-fast data module that fits it."""
    from lightning_deepvision import datamodules as dm

    if name == "attributes":
        data = dm.SyntheticAttributesDataModule(
            num_train_identities=4,
            images_per_train_identity=2,
            num_eval_identities=2,
            images_per_eval_identity=2,
            batch_size=8,
            num_workers=0,
        )
        return AttributesTask(backbone="anet_tiny"), data
    if name == "classification":
        return tiny_task(), tiny_objects()
    if name == "verification":
        task = VerificationTask(backbone="deepid2_tiny", input_size=(55, 47))
        return task, tiny_faces(input_size=(55, 47))
    if name == "parsing":
        data = dm.SyntheticParsingDataModule(
            train_images=8,
            eval_images=4,
            images_per_identity=2,
            image_size=(32, 28),
            batch_size=4,
            num_workers=0,
        )
        return ParsingTask(backbone="cross_modality_parsing_tiny"), data
    if name == "detection":
        data = dm.SyntheticPedestriansDataModule(
            train_frames=2,
            val_frames=1,
            test_frames=1,
            frame_size=(120, 160),
            batch_size=4,
            num_workers=0,
        )
        return DetectionTask(backbone="udn_tiny"), data
    if name == "reconstruction":
        data = dm.SyntheticMultiViewDataModule(
            train_identities=4,
            eval_identities=3,
            images_per_identity=7,
            render_size=32,
            image_size=(16, 16),
            lda_reference_images=14,
            batch_size=7,
            num_workers=0,
        )
        return ReconstructionTask(backbone="mvp_tiny", input_size=(16, 16)), data
    assert name == "autoencoder"
    return AutoencoderTask(backbone="deep_autoencoder_tiny"), dm.DigitsDataModule(batch_size=50)


def _fit_save_and_load_weights_only(name: str, tiny_faces: Any, tmp_path: Path) -> None:
    task, data = _task_and_data(name, tiny_faces)
    trainer = quiet_trainer(max_steps=1, limit_val_batches=0, default_root_dir=tmp_path)
    trainer.fit(task, datamodule=data)
    path = tmp_path / f"{name}.ckpt"
    trainer.save_checkpoint(path)
    checkpoint = torch.load(path, weights_only=True)  # optimiser, loops, callbacks included
    assert checkpoint["optimizer_states"] and checkpoint["hyper_parameters"]
    type(task).load_from_checkpoint(path)


@pytest.mark.parametrize(
    "name",
    [
        "attributes",
        "classification",
        "verification",
        "parsing",
        "detection",
        "reconstruction",
        "autoencoder",
    ],
)
def test_every_tasks_checkpoint_loads_weights_only(
    name: str, tmp_path: Path, tiny_faces: Any
) -> None:
    _fit_save_and_load_weights_only(name, tiny_faces, tmp_path)
