"""Log the ROC curve of a verification test as an image."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch
from lightning.pytorch import Callback, LightningModule, Trainer
from torch import Tensor
from torchmetrics.functional.classification import binary_auroc, binary_roc

from lightning_deepvision.callbacks.pictures import log_figure
from lightning_deepvision.metrics.functional import first_occurrence, gather_rows

if TYPE_CHECKING:
    from matplotlib.figure import Figure


class VerificationROCLogger(Callback):
    """Plot the ROC curve of the test pairs and hand it to every logger.

    The test step's outputs (``scores``, ``same``, ``index``) are gathered from all processes
    and de-duplicated by pair index (Lightning's padded ``DistributedSampler`` repeats pairs),
    so the curve is the same on one process and on N. Weights & Biases receives it through
    ``WandbLogger.log_image``, TensorBoard through ``add_image``; the PNG is also written to
    the trainer's log directory (the run directory) as ``<key>.png`` with ``/`` replaced by
    ``_``, or ``<key>-<N>.png`` when that file exists.

    Args:
        key: Name of the logged image.
        log_scale: Draw the false accept rate on a log axis (the useful view at low FAR).
    """

    def __init__(self, key: str = "test/roc", log_scale: bool = True) -> None:
        super().__init__()
        self.key = key
        self.log_scale = log_scale
        self._outputs: list[dict[str, Tensor]] = []

    def on_test_epoch_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        """Forget the previous run's outputs."""
        self._outputs = []

    def on_test_batch_end(
        self,
        trainer: Trainer,
        pl_module: LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
        dataloader_idx: int = 0,
    ) -> None:
        """Keep the pair scores of the batch."""
        if isinstance(outputs, dict) and {"scores", "same", "index"} <= outputs.keys():
            self._outputs.append({k: outputs[k].detach() for k in ("scores", "same", "index")})

    def on_test_epoch_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        """Gather, de-duplicate, plot and log."""
        if not self._outputs:
            return
        local = {k: torch.cat([o[k] for o in self._outputs]) for k in ("scores", "same", "index")}
        # Uneven shards: each process may hold another number of pairs.
        gathered = {k: gather_rows(v.reshape(-1)) for k, v in local.items()}
        self._outputs = []
        # A collective call (it broadcasts rank zero's directory): every process makes it.
        log_dir = trainer.log_dir
        if not trainer.is_global_zero:
            return
        index, first = first_occurrence(gathered["index"])
        scores = gathered["scores"][first].float().cpu()
        same = gathered["same"][first].long().cpu()
        if index.numel() == 0 or same.min() == same.max():
            return  # a curve needs both matched and mismatched pairs
        figure = self.plot(scores, same)
        log_figure(trainer, self.key, figure, directory=log_dir, keep_existing=True)

    def plot(self, scores: Tensor, same: Tensor) -> Figure:
        """Return a matplotlib figure of the ROC curve of ``scores`` against ``same``.

        The figure is built without ``pyplot`` and drawn by the Agg canvas, so plotting never
        touches matplotlib's global state (backend, open figures) and works on headless hosts.
        """
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

        fpr, tpr, _ = binary_roc(scores, same)
        auc = float(binary_auroc(scores, same))
        figure = Figure(figsize=(4.5, 4.0), dpi=100)
        FigureCanvasAgg(figure)  # attaches itself to the figure
        axes = figure.add_subplot()
        axes.plot(fpr.numpy(), tpr.numpy(), label=f"AUC = {auc:.4f} ({same.numel()} pairs)")
        if self.log_scale:
            positive = fpr[fpr > 0]
            axes.set_xscale("log")
            axes.set_xlim(float(positive.min()) if positive.numel() else 1e-4, 1.0)
        axes.set_xlabel("false accept rate")
        axes.set_ylabel("true accept rate")
        axes.set_title("Verification ROC")
        axes.grid(True, which="both", alpha=0.3)
        axes.legend(loc="lower right")
        figure.tight_layout()
        return figure
