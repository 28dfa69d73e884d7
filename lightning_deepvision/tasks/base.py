"""The base ``LightningModule`` every task of the library derives from."""

from __future__ import annotations

import math
from typing import Any, Literal

import torch
from lightning.fabric.utilities.data import AttributeDict
from lightning.pytorch import LightningModule
from lightning.pytorch.utilities.types import OptimizerLRScheduler
from torch import nn

from lightning_deepvision.models.registry import create_model

OptimizerName = Literal["sgd", "adam", "adamw"]
SchedulerName = Literal["cosine", "step", "none"]


class BaseTask(LightningModule):
    """Common behaviour of the library's tasks.

    The constructor saves the hyperparameters (plain Python types only, so a checkpoint loads
    with ``torch.load(weights_only=True)``) and then calls :meth:`configure_models`,
    :meth:`configure_losses` and :meth:`configure_metrics`, in that order. Subclasses override
    those hooks rather than ``__init__``'s body.

    A backbone may be given as a registry name (``"deepid2plus"``, any timm name) or as an
    ``nn.Module``. A module is not a plain type and is left out of the saved hyperparameters:
    pass it again to ``load_from_checkpoint(path, backbone=module)``.

    The optimiser is configured from plain arguments (``optimizer``, ``lr``, ``momentum``,
    ``weight_decay``, ``lr_schedule``); LightningCLI's ``--optimizer``/``--lr_scheduler`` still
    override it as Lightning users expect.

    Attributes:
        monitor: The logged metric that model selection and early stopping should watch.
        mode: ``"min"`` or ``"max"`` for :attr:`monitor`.
    """

    monitor: str = "val/loss"
    mode: Literal["min", "max"] = "min"

    def __init__(self, ignore: list[str] | None = None) -> None:
        """Save hyperparameters, then build models, losses and metrics.

        Args:
            ignore: Names of constructor arguments to leave out of the saved hyperparameters;
                subclasses pass the names of arguments that received ``nn.Module`` objects.
        """
        super().__init__()
        # Lightning collects the arguments of every ``__init__`` in the subclass chain.
        self.save_hyperparameters(ignore=["ignore", *(ignore or [])])
        self.configure_models()
        self.configure_losses()
        self.configure_metrics()

    @property
    def hp(self) -> AttributeDict:
        """The saved hyperparameters, typed for attribute access (``self.hp.lr``)."""
        return self.hparams  # type: ignore[return-value]

    # -- hooks -------------------------------------------------------------------------------
    def configure_models(self) -> None:
        """Build the networks (override)."""

    def configure_losses(self) -> None:
        """Build the loss modules (override)."""

    def configure_metrics(self) -> None:
        """Build one ``MetricCollection`` and clone it per stage (override)."""

    # -- helpers -----------------------------------------------------------------------------
    @staticmethod
    def build_backbone(backbone: str | nn.Module, **kwargs: Any) -> nn.Module:
        """Return ``backbone`` itself if it is a module, else build it by registry name."""
        if isinstance(backbone, nn.Module):
            return backbone
        return create_model(backbone, **kwargs)

    def configure_optimizers(self) -> OptimizerLRScheduler:
        """SGD with momentum (the papers' optimiser) or Adam(W), with an optional schedule."""
        hp = self.hp
        params = [p for p in self.parameters() if p.requires_grad]
        name = hp.get("optimizer", "sgd")
        lr = float(hp.get("lr", 0.01))
        weight_decay = float(hp.get("weight_decay", 5e-4))
        optimizer: torch.optim.Optimizer
        if name == "sgd":
            optimizer = torch.optim.SGD(
                params, lr=lr, momentum=float(hp.get("momentum", 0.9)), weight_decay=weight_decay
            )
        elif name == "adam":
            optimizer = torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)
        elif name == "adamw":
            optimizer = torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
        else:
            raise ValueError(f"optimizer must be 'sgd', 'adam' or 'adamw', got {name!r}")
        schedule = hp.get("lr_schedule", "cosine")
        if schedule == "none":
            return optimizer
        # Scheduled per optimiser step over the whole run, so that max_steps-only runs
        # (max_epochs = -1) get a proper schedule instead of one that restarts every epoch.
        total = float(self.trainer.estimated_stepping_batches) if self._trainer is not None else 1.0
        steps = max(1, int(total)) if math.isfinite(total) else 1
        scheduler: torch.optim.lr_scheduler.LRScheduler
        if schedule == "cosine":
            scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=steps)
        elif schedule == "step":
            # AlexNet/DeepID practice: divide the rate by 10 a few times during training.
            scheduler = torch.optim.lr_scheduler.StepLR(
                optimizer, step_size=max(1, steps // 3), gamma=0.1
            )
        else:
            raise ValueError(f"lr_schedule must be 'cosine', 'step' or 'none', got {schedule!r}")
        return {
            "optimizer": optimizer,
            "lr_scheduler": {"scheduler": scheduler, "interval": "step"},
        }
