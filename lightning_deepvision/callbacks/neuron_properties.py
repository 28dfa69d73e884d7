"""Sparse, selective and robust: the neuron analyses of DeepID2+ as a Lightning callback.

Sun, Wang and Tang, "Deeply learned face representations are sparse, selective, and robust",
CVPR 2015, analyse what DeepID2+'s FC-n neurons learned: about half of them fire on each face
and each fires on about half the faces (§5); their binary codes verify almost as well as the
real values (Table 4); single neurons classify identities and attributes with up to about 97 %
balanced accuracy, split into excitatory and inhibitory sets (§6); the top layers are the most
robust to occlusions met only at test time (§7). :class:`NeuronProperties` measures all of it,
on any task and backbone, during validation and test; the statistics themselves are in
:mod:`lightning_deepvision.analysis`, what the callback collects in
:mod:`~lightning_deepvision.callbacks.neuron_collection` (stored and gathered by
:mod:`~lightning_deepvision.callbacks.neuron_rows`) and how it analyses and writes it in
:mod:`~lightning_deepvision.callbacks.neuron_analysis`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal, get_args

from lightning.pytorch import Callback, LightningModule, Trainer
from lightning.pytorch.trainer.states import TrainerFn

from lightning_deepvision.analysis import Activation, ActivationRecorder
from lightning_deepvision.callbacks.neuron_analysis import _NeuronAnalysis
from lightning_deepvision.callbacks.neuron_collection import LabelledImagesData

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["ANALYSES", "AnalysisName", "LabelledImagesData", "NeuronProperties", "default_layers"]

AnalysisName = Literal["sparsity", "binary_codes", "selectivity", "probes", "robustness"]
ANALYSES: tuple[str, ...] = get_args(AnalysisName)

# The image entries of a batch whose forward calls are recorded.
_IMAGE_KEYS = ("image", "image1", "image2")
_OCCLUSION_LEVELS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7)


def default_layers(pl_module: LightningModule) -> dict[str, str]:
    """DeepID2+'s FC-1…FC-4 (DeepID2: its DeepID2 layer) in a task with a DeepID backbone.

    The hooked modules are the FC layers' linear maps; with ``activation="relu"`` their
    recorded outputs are exactly the levels of ``DeepID.forward_levels`` in evaluation mode.

    Raises:
        ValueError: If the module has no DeepID ``backbone``: name the layers.
    """
    from lightning_deepvision.models.deepid import DeepID

    backbone = getattr(pl_module, "backbone", None)
    if not isinstance(backbone, DeepID):
        raise ValueError(
            f"NeuronProperties has default layers only for DeepID backbones; "
            f"{type(pl_module).__name__} has {type(backbone).__name__}: pass "
            "layers={'name': 'module.path', ...} (see model.named_modules())"
        )
    if not backbone.aux_fcs:
        return {"DeepID2": "backbone.fc"}
    layers = {f"FC-{i + 1}": f"backbone.aux_fcs.{i}" for i in range(len(backbone.aux_fcs))}
    layers[f"FC-{len(backbone.aux_fcs) + 1}"] = "backbone.fc"
    return layers


class NeuronProperties(_NeuronAnalysis, Callback):
    """Measure how sparse, selective and robust a network's neurons are (DeepID2+, CVPR 2015).

    Forward hooks on the chosen layers (by module name; DeepID2+'s FC-1…FC-4 by default)
    record the activations of the images the task evaluates during validation and test. The
    task's own forward calls are used, not repeated: only calls on the batch's own image
    tensors (``image``, ``image1``, ``image2``) are recorded, so mirrored test-time copies
    are left out. Memory is bounded: per image, only its packed binary code (a bit a neuron)
    is kept, and per pair its real-valued score, up to ``max_stored`` images; labelled
    activations up to ``max_images``; pair inputs for the robustness test up to
    ``robustness_pairs``. At the end of the evaluation everything is gathered from all
    processes, repeats of the padded distributed sampler are dropped by sample ``index``, and
    the analyses below run on every process alike (the numbers do not depend on the number of
    processes); rank zero writes the files and pictures.

    - ``sparsity`` (§5): share of neurons active (``> active_threshold``) per image and of
      images per neuron, mean ± std and histograms.
    - ``binary_codes`` (Table 4): LFW-protocol verification accuracy of each layer's binary
      codes by Hamming distance, beside its real-valued accuracy (``scoring``), on the pairs
      the task evaluates.
    - ``selectivity`` (§6): each neuron's balanced single-neuron accuracy (best threshold,
      two-fold cross-validated within identities) for every attribute and for the
      ``max_identities`` identities with most images; the best neurons of each label;
      excitatory and inhibitory counts among neurons of at least ``selective_accuracy``;
      neurons ranked by mean response; per-attribute histograms and the top-activating images.
    - ``probes``: cross-validated (identity-disjoint) linear-probe accuracy of each attribute
      from each layer, averaged separately over identity-related and unrelated attributes.
    - ``robustness`` (§7): verification accuracy of each layer on the evaluation pairs with
      10–70 % of the face area occluded from the bottom, and with random blocks of 10–70 % of
      the image side, applied to both images at test time.

    Labelled images come from the evaluation batches when they carry ``identity`` / ``label``
    or ``attributes``, and otherwise from a data module implementing
    :class:`LabelledImagesData`. Analyses whose data are missing are skipped. Pair scores of a
    layer use one view per image (the task's mirrored copies are not recorded), so the FC-4
    accuracies here may differ from the task's own, flip-augmented ones.

    Cost: what is computed during the evaluation (hooks, codes, scores) adds little to it
    (``benchmarks/neuron_properties.py``); the end-of-evaluation passes cost a fixed number of
    forward passes, whatever the size of the evaluation: ``max_images`` for labelled images
    read from the data module, and ``2 × 15 × robustness_pairs`` for the occlusion test. The
    passes draw no global random numbers, so the run continues as it would without them.

    Results: scalars ``neurons/<stage>/<layer>/<name>`` through ``pl_module.log``; the whole
    analysis in :attr:`results` and in ``<log_dir>/neuron_properties.json`` (one entry per
    stage, the latest run of each; NaN written as ``null``); pictures
    (``neurons/<stage>/sparsity``, ``selectivity``, ``attribute_histograms``, ``top_images``,
    ``probes``, ``robustness``) to Weights & Biases and TensorBoard and as
    ``neurons_<stage>_<name>.png`` in the log directory.

    Args:
        layers: Display name → module name (``model.named_modules()``), or a list of module
            names; ``None``: :func:`default_layers`.
        activation: Applied to each recorded output (see
            :class:`~lightning_deepvision.analysis.ActivationRecorder`): ``"relu"`` suits
            linear layers followed by a separate ReLU, as DeepID2+'s FC-n.
        analyses: Which analyses to run (default: all of :data:`ANALYSES`).
        every_n_epochs: During ``fit``, analyse every n-th validation epoch; the last epoch is
            always analysed; 0: the last only. ``validate`` and ``test`` are always analysed.
        active_threshold: A neuron is active when its activation exceeds this (DeepID2+: 0).
        scoring: Real-valued pair score of each layer: ``"cosine"`` or ``"l2"``.
        max_stored: Images whose codes are kept for sparsity and binary codes (a pair is two).
        max_images: Labelled images analysed for selectivity and probes.
        max_identities: Identities whose selectivity is measured (most images first).
        cross_validate: Two-fold cross-validated single-neuron accuracy (as DeepID2+); else
            in-sample.
        selective_accuracy: Accuracy from which a neuron counts as selective in the
            excitatory / inhibitory counts.
        identity_related: Names of the identity-related attributes; ``None`` infers them:
            those whose :func:`~lightning_deepvision.analysis.identity_consistency` is at least
            ``consistency_threshold``.
        consistency_threshold: See ``identity_related``.
        occlusion_fractions: Shares of the face area occluded from the bottom.
        block_fractions: Sides of the random blocks as shares of the image's shorter side.
        occlusion_fill: Value of the occluded pixels (0: the mean face after normalisation).
        robustness_pairs: Evaluation pairs tested under occlusion.
        top_images: Top-activating images shown per neuron.
        pictures: Draw and log the pictures.
        seed: Seed of the random block positions.
        filename: Name of the JSON file in the log directory.
    """

    def __init__(
        self,
        layers: dict[str, str] | list[str] | None = None,
        activation: Activation = "relu",
        analyses: list[AnalysisName] | None = None,
        every_n_epochs: int = 1,
        active_threshold: float = 0.0,
        scoring: Literal["cosine", "l2"] = "cosine",
        max_stored: int = 20_000,
        max_images: int = 2_000,
        max_identities: int = 64,
        cross_validate: bool = True,
        selective_accuracy: float = 0.75,
        identity_related: list[str] | None = None,
        consistency_threshold: float = 0.9,
        occlusion_fractions: Sequence[float] = _OCCLUSION_LEVELS,
        block_fractions: Sequence[float] = _OCCLUSION_LEVELS,
        occlusion_fill: float = 0.0,
        robustness_pairs: int = 600,
        top_images: int = 8,
        pictures: bool = True,
        seed: int = 0,
        filename: str = "neuron_properties.json",
    ) -> None:
        super().__init__()
        chosen = list(ANALYSES if analyses is None else analyses)
        unknown = sorted(set(chosen) - set(ANALYSES))
        if unknown:
            raise ValueError(f"unknown analyses {unknown}; choose from {list(ANALYSES)}")
        if every_n_epochs < 0:
            raise ValueError(f"every_n_epochs must be >= 0, got {every_n_epochs}")
        if scoring not in ("cosine", "l2"):
            raise ValueError(f"scoring must be 'cosine' or 'l2', got {scoring!r}")
        for name, value in (
            ("max_stored", max_stored),
            ("max_images", max_images),
            ("max_identities", max_identities),
            ("robustness_pairs", robustness_pairs),
            ("top_images", top_images),
        ):
            if value < 1:
                raise ValueError(f"{name} must be positive, got {value}")
        fractions = [*occlusion_fractions, *block_fractions]
        if any(not 0.0 < f <= 1.0 for f in fractions):
            raise ValueError(f"occlusion and block fractions must be in (0, 1], got {fractions}")
        self.layers: dict[str, str] | None = (
            None
            if layers is None
            else dict(layers)
            if isinstance(layers, Mapping)
            else {name: name for name in layers}
        )
        self.activation: Activation = activation
        self.analyses = chosen
        self.every_n_epochs = every_n_epochs
        self.active_threshold = float(active_threshold)
        self.scoring = scoring
        self.max_stored = max_stored
        self.max_images = max_images
        self.max_identities = max_identities
        self.cross_validate = cross_validate
        self.selective_accuracy = float(selective_accuracy)
        self.identity_related = None if identity_related is None else list(identity_related)
        self.consistency_threshold = float(consistency_threshold)
        self.occlusion_fractions = [float(f) for f in occlusion_fractions]
        self.block_fractions = [float(f) for f in block_fractions]
        self.occlusion_fill = float(occlusion_fill)
        self.robustness_pairs = robustness_pairs
        self.top_images = top_images
        self.pictures = pictures
        self.seed = seed
        self.filename = filename
        self.recorder: ActivationRecorder | None = None
        #: The latest analysis of each stage (what the JSON file holds).
        self.results: dict[str, dict[str, Any]] = {}
        self._widths: dict[str, int] = {}
        self._attribute_names: list[str] | None = None
        self._figures: dict[str, Figure] = {}
        self._reset(1)

    # -- lifecycle -----------------------------------------------------------------------------
    def setup(self, trainer: Trainer, pl_module: LightningModule, stage: str) -> None:
        """Resolve the layers and build the hooks (registered only while analysing)."""
        if self.recorder is None or self.recorder.model is not pl_module:
            layers = self.layers if self.layers is not None else default_layers(pl_module)
            self.recorder = ActivationRecorder(pl_module, layers, self.activation)

    def teardown(self, trainer: Trainer, pl_module: LightningModule, stage: str) -> None:
        """Remove the hooks."""
        if self.recorder is not None:
            self.recorder.detach()

    def _analysing(self, trainer: Trainer) -> bool:
        if trainer.sanity_checking:
            return False
        if trainer.state.fn != TrainerFn.FITTING:
            return True
        if self.every_n_epochs and (trainer.current_epoch + 1) % self.every_n_epochs == 0:
            return True
        return _last_fit_epoch(trainer)

    def _start(self, trainer: Trainer) -> None:
        if self.recorder is None or not self._analysing(trainer):
            return
        self._reset(trainer.world_size)
        self.recorder.attach()

    def _batch_start(self, batch: Any) -> None:
        if self.recorder is not None and self.recorder.attached and isinstance(batch, Mapping):
            self.recorder.watch({k: batch[k] for k in _IMAGE_KEYS if k in batch})

    def _batch_end(self, trainer: Trainer, batch: Any) -> None:
        if self.recorder is None or not self.recorder.attached:
            return
        records = self.recorder.take()
        if isinstance(batch, Mapping) and records:
            self._consume(trainer, records, batch)

    def _end(self, trainer: Trainer, pl_module: LightningModule, stage: str) -> None:
        if self.recorder is None or not self.recorder.attached:
            return
        try:
            results = self._analyse(trainer, pl_module, stage)
        finally:
            self.recorder.detach()
            self._reset(trainer.world_size)
        self._publish(trainer, pl_module, stage, results)

    def on_validation_epoch_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        """Register the hooks if this validation is analysed."""
        self._start(trainer)

    def on_test_epoch_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        """Register the hooks."""
        self._start(trainer)

    def on_validation_batch_start(
        self,
        trainer: Trainer,
        pl_module: LightningModule,
        batch: Any,
        batch_idx: int,
        dataloader_idx: int = 0,
    ) -> None:
        """Watch the batch's image tensors."""
        self._batch_start(batch)

    def on_test_batch_start(
        self,
        trainer: Trainer,
        pl_module: LightningModule,
        batch: Any,
        batch_idx: int,
        dataloader_idx: int = 0,
    ) -> None:
        """Watch the batch's image tensors."""
        self._batch_start(batch)

    def on_validation_batch_end(
        self,
        trainer: Trainer,
        pl_module: LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
        dataloader_idx: int = 0,
    ) -> None:
        """Store what the hooks recorded."""
        self._batch_end(trainer, batch)

    def on_test_batch_end(
        self,
        trainer: Trainer,
        pl_module: LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
        dataloader_idx: int = 0,
    ) -> None:
        """Store what the hooks recorded."""
        self._batch_end(trainer, batch)

    def on_validation_epoch_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        """Analyse, log and write."""
        self._end(trainer, pl_module, "val")

    def on_test_epoch_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        """Analyse, log and write."""
        self._end(trainer, pl_module, "test")


def _last_fit_epoch(trainer: Trainer) -> bool:
    # fast_dev_run sets max_epochs and max_steps to 1.
    max_epochs = trainer.max_epochs
    if max_epochs is not None and max_epochs >= 0 and trainer.current_epoch + 1 >= max_epochs:
        return True
    max_steps = trainer.max_steps
    return max_steps is not None and max_steps >= 0 and trainer.global_step >= max_steps
