"""Export a task's inference network to ONNX or TorchScript, checked against PyTorch.

Each task's export is an ``nn.Module`` that computes what its ``predict_step`` computes for an
image batch, so that the exported file needs nothing of this library:

=====================  ====================================================================
task                   exported inputs → outputs
=====================  ====================================================================
VerificationTask,      ``images`` → ``embedding`` (with the mirrored image's, per
PatchEnsembleTask      ``flip_test``: what pairs are scored on; the patches selected)
ClassificationTask     ``images`` → ``probabilities`` (softmax), ``features`` (top hidden
                       layer, for retrieval)
AttributesTask         ``images`` → ``probabilities`` (per attribute, sigmoid)
ParsingTask            ``images`` → ``log_probabilities`` (per pixel, shape prior mixed in),
                       ``mask`` (argmax label map)
DetectionTask          ``windows`` (RGB, ``window_size``) → ``logits`` (pedestrian score)
ReconstructionTask     ``images`` (+ MVP's target ``view`` indices) → ``features``,
                       ``reconstruction`` (+ MVP's ``view_probabilities``)
AutoencoderTask        ``images`` → ``reconstruction``, ``code`` (when the network encodes)
=====================  ====================================================================

The task class comes from the checkpoint (the ``class_path`` the CLI records in its
hyperparameters) or is named; the example input's shape from the hyperparameters
(``in_chans``, ``input_size``, ``window_size``), the backbone's fixed ``input_size``, or the
``config.yaml`` the CLI saved beside the checkpoint's run. The batch axis is dynamic. After
writing, the file is run (``onnxruntime`` or ``torch.jit.load``) on a fresh random batch of
another size and compared with PyTorch; a maximum absolute difference above ``tolerance`` is an
error. Nothing existing is overwritten unless asked.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, cast

import torch
import yaml
from lightning.pytorch.core.module import _jit_is_scripting
from torch import Tensor, nn

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
from lightning_deepvision.tasks.safety import load_weights_only

ExportFormat = Literal["onnx", "torchscript"]
#: The modules ONNX export and its check need, and the extra that installs them.
EXPORT_MODULES: tuple[str, ...] = ("onnx", "onnxscript", "onnxruntime")
EXPORT_EXTRA = "pip install 'lightning-deepvision[export]'"


class ExportDependencyError(ImportError):
    """ONNX export needs ``onnx``, ``onnxscript`` and ``onnxruntime`` (the ``export`` extra)."""


class ExportCheckError(RuntimeError):
    """The exported file's outputs differ from PyTorch's by more than the tolerance."""


# -- the inference modules ---------------------------------------------------------------------
class Embedder(nn.Module):
    """Face embedding of a verification task (``embed``: flip test included)."""

    def __init__(self, task: VerificationTask) -> None:
        super().__init__()
        self.task = task

    def forward(self, images: Tensor) -> Tensor:
        """``(B, D)`` embeddings."""
        return self.task.embed(images)


class PatchEmbedder(nn.Module):
    """:meth:`PatchEnsembleTask.embed` with the patch selection fixed when the module is made.

    The ensemble reads its selection buffer as Python booleans to choose the patches, which
    ``torch.export`` (ONNX) cannot do on a traced tensor; the selection of a trained model is
    fixed, so it is read here once and the same concatenation (and flip test) is spelt out.
    """

    def __init__(self, task: PatchEnsembleTask) -> None:
        super().__init__()
        self.task = task
        self.keep = [k for k, keep in enumerate(task.ensemble.selected.tolist()) if keep]

    def _features(self, faces: Tensor, mirror: bool) -> Tensor:
        embeddings = self.task.ensemble.patch_embeddings(faces, mirror=mirror)
        return torch.cat([embeddings[k] for k in self.keep], dim=1)

    def forward(self, images: Tensor) -> Tensor:
        """``(B, D)`` embeddings of the selected patches (and their mirrors)."""
        faces = self.task.prepare_images(images)
        embedding = self._features(faces, mirror=False)
        flip = self.task.hp.flip_test
        if flip == "none":
            return embedding
        mirrored = self._features(faces, mirror=True)
        if flip == "mean":
            return (embedding + mirrored) / 2
        return torch.cat([embedding, mirrored], dim=1)


class ClassProbabilities(nn.Module):
    """Class probabilities and top hidden-layer features, as ``predict_step`` returns them."""

    def __init__(self, task: ClassificationTask) -> None:
        super().__init__()
        self.task = task

    def forward(self, images: Tensor) -> tuple[Tensor, Tensor]:
        """``(probabilities (B, classes), features (B, D))``."""
        log_probs, features = self.task.classify(images)
        return log_probs.exp(), features


class AttributeProbabilities(nn.Module):
    """Per-attribute probabilities (sigmoid of the logits)."""

    def __init__(self, task: AttributesTask) -> None:
        super().__init__()
        self.task = task

    def forward(self, images: Tensor) -> Tensor:
        """``(B, attributes)`` probabilities, columns in ``attribute_names`` order."""
        return self.task(images).sigmoid()


class LabelMaps(nn.Module):
    """Per-pixel log-probabilities (shape prior mixed in) and their argmax label map."""

    def __init__(self, task: ParsingTask) -> None:
        super().__init__()
        self.task = task

    def forward(self, images: Tensor) -> tuple[Tensor, Tensor]:
        """``(log_probabilities (B, K, H, W), mask (B, H, W) int64)``."""
        log_probs = self.task.log_probabilities(images)
        return log_probs, log_probs.argmax(dim=1)


class WindowScorer(nn.Module):
    """Pedestrian logits of RGB windows (preprocessing included)."""

    def __init__(self, task: DetectionTask) -> None:
        super().__init__()
        self.task = task

    def forward(self, windows: Tensor) -> Tensor:
        """``(B,)`` logits of ``(B, 3, *window_size)`` windows."""
        return self.task(windows)


class Reconstructor(nn.Module):
    """Identity features and the reconstructed face (FIP: canonical view; MVP: ``view``)."""

    def __init__(self, task: ReconstructionTask) -> None:
        super().__init__()
        self.task = task

    def forward(self, images: Tensor, view: Tensor | None = None) -> tuple[Tensor, ...]:
        """``(features, reconstruction[, view_probabilities])``."""
        out = self.task(images, view)
        if "view_logits" in out:
            probabilities = out["view_logits"].softmax(dim=1)
            return out["features"], out["reconstruction"], probabilities
        return out["features"], out["reconstruction"]


class AutoencoderExport(nn.Module):
    """The reconstruction (sigmoid applied for ``loss="bce"``) and, where it has one, the code."""

    def __init__(self, task: AutoencoderTask) -> None:
        super().__init__()
        self.task = task

    def forward(self, images: Tensor) -> Tensor | tuple[Tensor, Tensor]:
        """``reconstruction`` or ``(reconstruction, code)``."""
        reconstruction = self.task.reconstruct(images)[1]
        encode = getattr(self.task.backbone, "encode", None)
        if callable(encode):
            return reconstruction, cast(Tensor, encode(self.task.prepare_images(images)))
        return reconstruction


@dataclass(frozen=True)
class ExportSpec:
    """How a task class exports: its inference module, input names and output names."""

    wrap: Callable[[Any], nn.Module]
    inputs: Callable[[Any], tuple[str, ...]]
    outputs: Callable[[Any], tuple[str, ...]]


def _images(task: Any) -> tuple[str, ...]:
    return ("images",)


def _reconstruction_outputs(task: Any) -> tuple[str, ...]:
    return ("features", "reconstruction", *(("view_probabilities",) if task.num_views else ()))


def _autoencoder_outputs(task: Any) -> tuple[str, ...]:
    has_code = callable(getattr(task.backbone, "encode", None))
    return ("reconstruction", *(("code",) if has_code else ()))


#: Task class → export; a subclass uses its nearest listed base class.
EXPORTS: dict[type[BaseTask], ExportSpec] = {
    PatchEnsembleTask: ExportSpec(PatchEmbedder, _images, lambda t: ("embedding",)),
    VerificationTask: ExportSpec(Embedder, _images, lambda t: ("embedding",)),
    ClassificationTask: ExportSpec(
        ClassProbabilities, _images, lambda t: ("probabilities", "features")
    ),
    AttributesTask: ExportSpec(AttributeProbabilities, _images, lambda t: ("probabilities",)),
    ParsingTask: ExportSpec(LabelMaps, _images, lambda t: ("log_probabilities", "mask")),
    DetectionTask: ExportSpec(WindowScorer, lambda t: ("windows",), lambda t: ("logits",)),
    ReconstructionTask: ExportSpec(
        Reconstructor,
        lambda t: ("images", "view") if t.num_views else ("images",),
        _reconstruction_outputs,
    ),
    AutoencoderTask: ExportSpec(AutoencoderExport, _images, _autoencoder_outputs),
}


def export_spec(task: BaseTask) -> ExportSpec:
    """The :class:`ExportSpec` of ``task``'s class (its nearest listed base).

    Raises:
        TypeError: For a task class none of :data:`EXPORTS` is a base of.
    """
    for kind in type(task).__mro__:
        if kind in EXPORTS:
            return EXPORTS[cast(type[BaseTask], kind)]
    known = ", ".join(k.__name__ for k in EXPORTS)
    raise TypeError(f"{type(task).__name__} has no export; exportable tasks: {known}")


# -- loading -----------------------------------------------------------------------------------
def _task_class(name: str) -> type[BaseTask]:
    """``ClassName`` of :mod:`lightning_deepvision.tasks` or a dotted ``module.ClassName``."""
    module_name, _, class_name = name.rpartition(".")
    try:
        module = importlib.import_module(module_name or "lightning_deepvision.tasks")
    except ModuleNotFoundError as error:
        raise ValueError(f"--model {name!r}: no module {module_name!r} ({error})") from error
    kind = getattr(module, class_name, None)
    if not (isinstance(kind, type) and issubclass(kind, BaseTask)):
        raise ValueError(
            f"--model {name!r} is not a task class: give a name of lightning_deepvision.tasks "
            "(e.g. VerificationTask) or a dotted path to a BaseTask subclass"
        )
    return kind


def load_task(ckpt_path: str | Path, model: str | None = None) -> BaseTask:
    """Load the task of a checkpoint (``weights_only=True``) in evaluation mode.

    Args:
        ckpt_path: A checkpoint written by ``fit`` (or ``Trainer.save_checkpoint``).
        model: Task class name or dotted path; by default the ``_class_path`` the CLI records
            in the checkpoint's hyperparameters.

    Raises:
        FileNotFoundError: If ``ckpt_path`` does not exist.
        ValueError: If the checkpoint does not say its task class and ``model`` is not given.
    """
    path = Path(ckpt_path)
    if not path.is_file():
        raise FileNotFoundError(f"--ckpt_path: no such checkpoint {path}")
    if model is None:
        content = load_weights_only(torch.load, path, map_location="cpu")
        hparams = content.get("hyper_parameters", {}) if isinstance(content, dict) else {}
        model = hparams.get("_class_path")
        if not isinstance(model, str):
            raise ValueError(
                f"{path}: the checkpoint does not record its task class (it was not written "
                "through the deepvision CLI): name it with --model, e.g. --model VerificationTask"
            )
    task = _task_class(model).load_from_checkpoint(path, map_location="cpu")
    return task.eval()


# -- example inputs ----------------------------------------------------------------------------
def _pair(value: Any) -> tuple[int, int] | None:
    if value is None:
        return None
    if isinstance(value, int):
        return (value, value)
    values = [int(v) for v in value]
    return (values[0], values[1]) if len(values) == 2 else None


def _run_config_size(ckpt_path: Path | None) -> tuple[int, int] | None:
    """The data module's ``input_size``/``image_size`` from the run's saved ``config.yaml``."""
    if ckpt_path is None:
        return None
    for folder in (ckpt_path.parent, ckpt_path.parent.parent):
        config = folder / "config.yaml"
        if not config.is_file():
            continue
        content = yaml.safe_load(config.read_text())
        data = content.get("data") if isinstance(content, dict) else None
        init = data.get("init_args", data) if isinstance(data, dict) else None
        if isinstance(init, dict):
            for key in ("input_size", "image_size"):
                size = _pair(init.get(key))
                if size is not None:
                    return size
    return None


def input_shape(
    task: BaseTask,
    input_size: Sequence[int] | None = None,
    ckpt_path: str | Path | None = None,
) -> tuple[int, int, int]:
    """``(channels, height, width)`` of one example input of ``task``'s export.

    The size is, in order: ``input_size``; the task's ``window_size`` (detection) or
    ``input_size`` hyperparameter; the backbone's fixed ``input_size`` (AlexNet) or timm
    ``pretrained_cfg``; the data module's size in the ``config.yaml`` saved with the run of
    ``ckpt_path``.

    Raises:
        ValueError: When none of them gives the size.
    """
    hp = task.hp
    channels = 3 if isinstance(task, DetectionTask) else int(hp.get("in_chans") or 3)
    size = _pair(input_size)
    if size is None and isinstance(task, DetectionTask):
        size = _pair(hp.get("window_size"))
    size = size or _pair(hp.get("input_size")) or _pair(getattr(task.backbone, "input_size", None))
    cfg = getattr(task.backbone, "pretrained_cfg", None)
    if size is None and isinstance(cfg, dict) and cfg.get("input_size"):
        size = _pair(cfg["input_size"][-2:])
    size = size or _run_config_size(Path(ckpt_path) if ckpt_path is not None else None)
    if size is None:
        raise ValueError(
            f"cannot tell the input size of this {type(task).__name__} from its checkpoint: "
            "give it, e.g. --input_size 64 56"
        )
    return channels, size[0], size[1]


def example_inputs(
    task: BaseTask, shape: tuple[int, int, int], batch_size: int, seed: int = 0
) -> tuple[Tensor, ...]:
    """A seeded random batch for ``task``'s export inputs (MVP also gets view indices)."""
    generator = torch.Generator().manual_seed(seed)
    images = torch.rand(batch_size, *shape, generator=generator)
    if "view" in export_spec(task).inputs(task):
        views = int(cast(ReconstructionTask, task).num_views)
        return images, torch.randint(views, (batch_size,), generator=generator)
    return (images,)


# -- export and check --------------------------------------------------------------------------
@dataclass(frozen=True)
class ExportNames:
    """Input and output names of an exported graph."""

    inputs: tuple[str, ...]
    outputs: tuple[str, ...]


def require_export_dependencies() -> None:
    """Raise :class:`ExportDependencyError` naming the extra when an ONNX module is missing."""
    missing = [name for name in EXPORT_MODULES if importlib.util.find_spec(name) is None]
    if missing:
        raise ExportDependencyError(
            f"ONNX export needs {', '.join(missing)} (not installed): {EXPORT_EXTRA}"
        )


def _as_tuple(out: Tensor | Sequence[Tensor]) -> tuple[Tensor, ...]:
    return (out,) if isinstance(out, Tensor) else tuple(out)


def _write_onnx(
    module: nn.Module, inputs: tuple[Tensor, ...], names: ExportNames, path: Path
) -> None:
    batch = torch.export.Dim("batch", min=1)
    dynamic = {name: {0: batch} for name in names.inputs}
    torch.onnx.export(
        module,
        inputs,
        str(path),
        input_names=list(names.inputs),
        output_names=list(names.outputs),
        dynamic_shapes=dynamic,
        dynamo=True,
        external_data=False,
        verbose=False,
    )


def _run_onnx(path: Path, names: ExportNames, inputs: tuple[Tensor, ...]) -> tuple[Tensor, ...]:
    import onnxruntime

    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    feeds = {name: x.numpy() for name, x in zip(names.inputs, inputs, strict=True)}
    return tuple(torch.from_numpy(y) for y in session.run(list(names.outputs), feeds))


def _run_torchscript(path: Path, inputs: tuple[Tensor, ...]) -> tuple[Tensor, ...]:
    loaded = torch.jit.load(str(path), map_location="cpu")
    with torch.no_grad():
        return _as_tuple(loaded(*inputs))


def max_abs_difference(expected: Sequence[Tensor], actual: Sequence[Tensor]) -> float:
    """The largest absolute difference over all outputs (``inf`` on a shape mismatch)."""
    worst = 0.0
    for want, got in zip(expected, actual, strict=True):
        if tuple(want.shape) != tuple(got.shape):
            return math.inf
        if want.numel():
            worst = max(worst, float((want.double() - got.double()).abs().max()))
    return worst


@dataclass(frozen=True)
class ExportResult:
    """What :func:`export_task` wrote and how well it matched PyTorch."""

    path: Path
    format: ExportFormat
    task: str
    input_shape: tuple[int, int, int]
    names: ExportNames
    max_abs_difference: float

    def summary(self) -> str:
        """One line for the console."""
        inputs = ", ".join(self.names.inputs)
        outputs = ", ".join(self.names.outputs)
        shape = "x".join(str(s) for s in self.input_shape)
        return (
            f"Exported {self.task} to {self.path} ({self.format}; inputs {inputs} of B x {shape}, "
            f"outputs {outputs}); max abs difference from PyTorch {self.max_abs_difference:.3g}"
        )


def export_task(
    task: BaseTask,
    output: str | Path,
    format: ExportFormat = "onnx",
    input_size: Sequence[int] | None = None,
    ckpt_path: str | Path | None = None,
    overwrite: bool = False,
    tolerance: float = 1e-4,
) -> ExportResult:
    """Write ``task``'s inference module to ``output`` and check it against PyTorch.

    Args:
        task: The task (in evaluation mode once exported).
        output: The file to write.
        format: ``"onnx"`` (``torch.onnx.export``, dynamo exporter, dynamic batch axis) or
            ``"torchscript"`` (``torch.jit.trace``; any batch size).
        input_size: ``(height, width)`` of the input when the checkpoint does not tell it.
        ckpt_path: The checkpoint ``task`` came from (its run's ``config.yaml`` may give the
            input size).
        overwrite: Replace ``output`` if it exists.
        tolerance: Largest accepted absolute difference between the file's outputs and
            PyTorch's on a random batch.

    Raises:
        FileExistsError: If ``output`` exists and ``overwrite`` is false.
        ExportDependencyError: For ONNX without ``onnx``/``onnxscript``/``onnxruntime``.
        ExportCheckError: If the outputs differ by more than ``tolerance``.
    """
    path = Path(output)
    if format not in ("onnx", "torchscript"):
        raise ValueError(f"format must be 'onnx' or 'torchscript', got {format!r}")
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path} exists: pass --overwrite to replace it")
    if format == "onnx":
        require_export_dependencies()
    spec = export_spec(task)
    task = task.cpu().eval()
    module = spec.wrap(task).eval()
    names = ExportNames(spec.inputs(task), spec.outputs(task))
    shape = input_shape(task, input_size, ckpt_path)
    inputs = example_inputs(task, shape, batch_size=2)
    path.parent.mkdir(parents=True, exist_ok=True)
    with torch.no_grad():
        if format == "onnx":
            _write_onnx(module, inputs, names, path)
        else:
            # Lightning's own guard for tracing a LightningModule: its ``trainer`` property
            # raises when no Trainer is attached, and tracing reads every attribute.
            # Its warnings (shapes read as Python numbers) are checked below instead: the file
            # is run at another batch size and compared with PyTorch.
            with _jit_is_scripting(), warnings.catch_warnings():
                warnings.simplefilter("ignore", torch.jit.TracerWarning)
                torch.jit.trace(module, inputs, check_trace=False).save(str(path))
        # Another batch size, so that the check also covers the dynamic batch axis.
        check = example_inputs(task, shape, batch_size=3, seed=1)
        expected = _as_tuple(module(*check))
    try:
        actual = (
            _run_onnx(path, names, check) if format == "onnx" else _run_torchscript(path, check)
        )
    except Exception as error:  # the runtime's own error types; a file that fails to run
        raise ExportCheckError(
            f"{path}: the exported file does not run on a random batch of 3 (is the batch axis "
            f"dynamic?): {error}"
        ) from error
    difference = max_abs_difference(expected, actual)
    result = ExportResult(path, format, type(task).__name__, shape, names, difference)
    if not difference <= tolerance:
        raise ExportCheckError(
            f"{path}: outputs differ from PyTorch's by {difference:.3g} (> {tolerance:g}) on a "
            "random batch of 3"
        )
    return result


# -- the command -------------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    """The ``deepvision export`` arguments."""
    parser = argparse.ArgumentParser(
        prog="deepvision export",
        description="Export a task checkpoint's inference network to ONNX or TorchScript, "
        "checked against PyTorch on a random batch.",
    )
    parser.add_argument("--ckpt_path", required=True, help="checkpoint written by fit")
    parser.add_argument("--format", choices=("onnx", "torchscript"), default="onnx")
    parser.add_argument("--output", required=True, help="file to write (.onnx, .pt)")
    parser.add_argument(
        "--model", default=None, help="task class (default: the one the checkpoint records)"
    )
    parser.add_argument(
        "--input_size",
        type=int,
        nargs=2,
        metavar=("HEIGHT", "WIDTH"),
        default=None,
        help="input size when the checkpoint does not tell it",
    )
    parser.add_argument("--overwrite", action="store_true", help="replace an existing output")
    parser.add_argument("--tolerance", type=float, default=1e-4)
    return parser


def main(args: Sequence[str] | None = None) -> ExportResult:
    """Run ``deepvision export`` with ``args`` (``sys.argv[2:]`` by default); print the result.

    Errors the user can fix (missing file, existing output, unknown size, missing extra) exit
    with status 2 and their message.
    """
    parser = build_parser()
    options = parser.parse_args(args)
    try:
        if options.format == "onnx":
            require_export_dependencies()
        if Path(options.output).exists() and not options.overwrite:
            raise FileExistsError(f"{options.output} exists: pass --overwrite to replace it")
        task = load_task(options.ckpt_path, options.model)
        result = export_task(
            task,
            options.output,
            options.format,
            input_size=options.input_size,
            ckpt_path=options.ckpt_path,
            overwrite=options.overwrite,
            tolerance=options.tolerance,
        )
    except (ExportDependencyError, FileExistsError, FileNotFoundError, ValueError) as error:
        parser.error(str(error))
    print(result.summary(), flush=True)
    return result
