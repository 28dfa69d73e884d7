"""Picture test images beside their nearest neighbours in feature space.

Krizhevsky, Sutskever, Hinton ("ImageNet Classification with Deep Convolutional Neural
Networks", NIPS 2012, Fig. 4 right) show five test images and the six training images whose
last hidden-layer vectors are closest: neighbours of the same class whose pixels differ
greatly (poses, colours, backgrounds). This callback draws the same figure from a test run.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

import torch
from lightning.pytorch import Callback, LightningModule, Trainer
from torch import Tensor
from torch.nn import functional as F
from torch.utils.data import DataLoader
from torchvision.utils import make_grid

from lightning_deepvision.callbacks.pictures import log_image
from lightning_deepvision.metrics.functional import first_occurrence, gather_rows
from lightning_deepvision.metrics.retrieval import cosine_knn
from lightning_deepvision.transforms.classification import IMAGENET_MEAN, IMAGENET_STD

__all__ = ["RetrievalGridLogger"]

# Frame colours: the query, a neighbour of the query's class, a neighbour of another class.
_QUERY = (1.0, 1.0, 1.0)
_SAME = (0.1, 0.75, 0.2)
_OTHER = (0.85, 0.1, 0.1)


class RetrievalGridLogger(Callback):
    """After a test, draw queries and their ``k`` nearest test images by cosine similarity.

    The task's ``test_step`` must return ``features`` and ``label`` per image (as
    :class:`~lightning_deepvision.tasks.ClassificationTask` does). Each test image is ranked
    against all the others (leave-one-out); ``num_queries`` queries spread evenly over the test
    set make the rows of the picture, the query first (white frame), then its neighbours, framed
    green when they share its class and red otherwise. The images are read back from the test
    dataset (with its evaluation transform, undone by ``mean``/``std``; of ten crops, the
    centre one is shown). Features are gathered from every process, so the picture is the same
    on one process and on N. It is logged under ``key`` and written to
    ``<log dir>/<key>.png`` (``/`` replaced by ``_``).

    Args:
        num_queries: Rows of the picture.
        k: Neighbours per query.
        key: Name of the logged image.
        thumbnail: Side of each picture cell in pixels.
        mean: Normalisation mean of the test transform, to undo for display.
        std: Normalisation std of the test transform.
    """

    def __init__(
        self,
        num_queries: int = 8,
        k: int = 5,
        key: str = "test/retrieval",
        thumbnail: int = 64,
        mean: Sequence[float] = IMAGENET_MEAN,
        std: Sequence[float] = IMAGENET_STD,
    ) -> None:
        super().__init__()
        if num_queries < 1 or k < 1:
            raise ValueError(f"num_queries and k must be positive, got {num_queries} and {k}")
        self.num_queries = num_queries
        self.k = k
        self.key = key
        self.thumbnail = thumbnail
        self.mean = torch.tensor(list(mean)).view(-1, 1, 1)
        self.std = torch.tensor(list(std)).view(-1, 1, 1)
        self._features: list[Tensor] = []
        self._labels: list[Tensor] = []

    def on_test_epoch_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        """Forget the previous run's features."""
        self._features, self._labels = [], []

    def on_test_batch_end(
        self,
        trainer: Trainer,
        pl_module: LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
        dataloader_idx: int = 0,
    ) -> None:
        """Keep the features and labels of the batch."""
        if isinstance(outputs, dict) and {"features", "label"} <= outputs.keys():
            self._features.append(outputs["features"].detach().float())
            self._labels.append(outputs["label"].detach())

    def on_test_epoch_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        """Gather, find the neighbours and draw them."""
        if not self._features:
            return
        loader = cast(DataLoader[Any], trainer.test_dataloaders)
        if isinstance(loader, Sequence):
            loader = loader[0]
        # The dataset position of every feature row on this process, in loader order (a
        # distributed sampler interleaves them).
        sampler = loader.batch_sampler if loader.batch_sampler is not None else loader.sampler
        positions = torch.tensor([int(i) for batch in sampler for i in _as_list(batch)])
        features, labels = torch.cat(self._features), torch.cat(self._labels)
        self._features, self._labels = [], []
        positions = positions[: features.shape[0]].to(features.device)
        # Uneven shards: each process may hold another number of rows.
        gathered = [gather_rows(t) for t in (features, labels, positions)]
        directory = trainer.log_dir  # a collective call: every process makes it
        if not trainer.is_global_zero:
            return
        features, labels, positions = (t.cpu() for t in gathered)
        _, first = first_occurrence(positions)  # padded distributed shards repeat samples
        features, labels, positions = features[first], labels[first], positions[first]
        if features.shape[0] <= self.k:
            return
        grid = self.draw(loader.dataset, features, labels, positions)
        log_image(trainer, self.key, grid, directory=directory)

    def draw(self, dataset: Any, features: Tensor, labels: Tensor, positions: Tensor) -> Tensor:
        """The picture, ``uint8`` ``(3, H, W)``: one row per query, then its neighbours."""
        count = features.shape[0]
        rows = min(self.num_queries, count)
        queries = torch.linspace(0, count - 1, rows).round().long()
        _, neighbours = cosine_knn(features, None, k=self.k)
        cells = []
        for query in queries.tolist():
            cells.append(self._cell(dataset, int(positions[query]), _QUERY))
            for neighbour in neighbours[query].tolist():
                same = bool(labels[neighbour] == labels[query])
                cells.append(
                    self._cell(dataset, int(positions[neighbour]), _SAME if same else _OTHER)
                )
        grid = make_grid(torch.stack(cells), nrow=self.k + 1, padding=2, pad_value=0.0)
        return (grid * 255.0).round().clamp(0, 255).to(torch.uint8)

    def _cell(self, dataset: Any, position: int, frame: tuple[float, float, float]) -> Tensor:
        image = torch.as_tensor(dataset[position]["image"]).float().cpu()
        if image.ndim == 4:  # ten crops: the centre one (v2.TenCrop's fifth)
            image = image[4 if image.shape[0] == 10 else 0]
        if image.shape[0] == self.mean.shape[0]:
            image = image * self.std + self.mean
        image = image.expand(3, -1, -1) if image.shape[0] == 1 else image[:3]
        border = max(1, self.thumbnail // 16)
        inner = self.thumbnail - 2 * border
        image = F.interpolate(image[None], size=(inner, inner), mode="bilinear", antialias=True)
        cell = torch.tensor(frame).view(3, 1, 1).expand(3, self.thumbnail, self.thumbnail).clone()
        cell[:, border:-border, border:-border] = image[0].clamp(0.0, 1.0)
        return cell


def _as_list(batch: Any) -> list[Any]:
    return list(batch) if isinstance(batch, (list, tuple)) else [batch]
