"""Samplers and loaders: identity-balanced P x K batches, and a loader that resumes mid-epoch."""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

import torch
import torch.distributed as dist
from torch import Tensor
from torch.utils.data import DataLoader, DistributedSampler

__all__ = ["IdentityBalancedSampler", "ResumableDataLoader"]


class IdentityBalancedSampler(DistributedSampler):
    """Yields dataset indices in batches of P identities x K images each.

    The verification signal of DeepID2 (Sun, Wang, Tang, NIPS 2014) needs same-identity pairs
    inside every batch; uniformly shuffled batches from thousands of identities contain almost
    none. Every consecutive run of ``P * K`` indices yielded by this sampler (one per-process
    batch: use ``DataLoader(dataset, batch_size=P * K, sampler=sampler)``) holds ``P`` distinct
    identities with ``K`` images each.

    An epoch: every identity's images are shuffled and cut into chunks of ``K`` (a last
    partial chunk is completed with other images of the same identity; an identity with fewer
    than ``K`` images contributes each image once and is completed by drawing its images with
    replacement). Batches take ``P`` distinct identities at random, weighted by how many
    chunks each has left, so the epoch covers roughly every image once across all processes.
    The number of batches is ``ceil(N / (P * K * num_replicas))`` per process, the same on
    every process; when the pool runs short of ``P`` identities a fresh round of chunks is
    added. The batch stream is generated identically on every process from ``seed + epoch``
    and process ``rank`` takes batches ``rank, rank + num_replicas, ...``, so processes get
    disjoint batches.

    Identities with a single image can still be drawn: they then contribute ``K`` copies of
    the same image, i.e. zero-distance positive pairs and no useful verification signal.
    Filter them out of ``labels`` (by sub-setting the dataset) if that matters.

    This class subclasses :class:`~torch.utils.data.DistributedSampler` on purpose: Lightning
    then leaves it in place under DDP instead of wrapping the dataset in its own sampler, and
    calls :meth:`set_epoch` every epoch.

    Args:
        labels: Identity label of every dataset item, in dataset order (any integers).
        identities_per_batch: ``P``.
        images_per_identity: ``K``.
        num_replicas: Number of processes; default: the ``torch.distributed`` world size when
            initialised, else 1.
        rank: This process; default: the ``torch.distributed`` rank when initialised, else 0.
        seed: Base seed; the stream of epoch ``e`` depends only on ``seed + e``.
        shuffle: If False the epoch number is ignored and every epoch yields the same stream
            (the one of ``seed``), e.g. for reproducible evaluation.

    Raises:
        ValueError: Fewer distinct identities than ``identities_per_batch``, non-positive
            ``P``/``K``, an empty or non-1-D ``labels``, or an invalid rank.
    """

    def __init__(
        self,
        labels: Sequence[int] | Tensor,
        identities_per_batch: int,
        images_per_identity: int,
        num_replicas: int | None = None,
        rank: int | None = None,
        seed: int = 0,
        shuffle: bool = True,
    ) -> None:
        labels_t = torch.as_tensor(labels)
        if labels_t.ndim != 1 or labels_t.numel() == 0:
            raise ValueError(f"labels must be a non-empty 1-D sequence, got shape {labels_t.shape}")
        if labels_t.is_floating_point() or labels_t.is_complex():
            raise ValueError(f"labels must be integers, got dtype {labels_t.dtype}")
        if identities_per_batch < 1 or images_per_identity < 1:
            raise ValueError(
                "identities_per_batch and images_per_identity must be >= 1, got "
                f"{identities_per_batch} and {images_per_identity}"
            )
        distributed = dist.is_available() and dist.is_initialized()
        if num_replicas is None:
            num_replicas = dist.get_world_size() if distributed else 1
        if rank is None:
            rank = dist.get_rank() if distributed else 0
        if num_replicas < 1 or not 0 <= rank < num_replicas:
            raise ValueError(f"invalid rank {rank} for num_replicas={num_replicas}")

        labels_t = labels_t.long().cpu()
        _, inverse, counts = torch.unique(labels_t, return_inverse=True, return_counts=True)
        if counts.numel() < identities_per_batch:
            raise ValueError(
                f"IdentityBalancedSampler needs at least identities_per_batch="
                f"{identities_per_batch} distinct identities, but labels hold only "
                f"{counts.numel()}"
            )
        # Explicit num_replicas/rank: the parent never touches torch.distributed. It only
        # takes len() of its "dataset", here the labels.
        super().__init__(
            labels_t,  # type: ignore[arg-type]
            num_replicas=num_replicas,
            rank=rank,
            shuffle=shuffle,
            seed=seed,
            drop_last=True,
        )
        self.identities_per_batch = identities_per_batch
        self.images_per_identity = images_per_identity
        self._inverse = inverse
        self._counts = counts
        self._offsets = torch.cat([torch.zeros(1, dtype=torch.long), torch.cumsum(counts, 0)])
        self.batch_size = identities_per_batch * images_per_identity
        self.batches_per_replica = max(
            1, math.ceil(labels_t.numel() / (self.batch_size * num_replicas))
        )
        self.num_samples = self.batches_per_replica * self.batch_size
        self.total_size = self.num_samples * num_replicas

    @property
    def num_identities(self) -> int:
        """Number of distinct identities in ``labels``."""
        return int(self._counts.numel())

    def __len__(self) -> int:
        return self.num_samples

    def __iter__(self) -> Iterator[int]:
        generator = torch.Generator()
        generator.manual_seed(self.seed + (self.epoch if self.shuffle else 0))
        batches = self._batches(self.batches_per_replica * self.num_replicas, generator)
        return iter(batches[self.rank :: self.num_replicas].flatten().tolist())

    def _chunks(self, generator: torch.Generator) -> list[list[Tensor]]:
        """One round of K-image chunks per identity, in random order."""
        k = self.images_per_identity
        n = self._inverse.numel()
        # A random permutation, then a stable sort by identity: grouped by identity, shuffled
        # within each identity, in two vectorised sorts.
        perm = torch.randperm(n, generator=generator)
        grouped = perm[torch.argsort(self._inverse[perm], stable=True)]
        chunks: list[list[Tensor]] = []
        offsets = self._offsets.tolist()
        for identity in range(self.num_identities):
            images = grouped[offsets[identity] : offsets[identity + 1]]
            count = images.numel()
            if count >= k:
                # The pad comes from the identity's first chunks, so it never repeats an image
                # inside the (last) chunk it completes.
                pad = -count % k
                images = torch.cat([images, images[:pad]])
            else:
                extra = torch.randint(count, (k - count,), generator=generator)
                images = torch.cat([images, images[extra]])
            chunks.append(list(images.view(-1, k)))
        return chunks

    def _batches(self, num_batches: int, generator: torch.Generator) -> Tensor:
        p = self.identities_per_batch
        pool = self._chunks(generator)
        remaining = torch.tensor([len(c) for c in pool], dtype=torch.float64)
        batches = torch.empty(num_batches, self.batch_size, dtype=torch.long)
        for b in range(num_batches):
            if int((remaining > 0).sum()) < p:
                for identity, fresh in enumerate(self._chunks(generator)):
                    pool[identity].extend(fresh)
                    remaining[identity] += len(fresh)
            # Weighting by chunks left drains large identities along the way instead of
            # leaving them all for the end of the epoch.
            chosen = torch.multinomial(remaining, p, replacement=False, generator=generator)
            remaining[chosen] -= 1
            batches[b] = torch.cat([pool[int(i)].pop() for i in chosen])
        return batches


class _SkipFirst:
    """An index sampler whose next iteration (only) starts ``skip`` items later."""

    def __init__(self, sampler: Iterable[Any], skip: int) -> None:
        self.sampler = sampler
        self.skip = skip

    def __len__(self) -> int:
        return len(self.sampler)  # type: ignore[arg-type]

    def __iter__(self) -> Iterator[Any]:
        skip, self.skip = self.skip, 0
        return itertools.islice(iter(self.sampler), skip, None)


class ResumableDataLoader(DataLoader[Any]):
    """A ``DataLoader`` that knows how far into its epoch it is, to resume there.

    Lightning saves the ``state_dict`` of every training loader that has one in each
    checkpoint, and calls ``load_state_dict`` before iterating again when ``fit`` resumes
    (``ckpt_path="last"``); a loader without them restarts its epoch from the first batch,
    so a run resumed from a mid-epoch checkpoint trains on other batches than an uninterrupted
    one. This loader counts the batches it has yielded in the current epoch; restored, its next
    epoch skips that many batches of index lists before any sample is read (no data is loaded
    for them). That reproduces the uninterrupted order when the sampler's order depends only on
    the epoch (``DistributedSampler``'s ``seed + epoch``, :class:`IdentityBalancedSampler`);
    torch's ``RandomSampler`` draws a new order from the global generator at each epoch, which
    a checkpoint does not hold. ``torchdata``'s ``StatefulDataLoader`` restores its workers'
    state as well but is not a dependency of this library.

    The state: ``{"epoch": the sampler's epoch, "batches": batches yielded in it}``.

    Args:
        dataset: The dataset.
        *args: ``DataLoader``'s positional arguments.
        generator: Draws the workers' base seed each time an iterator starts; ``None`` makes
            one seeded with ``torch.initial_seed()``. Torch's default draws that seed from
            the global generator, so a resumed run, which starts its iterator at another
            point, would draw other dropout masks and augmentations from then on.
        **kwargs: ``DataLoader``'s keyword arguments.
    """

    _yielded: int = 0
    _skip: int = 0
    _epoch: int | None = None

    def __init__(
        self,
        dataset: Any,
        *args: Any,
        generator: torch.Generator | None = None,
        **kwargs: Any,
    ) -> None:
        if generator is None:
            generator = torch.Generator().manual_seed(torch.initial_seed())
        super().__init__(dataset, *args, generator=generator, **kwargs)  # type: ignore[misc]

    @property
    def _index_sampler(self) -> Any:
        sampler = super()._index_sampler
        if not self._skip:
            return sampler
        skip, self._skip = self._skip, 0
        if self._epoch is not None and _epoch_of(self) != self._epoch:
            return sampler  # Lightning moved on to another epoch: nothing to skip
        return _SkipFirst(sampler, skip)

    def __iter__(self) -> Iterator[Any]:  # type: ignore[override]
        start = self._skip
        batches = super().__iter__()
        self._yielded = start
        for batch in batches:
            self._yielded += 1
            yield batch

    def state_dict(self) -> dict[str, int]:
        """Where the loader is: its sampler's epoch and the batches yielded in it."""
        epoch = _epoch_of(self)
        return {"epoch": -1 if epoch is None else epoch, "batches": self._yielded}

    def load_state_dict(self, state_dict: Mapping[str, int]) -> None:
        """Make the next iteration resume after ``state_dict["batches"]`` of its epoch.

        A state saved after the last batch of an epoch resumes at the start of the next one.
        """
        epoch, batches = int(state_dict.get("epoch", -1)), int(state_dict.get("batches", 0))
        complete = batches >= len(self)
        if epoch >= 0:
            # Loader workers draw their first indices when the iterator is created, which
            # Lightning does before it sets the epoch of the sampler.
            _set_epoch(self, epoch + 1 if complete else epoch)
        self._epoch = None if epoch < 0 else epoch
        self._skip = 0 if complete else batches


def _epoch_of(loader: DataLoader[Any]) -> int | None:
    for sampler in (loader.sampler, loader.batch_sampler):
        epoch = getattr(sampler, "epoch", None)
        if isinstance(epoch, int):
            return epoch
    return None


def _set_epoch(loader: DataLoader[Any], epoch: int) -> None:
    for sampler in (loader.sampler, loader.batch_sampler):
        set_epoch = getattr(sampler, "set_epoch", None)
        if callable(set_epoch):
            set_epoch(epoch)
