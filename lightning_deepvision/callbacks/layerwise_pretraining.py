"""Greedy layer-wise unsupervised pre-training of any task's layers, before its supervised fit.

Hinton, Osindero, Teh, "A Fast Learning Algorithm for Deep Belief Nets", Neural Computation
2006, and Hinton & Salakhutdinov, "Reducing the Dimensionality of Data with Neural Networks",
Science 2006: each layer is trained, bottom up, as an RBM on the outputs of the layers below
it (already pre-trained), then the whole network is fine-tuned with back-propagation. Bengio
et al. (NIPS 2006) and Vincent et al. (ICML 2008) do the same with (denoising) auto-encoders.
No maintained library offers it for Lightning; here it is one callback, in the same ``fit``.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import torch
from lightning.pytorch import Callback, LightningModule, Trainer
from torch import Tensor, nn
from torchvision.utils import make_grid

from lightning_deepvision.callbacks.pictures import log_image
from lightning_deepvision.callbacks.pretraining_units import LayerLearner, Mode, layer_input
from lightning_deepvision.models.layers.autoencoder import Noise
from lightning_deepvision.models.layers.rbm import RBM, UnitType

__all__ = ["LayerwisePretraining"]


def _per_layer(value: Any, count: int, what: str) -> list[Any]:
    values = list(value) if isinstance(value, list | tuple) else [value] * count
    if len(values) != count:
        raise ValueError(f"{what} needs one value per layer ({count}), got {len(values)}")
    return values


class LayerwisePretraining(Callback):
    """Pre-train the named layers greedily, bottom up, when ``fit`` starts; then fine-tune.

    At the start of training (after a resume is restored, before the first supervised step)
    each layer of ``layers`` is trained for its ``epochs`` on the training data loader, its
    input being what the network's own forward feeds it (the outputs of the layers below,
    already pre-trained): as an :class:`~lightning_deepvision.models.layers.rbm.RBM` sharing
    the layer's weight and bias (CD-k or persistent CD, Hinton's momentum schedule and weight
    cost), or as an :class:`~lightning_deepvision.models.layers.autoencoder.AutoencoderLayer`
    (plain or denoising, tied or not, fully connected or convolutional). Supervised training
    then goes on as usual in the same ``fit``.

    Logged per layer and epoch (to every logger, and kept in :attr:`history`):
    ``pretraining/<layer>/reconstruction_error`` (training batches, squared error per sample),
    ``.../val_reconstruction_error`` and, for RBMs, ``.../free_energy_gap`` (mean free energy
    of held-out minus training data; growing, it says the RBM overfits — Hinton, "A Practical
    Guide to Training RBMs", 2010, §6). A grid of Gibbs samples of the first RBM is pictured
    (``pretraining/gibbs_samples``) when its input is the image.

    **Resuming.** After every pre-training epoch the whole training state (the network, this
    callback's progress, the RBM's visible biases, optimiser and random state) is saved to
    ``<log dir>/checkpoints/pretraining.ckpt``; ``fit(ckpt_path=...)`` on it continues with the
    next epoch, and a checkpoint of the supervised phase skips pre-training.

    **DDP.** Each process trains on its shard of the data (Lightning's distributed sampler)
    and the gradients of every update are averaged over the processes, so the weights stay
    synchronised.

    **Freezing.** ``freeze_epochs`` keeps the pre-trained layers fixed (no gradients) for the
    first supervised epochs, training only what lies above them (Hinton's
    ``backpropclassify.m`` trains the top layer alone for 5 epochs); afterwards the whole
    network is fine-tuned. Under DDP, use ``strategy="ddp_find_unused_parameters_true"``.

    Args:
        layers: Dotted names of the layers in ``module``, bottom up (e.g. ``["layers.0",
            "layers.1", "layers.2"]``).
        mode: ``"rbm"`` or ``"autoencoder"``.
        epochs: Pre-training epochs, one value or one per layer (0: the layer is skipped; all
            0: no pre-training).
        lr: Learning rates, one or one per layer (Hinton: 0.1; 0.001 for linear units).
        module: Attribute of the task whose forward feeds the layers (``""``: the task).
        input_key: Key of the batch that ``module`` takes.
        visible: Units of the first layer's input (``"gaussian"`` for standardised real data).
        hidden: Units of each layer's output: ``"bernoulli"`` (logistic) or ``"gaussian"``
            (linear, the code layer of a deep auto-encoder); one or one per layer. A layer's
            visible units are the units of the layer below.
        k: Gibbs steps of CD-k (or PCD-k).
        persistent: Persistent contrastive divergence (Tieleman 2008) instead of CD.
        num_chains: Persistent chains.
        initial_momentum: Momentum of the first ``momentum_epochs`` epochs (Hinton: 0.5).
        momentum: Momentum afterwards (Hinton: 0.9).
        momentum_epochs: Epochs at ``initial_momentum`` (Hinton: 5).
        weight_cost: L2 cost on the weights (Hinton: 0.0002).
        learn_sigma: Learn the visible standard deviations of Gaussian RBMs.
        tied: Tied decoder weights (auto-encoder mode).
        noise: ``"mask"`` or ``"gaussian"`` corruption (denoising auto-encoders).
        noise_level: Corruption level (0: plain auto-encoders).
        mirrors: Decoder layers receiving each layer's generative weights (``σ Wᵀ`` and the
            visible biases), one per layer or ``None`` — the unrolling of a deep auto-encoder
            (``["decoder.3", "decoder.2", "decoder.1", "decoder.0"]``).
        freeze_epochs: Supervised epochs with the pre-trained layers frozen.
        eval_batches: Validation (and training) batches of the per-epoch measures.
        samples: Gibbs chains pictured (0: no picture).
        gibbs_steps: Gibbs steps of the pictured chains.
        save_checkpoint: Save the resumable checkpoint after every pre-training epoch.
        seed: Seed of the sampling and corruption noise.

    Attributes:
        history: One dict per layer and epoch of the logged measures.
    """

    def __init__(
        self,
        layers: list[str],
        mode: Mode = "rbm",
        epochs: int | list[int] = 10,
        lr: float | list[float] = 0.1,
        module: str = "backbone",
        input_key: str = "image",
        visible: UnitType = "bernoulli",
        hidden: UnitType | list[UnitType] = "bernoulli",
        k: int = 1,
        persistent: bool = False,
        num_chains: int = 100,
        initial_momentum: float = 0.5,
        momentum: float = 0.9,
        momentum_epochs: int = 5,
        weight_cost: float = 0.0002,
        learn_sigma: bool = False,
        tied: bool = True,
        noise: Noise = "mask",
        noise_level: float = 0.0,
        mirrors: list[str] | None = None,
        freeze_epochs: int = 0,
        eval_batches: int = 4,
        samples: int = 64,
        gibbs_steps: int = 200,
        save_checkpoint: bool = True,
        seed: int = 0,
    ) -> None:
        super().__init__()
        if not layers:
            raise ValueError("layers must name at least one layer")
        if mode not in ("rbm", "autoencoder"):
            raise ValueError(f"mode must be 'rbm' or 'autoencoder', got {mode!r}")
        count = len(layers)
        self.layers = list(layers)
        self.mode: Mode = mode
        self.epochs = [int(e) for e in _per_layer(epochs, count, "epochs")]
        self.lr = [float(r) for r in _per_layer(lr, count, "lr")]
        self.hidden = _per_layer(hidden, count, "hidden")
        self.visible = [visible, *self.hidden[:-1]]
        self.mirrors: list[str | None] = (
            [None] * count if mirrors is None else list(_per_layer(mirrors, count, "mirrors"))
        )
        if min(self.epochs) < 0 or min(self.lr) <= 0 or k < 1:
            raise ValueError("epochs must be >= 0, lr > 0 and k >= 1")
        self.module, self.input_key = module, input_key
        self.k, self.persistent, self.num_chains = k, persistent, num_chains
        self.initial_momentum, self.final_momentum = initial_momentum, momentum
        self.momentum_epochs, self.weight_cost = momentum_epochs, weight_cost
        self.learn_sigma, self.tied, self.noise, self.noise_level = (
            learn_sigma,
            tied,
            noise,
            noise_level,
        )
        self.freeze_epochs, self.eval_batches = freeze_epochs, eval_batches
        self.samples, self.gibbs_steps = samples, gibbs_steps
        self.save_checkpoint, self.seed = save_checkpoint, seed
        self.history: list[dict[str, float]] = []
        # Progress: the layer being trained, its next epoch, whether all is done.
        self.layer_index, self.epoch, self.done = 0, 0, False
        self._learner: LayerLearner | None = None
        self._resumed_learner: dict[str, Any] | None = None
        self._generator_state: Tensor | None = None

    # -- resolution ------------------------------------------------------------------------------
    def _root(self, pl_module: LightningModule) -> nn.Module:
        return pl_module.get_submodule(self.module) if self.module else pl_module

    def _layer(self, pl_module: LightningModule, name: str) -> nn.Module:
        try:
            return self._root(pl_module).get_submodule(name)
        except AttributeError:
            names = [
                n
                for n, m in self._root(pl_module).named_modules()
                if isinstance(m, nn.Linear | nn.Conv2d)
            ]
            raise ValueError(
                f"LayerwisePretraining: no layer {name!r} in {self.module or 'the task'}; its "
                f"Linear/Conv2d layers are {names}"
            ) from None

    def pretrained_parameters(self, pl_module: LightningModule) -> list[nn.Parameter]:
        """The parameters of the pre-trained layers (those ``freeze_epochs`` freezes)."""
        return [
            p
            for name, epochs in zip(self.layers, self.epochs, strict=True)
            if epochs > 0
            for p in self._layer(pl_module, name).parameters()
        ]

    # -- state -----------------------------------------------------------------------------------
    @property
    def state_key(self) -> str:
        """Identifies the callback's state in a checkpoint by its layers and mode.

        Not by class name: a subclass (or a second instance pre-training other layers) resumes
        from the state of the run that saved it.
        """
        return f"LayerwisePretraining{{'layers': {self.layers}, 'mode': {self.mode!r}}}"

    def state_dict(self) -> dict[str, Any]:
        """Progress, history, the current layer's learner and the random state."""
        return {
            "layer_index": self.layer_index,
            "epoch": self.epoch,
            "done": self.done,
            "history": list(self.history),
            "learner": None if self._learner is None else self._learner.state_dict(),
            "generator": self._generator_state,
        }

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore :meth:`state_dict` (pre-training continues where it stopped)."""
        self.layer_index, self.epoch = int(state_dict["layer_index"]), int(state_dict["epoch"])
        self.done = bool(state_dict["done"])
        self.history = list(state_dict["history"])
        self._resumed_learner = state_dict.get("learner")
        self._generator_state = state_dict.get("generator")

    # -- hooks -----------------------------------------------------------------------------------
    def on_train_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        """Pre-train every layer not yet done (the training loader is ready by now)."""
        if self.done or not any(self.epochs):
            self.done = True
            return
        root = self._root(pl_module)
        was_training = root.training
        root.eval()  # the layers below give their deterministic outputs (no dropout)
        try:
            self._pretrain(trainer, pl_module, root)
        finally:
            root.train(was_training)
        self.done, self._learner = True, None

    def on_train_epoch_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        """Freeze the pre-trained layers for the first ``freeze_epochs``, then release them."""
        if self.freeze_epochs > 0:
            frozen = trainer.current_epoch < self.freeze_epochs
            for parameter in self.pretrained_parameters(pl_module):
                parameter.requires_grad_(not frozen)

    # -- the work --------------------------------------------------------------------------------
    def _batches(self, trainer: Trainer, loader: Any, limit: float) -> Any:
        for index, batch in enumerate(loader):
            if index >= limit:
                return
            yield trainer.strategy.batch_to_device(batch)[self.input_key]

    def _pretrain(self, trainer: Trainer, pl_module: LightningModule, root: nn.Module) -> None:
        device = pl_module.device
        generator = torch.Generator(device=device)
        generator.manual_seed(self.seed + trainer.global_rank)
        if self._generator_state is not None:
            generator.set_state(self._generator_state)
        fast = bool(getattr(trainer, "fast_dev_run", False))
        limit = float(trainer.num_training_batches)
        datamodule = getattr(trainer, "datamodule", None)
        val_loader = datamodule.val_dataloader() if datamodule is not None else None
        reduce = (
            (lambda t: trainer.strategy.reduce(t, reduce_op="mean"))
            if trainer.world_size > 1
            else None
        )
        while self.layer_index < len(self.layers):
            index = self.layer_index
            name, epochs = self.layers[index], 1 if fast else self.epochs[index]
            layer = self._layer(pl_module, name)
            if self.epochs[index] == 0:
                self.layer_index, self.epoch = index + 1, 0
                continue
            learner = self._make_learner(index, layer)
            if self._resumed_learner is not None:
                learner.load_state_dict(self._resumed_learner)
                self._resumed_learner = None
            self._learner = learner

            def inputs(batch: Tensor, layer: nn.Module = layer, name: str = name) -> Tensor:
                x = layer_input(root, layer, batch, name)
                return x.flatten(1) if isinstance(layer, nn.Linear) else x

            held_out = []
            if val_loader is not None:
                held_out = [
                    inputs(b) for b in self._batches(trainer, val_loader, self.eval_batches)
                ]
            while self.epoch < epochs:
                momentum = (
                    self.initial_momentum
                    if self.epoch < self.momentum_epochs
                    else self.final_momentum
                )
                learner.set_momentum(momentum)
                errors: list[Tensor] = []
                seen: list[Tensor] = []
                for batch in self._batches(trainer, trainer.train_dataloader, limit):
                    x = inputs(batch)
                    errors.append(learner.step(x, generator, reduce))
                    if len(seen) < self.eval_batches:
                        seen.append(x)
                self.epoch += 1
                self._generator_state = generator.get_state()
                self._log_epoch(trainer, learner, index, errors, seen, held_out, reduce)
                if self.save_checkpoint and not fast and self.epoch < epochs:
                    self._save(trainer)
            learner.finish(
                None
                if self.mirrors[index] is None
                else self._layer(pl_module, str(self.mirrors[index]))
            )
            if index == 0 and isinstance(learner.module, RBM) and self.samples > 0:
                self._picture(trainer, learner.module, self._first_images(trainer), fast=fast)
            self.layer_index, self.epoch = index + 1, 0
            self._learner = None
            if self.save_checkpoint and not fast and self.layer_index < len(self.layers):
                self._save(trainer)

    def _make_learner(self, index: int, layer: nn.Module) -> LayerLearner:
        return LayerLearner(
            self.layers[index],
            layer,
            self.mode,
            visible=self.visible[index],
            hidden=self.hidden[index],
            lr=self.lr[index],
            weight_cost=self.weight_cost,
            k=self.k,
            persistent=self.persistent,
            num_chains=self.num_chains,
            learn_sigma=self.learn_sigma,
            tied=self.tied,
            noise=self.noise,
            noise_level=self.noise_level,
        )

    def _log_epoch(
        self,
        trainer: Trainer,
        learner: LayerLearner,
        index: int,
        errors: list[Tensor],
        seen: list[Tensor],
        held_out: list[Tensor],
        reduce: Any,
    ) -> None:
        def mean(values: list[Tensor]) -> float:
            value = torch.stack(values).mean()
            return float(reduce(value) if reduce is not None else value)

        name = self.layers[index]
        record = {
            "layer": float(index),
            "epoch": float(self.epoch),
            "reconstruction_error": mean(errors),
        }
        if held_out:
            measures = [learner.evaluate(x) for x in held_out]
            record["val_reconstruction_error"] = mean([m["reconstruction_error"] for m in measures])
            if "free_energy" in measures[0] and seen:
                train_f = mean([learner.evaluate(x)["free_energy"] for x in seen])
                record["free_energy_gap"] = mean([m["free_energy"] for m in measures]) - train_f
        self.history.append(record)
        metrics = {
            f"pretraining/{name}/{k}": v for k, v in record.items() if k not in ("layer", "epoch")
        }
        step = len(self.history) - 1
        for logger in trainer.loggers:
            logger.log_metrics({**metrics, "pretraining/epoch": float(step)}, step=step)

    def _save(self, trainer: Trainer) -> None:
        directory = Path(trainer.log_dir or trainer.default_root_dir) / "checkpoints"
        trainer.save_checkpoint(directory / "pretraining.ckpt")

    def _first_images(self, trainer: Trainer) -> Tensor | None:
        try:
            return next(iter(self._batches(trainer, trainer.train_dataloader, 1)))
        except StopIteration:
            return None

    def _picture(self, trainer: Trainer, rbm: RBM, images: Tensor | None, fast: bool) -> None:
        """Gibbs chains started from training images, pictured as images (Bernoulli units)."""
        directory = trainer.log_dir  # collective: every process asks
        if images is None or images.ndim != 4 or images[0].numel() != rbm.num_visible:
            return
        if not trainer.is_global_zero:
            return
        generator = torch.Generator(device=rbm.weight.device).manual_seed(self.seed)
        steps = min(self.gibbs_steps, 10) if fast else self.gibbs_steps
        # Chains started from data show what the model keeps of it after `steps` steps; from
        # noise they take far longer than a picture can wait to reach the digits' modes.
        start = images[: self.samples].flatten(1).to(rbm.weight.dtype)
        with torch.no_grad():
            samples = rbm.sample(len(start), steps=steps, init=start, generator=generator)
        pictured = samples.view(-1, *images.shape[1:]).float().cpu()
        if rbm.visible == "gaussian":  # real values: one stretch for the whole picture
            low, high = pictured.amin(), pictured.amax()
            pictured = (pictured - low) / (high - low).clamp_min(1e-12)
        if pictured.shape[1] != 3:
            pictured = pictured.mean(1, keepdim=True).expand(-1, 3, -1, -1)
        grid = make_grid(
            pictured.clamp(0, 1), nrow=max(1, math.isqrt(len(pictured))), pad_value=1.0
        )
        pixels = (grid * 255).round().clamp(0, 255).to(torch.uint8)
        log_image(trainer, "pretraining/gibbs_samples", pixels, directory=directory)
