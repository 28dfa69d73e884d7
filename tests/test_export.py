"""Export of every task's inference network, checked against its ``predict_step``.

The exported file is run (``torch.jit.load`` / ``onnxruntime``) and compared with what the task
itself predicts for the same batch: the export must compute what inference computes (softmax,
sigmoid, flip test, shape prior) and nothing else.
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import Tensor

from lightning_deepvision import export
from lightning_deepvision.cli import main, run
from lightning_deepvision.export import (
    ExportCheckError,
    example_inputs,
    export_task,
    input_shape,
    max_abs_difference,
)
from lightning_deepvision.tasks import (
    AttributesTask,
    AutoencoderTask,
    BaseTask,
    ClassificationTask,
    DetectionTask,
    ParsingTask,
    PatchEnsembleTask,
    ReconstructionTask,
    VerificationTask,
)

TASKS: dict[str, Callable[[], BaseTask]] = {
    "verification": lambda: VerificationTask(
        backbone="deepid2_tiny", num_identities=5, input_size=(55, 47)
    ),
    "patch_ensemble": lambda: PatchEnsembleTask(
        patch_net="deepid2_tiny",
        patches=[[0.0, 0.0, 1.0, 1.0], [0.0, 0.0, 0.6, 1.0, "grey"]],
        patch_size=(31, 31),
        input_size=(40, 36),
        num_identities=5,
        scoring="cosine",
    ),
    "classification": lambda: ClassificationTask(
        backbone="alexnet_tiny", num_classes=4, input_size=(67, 67)
    ),
    "dbn_classifier": lambda: ClassificationTask(
        backbone="dbn_mlp_tiny", num_classes=10, in_chans=1, input_size=(28, 28)
    ),
    "attributes": lambda: AttributesTask(
        backbone="anet_tiny", attribute_names=["smiling", "male", "young"], input_size=(55, 47)
    ),
    "parsing": lambda: ParsingTask(
        backbone="cross_modality_parsing_tiny", num_classes=11, shape_prior=True, prior_mix=0.5
    ),
    "detection": lambda: DetectionTask(backbone="udn_tiny"),
    "fip": lambda: ReconstructionTask(backbone="fip_tiny"),
    "mvp": lambda: ReconstructionTask(backbone="mvp_tiny"),
    "autoencoder": lambda: AutoencoderTask(backbone="deep_autoencoder_tiny"),
}
#: ONNX export takes seconds per model: MVP (two inputs, three outputs) runs by default, beside
#: the command's own test (a classifier); the others are ``slow``.
FAST_ONNX = ("mvp",)
SIZES = {"parsing": (32, 28)}


def predicted(task: BaseTask, inputs: tuple[Tensor, ...]) -> tuple[Tensor, ...]:
    """What the task's own inference gives for the export's inputs, in the export's order."""
    images = inputs[0]
    with torch.no_grad():
        if isinstance(task, VerificationTask):
            return (task.predict_step({"image": images}, 0)["embedding"],)
        if isinstance(task, ClassificationTask):
            out = task.predict_step({"image": images}, 0)
            return out["probabilities"], out["features"]
        if isinstance(task, AttributesTask):
            probabilities = task.predict_step({"image": images}, 0)["probabilities"]
            return (torch.stack([probabilities[n] for n in task.attribute_names], dim=1),)
        if isinstance(task, ParsingTask):
            mask = task.predict_step({"image": images}, 0)["mask"]
            return task.log_probabilities(images), mask
        if isinstance(task, DetectionTask):
            return (task.classify(task.preprocess(images)),)
        if isinstance(task, ReconstructionTask):
            batch = {"image": images}
            if len(inputs) > 1:  # the yaw of each view index, which predict_step maps back
                batch["target_yaw"] = task.backbone.yaw_table[inputs[1]]  # type: ignore[index]
            out = task.predict_step(batch, 0)
            keys = ("features", "reconstruction", "view_probabilities")
            return tuple(out[k] for k in keys if k in out)
        assert isinstance(task, AutoencoderTask)
        out = task.predict_step({"image": images}, 0)
        return tuple(out[k] for k in ("reconstruction", "code") if k in out)


def run_file(path: Path, fmt: str, names: export.ExportNames, inputs: tuple[Tensor, ...]):
    if fmt == "onnx":
        return export._run_onnx(path, names, inputs)
    return export._run_torchscript(path, inputs)


def check_export(name: str, fmt: str, tmp_path: Path) -> None:
    torch.manual_seed(0)
    task = TASKS[name]().eval()
    path = tmp_path / f"{name}.{'onnx' if fmt == 'onnx' else 'pt'}"
    result = export_task(task, path, fmt, input_size=SIZES.get(name))  # type: ignore[arg-type]
    assert path.is_file() and result.max_abs_difference <= 1e-4
    print(f"{name} {fmt}: max abs difference {result.max_abs_difference:.3g}")
    # Against predict_step, at a batch size the export was not traced with.
    inputs = example_inputs(task, result.input_shape, batch_size=5, seed=7)
    expected = predicted(task, inputs)
    actual = run_file(path, fmt, result.names, inputs)
    assert len(actual) == len(expected) == len(result.names.outputs)
    assert max_abs_difference(expected, actual) <= 1e-4


@pytest.mark.parametrize("name", list(TASKS))
def test_torchscript_export_computes_what_predict_step_does(name: str, tmp_path: Path) -> None:
    check_export(name, "torchscript", tmp_path)


@pytest.mark.parametrize("name", FAST_ONNX)
def test_onnx_export_matches_predict_step_in_onnxruntime(name: str, tmp_path: Path) -> None:
    check_export(name, "onnx", tmp_path)


@pytest.mark.slow
@pytest.mark.parametrize("name", [n for n in TASKS if n not in FAST_ONNX])
def test_onnx_export_of_every_task(name: str, tmp_path: Path) -> None:
    check_export(name, "onnx", tmp_path)


def test_input_size_comes_from_the_checkpoint_or_the_run_config(tmp_path: Path) -> None:
    assert input_shape(TASKS["verification"]()) == (3, 55, 47)
    assert input_shape(TASKS["detection"]()) == (3, 84, 28)  # RGB windows
    parsing = TASKS["parsing"]()
    with pytest.raises(ValueError, match="--input_size"):
        input_shape(parsing)
    run_dir = tmp_path / "run"
    (run_dir / "checkpoints").mkdir(parents=True)
    (run_dir / "config.yaml").write_text(
        "data:\n  class_path: x.SyntheticParsingDataModule\n  init_args:\n"
        "    image_size:\n    - 48\n    - 40\n"
    )
    assert input_shape(parsing, ckpt_path=run_dir / "checkpoints" / "last.ckpt") == (3, 48, 40)
    assert input_shape(parsing, input_size=(20, 16)) == (3, 20, 16)


def test_a_mismatch_beyond_the_tolerance_is_an_error(tmp_path: Path) -> None:
    task = TASKS["autoencoder"]()
    with pytest.raises(ExportCheckError, match="differ from PyTorch"):
        export_task(task, tmp_path / "ae.pt", "torchscript", tolerance=-1.0)


def _fit_through_the_cli(tmp_path: Path) -> Path:
    args = [
        "fit",
        "--model=ClassificationTask",
        "--model.backbone=alexnet_tiny",
        "--model.input_size=[67,67]",
        "--data=SyntheticObjectsDataModule",
        "--data.train_images_per_class=2",
        "--data.eval_images_per_class=1",
        "--data.render_size=32",
        "--data.resize_size=72",
        "--data.image_size=67",
        "--data.batch_size=8",
        "--data.num_workers=0",
        "--trainer.max_steps=1",
        "--trainer.limit_val_batches=0",
        "--trainer.logger=false",
        "--trainer.enable_progress_bar=false",
        f"--trainer.default_root_dir={tmp_path}",
    ]
    main(args=args)
    (checkpoint,) = (tmp_path / "checkpoints").glob("*.ckpt")
    return checkpoint


def _deepvision(monkeypatch: pytest.MonkeyPatch, *args: str) -> None:
    monkeypatch.setattr(sys, "argv", ["deepvision", *args])
    run()


def test_deepvision_export_reads_the_task_class_from_the_checkpoint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    checkpoint = _fit_through_the_cli(tmp_path / "run")
    output = tmp_path / "classifier.onnx"
    _deepvision(monkeypatch, "export", "--ckpt_path", str(checkpoint), "--output", str(output))
    printed = capsys.readouterr().out
    assert "Exported ClassificationTask" in printed and "max abs difference" in printed
    import onnxruntime

    session = onnxruntime.InferenceSession(str(output), providers=["CPUExecutionProvider"])
    assert [o.name for o in session.get_outputs()] == ["probabilities", "features"]
    probabilities = session.run(["probabilities"], {"images": torch.rand(4, 3, 67, 67).numpy()})
    assert probabilities[0].shape == (4, 10)  # dynamic batch axis, the data's 10 classes
    # Never overwritten unless asked.
    stamp = output.stat().st_mtime_ns
    with pytest.raises(SystemExit) as exited:
        _deepvision(monkeypatch, "export", "--ckpt_path", str(checkpoint), "--output", str(output))
    assert exited.value.code == 2 and "--overwrite" in capsys.readouterr().err
    assert output.stat().st_mtime_ns == stamp
    scripted = tmp_path / "classifier.pt"
    args = ["--ckpt_path", str(checkpoint), "--format", "torchscript", "--output", str(scripted)]
    _deepvision(monkeypatch, "export", *args, "--model", "ClassificationTask")
    assert torch.jit.load(str(scripted))(torch.rand(2, 3, 67, 67))[0].shape == (2, 10)


def test_a_checkpoint_without_its_class_needs_model(tmp_path: Path) -> None:
    from lightning_deepvision.testing.trainers import quiet_trainer

    task = TASKS["autoencoder"]()
    trainer = quiet_trainer(max_steps=0)
    trainer.strategy.connect(task)
    path = tmp_path / "plain.ckpt"
    trainer.save_checkpoint(path)
    output = tmp_path / "ae.pt"
    with pytest.raises(SystemExit):
        export.main(["--ckpt_path", str(path), "--output", str(output), "--format", "torchscript"])
    with pytest.raises(ValueError, match="--model"):
        export.load_task(path)
    with pytest.raises(ValueError, match="not a task class"):
        export.load_task(path, "NoSuchTask")
    with pytest.raises(ValueError, match=r"no module 'no\.such'"):
        export.load_task(path, "no.such.Task")
    args = ["--ckpt_path", str(path), "--output", str(output), "--format=torchscript"]
    result = export.main([*args, "--model", "AutoencoderTask"])
    assert result.task == "AutoencoderTask" and output.is_file()


def test_missing_onnx_packages_name_the_extra(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    real = importlib.util.find_spec

    def without_onnxscript(name: str, *args: Any) -> Any:
        return None if name == "onnxscript" else real(name, *args)

    monkeypatch.setattr(export.importlib.util, "find_spec", without_onnxscript)
    with pytest.raises(SystemExit):
        export.main(["--ckpt_path", str(tmp_path / "x.ckpt"), "--output", str(tmp_path / "x")])
    err = capsys.readouterr().err
    assert "onnxscript" in err and "pip install 'lightning-deepvision[export]'" in err
