"""What a dataset does with a sample whose file cannot be read: raise (default) or skip it.

Every image dataset of the library derives from :class:`SkipsBadSamples` and implements
:meth:`~SkipsBadSamples.get_sample` (decode, annotate, transform); ``__getitem__`` applies the
policy chosen by :attr:`~SkipsBadSamples.on_bad_sample`:

* ``"raise"`` (the default): the error of the file (:class:`CorruptImageError`,
  :class:`MissingImageError`, :class:`InvalidMaskError`, naming it) reaches the caller, so a
  broken download is never trained on silently;
* ``"skip"``: the sample is replaced by the next readable one (``index + 1``, ``index + 2``, ...
  wrapping around), which is deterministic, so that every process and every epoch sees the
  same replacement; the skipped sample is counted, its file is remembered and the first few are
  logged as warnings (logger ``lightning_deepvision.datasets``).

DataLoader workers each hold a copy of the dataset, so a count kept in a Python attribute would
stay in the worker. The skip policy therefore marks each unreadable index in one byte of a
tensor in shared memory, allocated when the policy is set (before the loader starts its
workers), which forked and spawned workers alike write into: :attr:`~SkipsBadSamples.skipped_count`
and :attr:`~SkipsBadSamples.skipped_files` in the main process see every worker's skips (also
across epochs with persistent workers). A worker only marks the index; the main process names
the file of an index it has not read itself by reading that sample once more (only unreadable
samples are re-read, and only when the list is asked for). Known unreadable indices are jumped
over without being read again.

Errors in the annotations (:class:`MalformedAnnotationError`) are raised at construction
whatever the policy: a wrong label is not a sample to skip but a file to fix.
"""

from __future__ import annotations

import logging
import os
from abc import abstractmethod
from collections.abc import Iterator
from typing import Any, Literal, cast, get_args

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import ConcatDataset, Dataset, Subset

from lightning_deepvision.datasets.errors import CorruptImageError, MissingImageError

__all__ = [
    "BAD_SAMPLE_ERRORS",
    "OnBadSample",
    "SkipsBadSamples",
    "bad_sample_datasets",
    "set_bad_sample_policy",
]

#: The two policies.
OnBadSample = Literal["raise", "skip"]

_log = logging.getLogger("lightning_deepvision.datasets")

#: Skips logged one by one per process; later ones are only counted (see ``skip_summary``).
_LOGGED_SKIPS = 10


def _bad_sample_errors() -> tuple[type[BaseException], ...]:
    # parsing_masks imports tv_tensors only; importing it here keeps one list of the errors.
    from lightning_deepvision.datasets.parsing_masks import InvalidMaskError

    return (CorruptImageError, MissingImageError, FileNotFoundError, InvalidMaskError)


#: The errors that make a sample unreadable (and skippable): each names its file.
BAD_SAMPLE_ERRORS: tuple[type[BaseException], ...] = _bad_sample_errors()


def _error_file(error: BaseException) -> str:
    """The file an unreadable-sample error names."""
    for attribute in ("path", "image", "filename"):
        value = getattr(error, attribute, None)
        if value is not None:
            return str(value)
    return str(error)


class SkipsBadSamples(Dataset[dict[str, Any]]):
    """Base of the image datasets: ``on_bad_sample`` decides what an unreadable file does.

    A subclass implements :meth:`get_sample` (the whole sample, transforms applied) and takes
    ``on_bad_sample`` in its constructor, assigning it to :attr:`on_bad_sample`. The policy may
    also be changed afterwards (data modules set it on the datasets they build, before their
    loaders start), see :func:`set_bad_sample_policy`.

    Attributes:
        on_bad_sample: ``"raise"`` or ``"skip"`` (see the module).
        skipped_count: How many distinct samples were skipped so far, in every process.
        skipped_files: The files of the skipped samples, in index order.
    """

    _on_bad_sample: OnBadSample = "raise"
    # One byte per index, in shared memory, set to 1 when the sample is unreadable (skip only).
    _skip_marks: Tensor | None = None
    # A NumPy view of the marks for this process (indexing it costs a tenth of a tensor's),
    # remade in each process: a view pickled to a spawned worker arrives as a copy.
    _marks_view: np.ndarray | None = None
    _marks_pid: int = -1
    # The files this process found unreadable, by index (the main process's own record).
    _skipped_by_index: dict[int, str] | None = None

    @abstractmethod
    def __len__(self) -> int: ...

    @abstractmethod
    def get_sample(self, index: int) -> dict[str, Any]:
        """Sample ``index``, transforms applied, raising the error of an unreadable file."""

    @property
    def on_bad_sample(self) -> OnBadSample:
        """``"raise"`` or ``"skip"``: what an unreadable sample does (see the module)."""
        return self._on_bad_sample

    @on_bad_sample.setter
    def on_bad_sample(self, policy: str) -> None:
        if policy not in get_args(OnBadSample):
            raise ValueError(f"on_bad_sample must be 'raise' or 'skip', got {policy!r}")
        self._on_bad_sample = cast(OnBadSample, policy)
        if policy == "skip" and self._skip_marks is None:
            self._skip_marks = torch.zeros(len(self), dtype=torch.uint8).share_memory_()
            self._skipped_by_index = {}

    def __getitem__(self, index: int) -> dict[str, Any]:
        if self._on_bad_sample == "raise" or self._skip_marks is None:
            return self.get_sample(index)
        if self._marks_pid != os.getpid():
            self._marks_view, self._marks_pid = self._skip_marks.numpy(), os.getpid()
        marks = self._marks_view
        assert marks is not None
        size = len(self)
        if not -size <= index < size:
            # Not wrapped around: iterating a dataset (``for sample in ds``) ends at IndexError.
            raise IndexError(f"index {index} out of range for {size} samples")
        index %= size
        first_error: BaseException | None = None
        for offset in range(size):
            candidate = (index + offset) % size
            if marks[candidate]:
                continue
            try:
                return self.get_sample(candidate)
            except BAD_SAMPLE_ERRORS as error:
                if first_error is None:
                    first_error = error
                self._record(candidate, error)
        message = f"every sample of this {type(self).__name__} ({size}) is unreadable"
        if first_error is None:
            raise RuntimeError(f"{message}; see the warnings for the files")
        raise RuntimeError(f"{message}; the first: {first_error}") from first_error

    def _record(self, index: int, error: BaseException) -> None:
        assert self._skip_marks is not None and self._skipped_by_index is not None
        self._skip_marks[index] = 1
        self._skipped_by_index[index] = _error_file(error)
        if len(self._skipped_by_index) <= _LOGGED_SKIPS:
            _log.warning(
                "%s: skipped sample %d (%d skipped by this process): %s",
                type(self).__name__,
                index,
                len(self._skipped_by_index),
                error,
            )
            if len(self._skipped_by_index) == _LOGGED_SKIPS:
                _log.warning(
                    "%s: further unreadable samples are skipped without a warning; "
                    "skipped_files lists them all",
                    type(self).__name__,
                )

    @property
    def skipped_count(self) -> int:
        """Distinct samples skipped so far, by this process and its loader workers."""
        return 0 if self._skip_marks is None else int(self._skip_marks.sum())

    @property
    def skipped_files(self) -> list[str]:
        """The files of the skipped samples (all processes), in index order."""
        if self._skip_marks is None or self._skipped_by_index is None:
            return []
        files = []
        for index in self._skip_marks.nonzero().flatten().tolist():
            if index not in self._skipped_by_index:
                # Marked by a loader worker: reading it once more names its file.
                try:
                    self.get_sample(index)
                    self._skipped_by_index[index] = f"sample {index} (readable when read again)"
                except BAD_SAMPLE_ERRORS as error:
                    self._skipped_by_index[index] = _error_file(error)
            files.append(self._skipped_by_index[index])
        return files

    def skip_summary(self, first: int = 5) -> str:
        """One line: how many samples were skipped and the first ``first`` of their files."""
        files = self.skipped_files
        if not files:
            return f"{type(self).__name__}: no sample skipped"
        more = f" and {len(files) - first} more" if len(files) > first else ""
        return (
            f"{type(self).__name__}: skipped {len(files)} unreadable sample(s): "
            f"{', '.join(files[:first])}{more}"
        )


def bad_sample_datasets(dataset: Any) -> Iterator[SkipsBadSamples]:
    """The :class:`SkipsBadSamples` datasets inside ``dataset``.

    Looks through torch's ``Subset`` and ``ConcatDataset`` and through the library's wrappers,
    which keep what they wrap as ``dataset`` / ``datasets`` / ``base``.
    """
    seen: set[int] = set()
    pending = [dataset]
    while pending:
        current = pending.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, SkipsBadSamples):
            yield current
        if isinstance(current, Subset):
            pending.append(current.dataset)
        elif isinstance(current, ConcatDataset):
            pending.extend(current.datasets)
        else:
            for attribute in ("dataset", "datasets", "base", "frames"):
                inner = getattr(current, attribute, None)
                if isinstance(inner, Dataset):
                    pending.append(inner)
                elif isinstance(inner, (list, tuple)):
                    pending.extend(d for d in inner if isinstance(d, Dataset))


def set_bad_sample_policy(dataset: Any, policy: str) -> list[SkipsBadSamples]:
    """Set ``on_bad_sample`` on every dataset of :func:`bad_sample_datasets` (``dataset``).

    Call it before the loaders start their workers, so that the workers share the record of
    skipped samples.

    Returns:
        The datasets the policy was set on (empty for procedural data, which has no file).
    """
    found = list(bad_sample_datasets(dataset))
    for inner in found:
        inner.on_bad_sample = policy
    return found
