r"""Large training sets in Lightning's ``litdata`` streaming format: convert once, stream anywhere.

A dataset of this library (ImageNet, CelebA, identity folders, Caltech windows, ...) is written
once by :func:`optimize_dataset` with :func:`litdata.optimize` into chunks, each sample stored
**before transforms** as the bytes of its original image file (a JPEG stays that JPEG: nothing
is re-encoded, so decoding gives the same pixels) and its annotations. :class:`StreamingSamples`
reads the chunks back with :class:`litdata.StreamingDataset` from a local folder or an object
store URI (``s3://``, ``gs://``, ...), decodes each image with the decoder the dataset itself
uses (:mod:`~lightning_deepvision.datasets.encoded_image`) and returns exactly the sample dict
the folder reader gives (``tv_tensors`` types, dtypes and canvas sizes included), then applies
the data module's transforms.

litdata shards the chunks between processes and loader workers itself and resumes mid-epoch
from its loader's state: :func:`streaming_loader` returns its :class:`litdata.StreamingDataLoader`,
and Lightning adds no ``DistributedSampler`` to an iterable dataset.

The command ``deepvision-optimize`` (:func:`main`) converts the dataset of any data module::

    deepvision-optimize --data ImageNetDataModule --data.root /data/imagenet --output /data/in1k
    deepvision fit --config recipes/configs/alexnet_imagenet.yaml \
        --data.root /data/imagenet --data.streaming_root s3://bucket/in1k

litdata is an optional dependency: ``pip install 'lightning-deepvision[streaming]'``.
"""

from __future__ import annotations

import copy
import json
import math
import multiprocessing
import os
from collections.abc import Callable, Mapping, Sequence
from functools import partial
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import DataLoader, Dataset
from torchvision import tv_tensors

from lightning_deepvision.datasets.encoded_image import EncodedImage

try:
    from litdata import StreamingDataLoader, StreamingDataset, optimize
except ImportError:  # the package imports without litdata; using this module says what to install
    StreamingDataset = torch.utils.data.IterableDataset
    StreamingDataLoader = optimize = None

__all__ = [
    "METADATA_FILE",
    "StreamingSamples",
    "decode_record",
    "encode_record",
    "main",
    "optimize_dataset",
    "streaming_loader",
]

#: What :func:`optimize_dataset` writes beside litdata's ``index.json``: the dataset's class,
#: its classes and labels (which data modules read to size heads and samplers).
METADATA_FILE = "deepvision.json"
_FORMAT = "lightning-deepvision-stream"
_INSTALL = "pip install 'lightning-deepvision[streaming]'"
# The tv_tensors a sample may hold, rebuilt by name with their metadata.
_TV_TENSORS = ("Image", "Mask", "BoundingBoxes", "KeyPoints", "Video")


def _require_litdata() -> None:
    if optimize is None:
        raise ImportError(f"streaming needs litdata: {_INSTALL}")


# -- records ---------------------------------------------------------------------------------
def _encode_value(key: str, value: Any, blobs: list[bytes], offset: int) -> dict[str, Any]:
    """A JSON description of one sample entry; a tensor's bytes go to ``blobs``."""
    if isinstance(value, torch.Tensor):
        entry: dict[str, Any] = {}
        if isinstance(value, tv_tensors.TVTensor):
            kind = type(value).__name__
            if kind not in _TV_TENSORS:
                raise TypeError(f"sample entry {key!r}: cannot store a {kind}")
            entry["tv"] = kind
            if isinstance(value, tv_tensors.BoundingBoxes):
                entry["format"] = value.format.name
            if isinstance(value, (tv_tensors.BoundingBoxes, tv_tensors.KeyPoints)):
                entry["canvas_size"] = list(value.canvas_size)
        plain = value.as_subclass(torch.Tensor).detach().cpu().contiguous()
        data = plain.reshape(-1).view(torch.uint8).numpy().tobytes()
        blobs.append(data)
        entry["tensor"] = [str(plain.dtype).removeprefix("torch."), list(plain.shape), offset]
        return entry
    if isinstance(value, os.PathLike):
        return {"path": os.fspath(value)}
    if value is None or isinstance(value, (str, int, float, bool)):
        return {"value": value}
    raise TypeError(
        f"sample entry {key!r}: cannot store a {type(value).__name__} (tensors, tv_tensors, "
        "paths, strings and numbers are stored)"
    )


def _decode_value(entry: dict[str, Any], data: memoryview) -> Any:
    if "value" in entry:
        return entry["value"]
    if "path" in entry:
        return Path(entry["path"])
    dtype_name, shape, offset = entry["tensor"]
    dtype = getattr(torch, dtype_name)
    size = math.prod(shape) * torch.empty((), dtype=dtype).element_size()
    # A copy: the record's buffer belongs to litdata's chunk (and may be read-only).
    tensor = torch.empty(shape, dtype=dtype)
    if size:
        tensor.view(-1).view(torch.uint8).copy_(
            torch.frombuffer(bytearray(data[offset : offset + size]), dtype=torch.uint8)
        )
    kind = entry.get("tv")
    if kind is None:
        return tensor
    if kind == "BoundingBoxes":
        return tv_tensors.BoundingBoxes(
            tensor, format=entry["format"], canvas_size=tuple(entry["canvas_size"])
        )
    if kind == "KeyPoints":
        return tv_tensors.KeyPoints(tensor, canvas_size=tuple(entry["canvas_size"]))
    return getattr(tv_tensors, kind)(tensor)


def encode_record(raw: Mapping[str, Any]) -> dict[str, Any]:
    """A dataset's ``raw_sample`` as a litdata item: image bytes apart, annotations packed.

    Args:
        raw: The sample before transforms, its ``image`` an
            :class:`~lightning_deepvision.datasets.encoded_image.EncodedImage`.

    Returns:
        ``{"image": bytes, "sample": bytes}``. ``sample`` is a JSON header (keys in order,
        each entry's type, dtype, shape and ``tv_tensors`` metadata, the image's file name and
        decoder) after its 4-byte length, then the tensors' bytes: read back in microseconds
        and without unpickling anything. No string goes to litdata as such: it reads a string
        naming an existing file as that file's content.
    """
    image = raw.get("image")
    if not isinstance(image, EncodedImage):
        raise TypeError(f"raw_sample must give 'image' as an EncodedImage, got {type(image)}")
    blobs: list[bytes] = []
    entries: dict[str, Any] = {}
    for key, value in raw.items():
        if key != "image":
            entries[key] = _encode_value(key, value, blobs, sum(map(len, blobs)))
    header = json.dumps(
        {"keys": list(raw), "entries": entries, "name": image.name, "decoder": image.decoder}
    ).encode()
    sample = b"".join([len(header).to_bytes(4, "little"), header, *blobs])
    return {"image": image.data, "sample": sample}


def decode_record(item: Mapping[str, Any]) -> dict[str, Any]:
    """Invert :func:`encode_record`: the dataset's sample dict, image decoded, no transforms."""
    packed = memoryview(item["sample"])  # litdata gives bytes back as views of its chunk
    length = int.from_bytes(packed[:4], "little")
    header = json.loads(bytes(packed[4 : 4 + length]))
    data = packed[4 + length :]
    image = EncodedImage(bytes(item["image"]), header["name"], header["decoder"]).decode()
    entries = header["entries"]
    # The dataset's own key order (collate and printing follow it).
    return {
        key: image if key == "image" else _decode_value(entries[key], data)
        for key in header["keys"]
    }


# -- writing ---------------------------------------------------------------------------------
def _record(dataset: Any, seed: int, index: int) -> dict[str, Any]:
    # Random draws (Caltech windows' jitter and negatives) from seed + index: the same stream
    # whatever the number of writers and the order they take the samples in.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed + index)
        return encode_record(dataset.raw_sample(index))


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, torch.Tensor) or isinstance(b, torch.Tensor):
        return (
            type(a) is type(b)
            and a.dtype == b.dtype
            and a.shape == b.shape
            and torch.equal(a, b)
            and getattr(a, "canvas_size", None) == getattr(b, "canvas_size", None)
            and getattr(a, "format", None) == getattr(b, "format", None)
        )
    return type(a) is type(b) and a == b


def check_raw_sample(dataset: Any, index: int = 0) -> None:
    """Check that ``raw_sample(index)``, decoded, is the dataset's own sample before transforms.

    Run on one sample by :func:`optimize_dataset` (a decode each), so that a dataset whose
    ``raw_sample`` lacks a key its ``__getitem__`` gives is refused before hours of writing.
    Random draws (Caltech windows' jitter) are replayed from the same seed for both reads.

    Raises:
        TypeError: The dataset has no ``raw_sample``.
        ValueError: The two samples differ (names the keys).
    """
    if not callable(getattr(dataset, "raw_sample", None)):
        raise TypeError(
            f"{type(dataset).__name__} cannot be streamed: it has no raw_sample(index) (the "
            "sample before transforms with the image as an EncodedImage)"
        )
    plain = copy.copy(dataset)
    if hasattr(plain, "transforms"):
        plain.transforms = None
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        raw = decode_record(encode_record(dataset.raw_sample(index)))
        torch.manual_seed(0)
        own = plain[index]
    differ = sorted(k for k in set(raw) | set(own) if k not in raw or k not in own)
    differ += sorted(k for k in set(raw) & set(own) if not _same(raw[k], own[k]))
    if differ:
        raise ValueError(
            f"{type(dataset).__name__}.raw_sample({index}) differs from its sample before "
            f"transforms in {differ}: it cannot be streamed as it is"
        )


def dataset_metadata(dataset: Any) -> dict[str, Any]:
    """What a data module reads from a dataset without iterating it: classes and labels."""
    classes = getattr(dataset, "classes", None)
    num_classes = getattr(dataset, "num_classes", None)
    try:
        targets = getattr(dataset, "targets", None)
    except AttributeError:  # CelebA has labels only with target='identity'
        targets = None
    return {
        "format": _FORMAT,
        "version": 1,
        "dataset": type(dataset).__name__,
        "length": len(dataset),
        "classes": None if classes is None else [str(c) for c in classes],
        "num_classes": None if num_classes is None else int(num_classes),
        "targets": None if targets is None else [int(t) for t in targets],
    }


def optimize_dataset(
    dataset: Dataset[Any],
    output_dir: str | os.PathLike[str],
    *,
    num_workers: int | None = None,
    chunk_bytes: int | str = "64MB",
    seed: int = 0,
    check: bool = True,
) -> str:
    """Write a dataset once in litdata's chunked format, samples before transforms.

    Each sample is the dataset's ``raw_sample(i)``: the image's original file bytes (never
    re-encoded) and the annotations; :data:`METADATA_FILE` beside the chunks keeps the
    dataset's classes and labels. Built on :func:`litdata.optimize` (parallel workers, upload to
    an object store when ``output_dir`` is a URI).

    Args:
        dataset: A dataset with ``raw_sample`` (ImageNet, image folders, identity folders,
            CelebA, Caltech frames and windows).
        output_dir: A new or empty local folder, or an object-store URI (``s3://...``; writing
            :data:`METADATA_FILE` there needs the fsspec backend, e.g. ``s3fs``).
        num_workers: Writer processes; ``None`` uses every CPU.
        chunk_bytes: Target chunk size (litdata's ``chunk_bytes``, e.g. ``"64MB"``).
        seed: Sample ``i`` is drawn after ``torch.manual_seed(seed + i)``, for datasets that
            draw at each access (Caltech windows): one fixed, reproducible draw is written.
        check: First check that sample 0 read back equals the dataset's own (one decode).

    Returns:
        ``output_dir``, as the string litdata was given.

    Raises:
        ImportError: litdata is not installed.
        TypeError: The dataset has no ``raw_sample``.
        ValueError: Its ``raw_sample`` differs from its samples, or it is empty.
    """
    _require_litdata()
    if len(dataset) == 0:  # type: ignore[arg-type]
        raise ValueError(f"{type(dataset).__name__} is empty: nothing to optimize")
    if check:
        check_raw_sample(dataset)
    output = os.fspath(output_dir)
    workers = (os.cpu_count() or 1) if num_workers is None else max(1, num_workers)
    assert optimize is not None
    optimize(
        fn=partial(_record, dataset, seed),
        inputs=list(range(len(dataset))),  # type: ignore[arg-type]
        output_dir=output,
        num_workers=workers,
        chunk_bytes=chunk_bytes,
        # Chunks in index order, so that an unshuffled stream reads the dataset's order.
        keep_data_ordered=True,
        reorder_files=False,
        # Forked writers start at once and need no importable __main__ (spawn re-imports it).
        start_method="fork" if "fork" in multiprocessing.get_all_start_methods() else None,
        verbose=False,
    )
    _write_metadata(output, dataset_metadata(dataset))
    return output


def _write_metadata(output_dir: str, metadata: dict[str, Any]) -> None:
    import fsspec

    with fsspec.open(f"{output_dir.rstrip('/')}/{METADATA_FILE}", "w") as handle:
        json.dump(metadata, handle)


def read_metadata(input_dir: str | os.PathLike[str]) -> dict[str, Any]:
    """The :data:`METADATA_FILE` of a stream written by :func:`optimize_dataset`.

    Raises:
        FileNotFoundError: The folder or URI has no such file (not written by this library).
        ValueError: The file is not this library's metadata.
    """
    import fsspec

    path = f"{os.fspath(input_dir).rstrip('/')}/{METADATA_FILE}"
    try:
        with fsspec.open(path, "r") as handle:
            metadata = json.load(handle)
    except FileNotFoundError as err:
        raise FileNotFoundError(
            f"{path!r} not found: {os.fspath(input_dir)!r} was not written by optimize_dataset "
            "(deepvision-optimize)"
        ) from err
    except json.JSONDecodeError as err:
        raise ValueError(f"{path!r} is not JSON: {err}") from err
    if not isinstance(metadata, dict) or metadata.get("format") != _FORMAT:
        raise ValueError(f"{path!r} is not the metadata of a lightning-deepvision stream")
    return metadata


# -- reading ---------------------------------------------------------------------------------
class StreamingSamples(StreamingDataset):
    """A dataset written by :func:`optimize_dataset`, streamed with ``litdata``.

    Samples equal those of the dataset that was written (same pixels, keys, dtypes and
    ``tv_tensors``), then ``transforms`` are applied. Chunks are read from ``input_dir`` (a
    local folder or an object-store URI, cached under ``cache_dir``) and split between
    processes and loader workers by litdata, which also shuffles (chunks, then samples within
    the chunks in flight) from ``seed`` and the epoch.

    Args:
        input_dir: The folder or URI given to :func:`optimize_dataset`.
        transforms: Applied to each sample dict (a data module's training transforms).
        shuffle: Shuffle (litdata's chunk-wise shuffle).
        seed: Seed of the shuffle (the same on every process).
        drop_last: Drop samples so that every process gets the same number (litdata's
            default: on under a distributed run).
        cache_dir: Where remote chunks are cached (litdata's default when ``None``).

    Attributes:
        metadata: The written dataset's :data:`METADATA_FILE`.
        classes: Its class names (``None`` where it had none).
        num_classes: Its number of classes.
        targets: Its label per sample, in written order (for class counts).
    """

    def __init__(
        self,
        input_dir: str | os.PathLike[str],
        transforms: Callable[[dict[str, Any]], Any] | None = None,
        *,
        shuffle: bool = False,
        seed: int = 42,
        drop_last: bool | None = None,
        cache_dir: str | os.PathLike[str] | None = None,
    ) -> None:
        _require_litdata()
        self.metadata = read_metadata(input_dir)
        self.transforms = transforms
        super().__init__(
            input_dir=os.fspath(input_dir),
            cache_dir=None if cache_dir is None else os.fspath(cache_dir),
            shuffle=shuffle,
            seed=seed,
            drop_last=drop_last,
            transform=self._sample,
        )

    def _sample(self, item: Mapping[str, Any]) -> Any:
        sample = decode_record(item)
        return sample if self.transforms is None else self.transforms(sample)

    @property
    def classes(self) -> list[str] | None:
        """The written dataset's class names."""
        return self.metadata["classes"]

    @property
    def num_classes(self) -> int:
        """The written dataset's number of classes."""
        if self.metadata["num_classes"] is None:
            raise AttributeError(f"{self.metadata['dataset']} had no num_classes")
        return int(self.metadata["num_classes"])

    @property
    def targets(self) -> list[int]:
        """The written dataset's label per sample."""
        if self.metadata["targets"] is None:
            raise AttributeError(f"{self.metadata['dataset']} had no targets")
        return list(self.metadata["targets"])


def streaming_loader(
    dataset: StreamingSamples,
    *,
    batch_size: int,
    num_workers: int = 0,
    pin_memory: bool = False,
    drop_last: bool = False,
    collate_fn: Callable[[list[Any]], Any] | None = None,
    persistent_workers: bool = False,
) -> DataLoader[Any]:
    """The litdata loader over a stream: epochs reshuffle, and its state resumes mid-epoch."""
    _require_litdata()
    assert StreamingDataLoader is not None
    return StreamingDataLoader(
        dataset,
        batch_size=batch_size,
        num_workers=num_workers,
        pin_memory=pin_memory,
        drop_last=drop_last,
        collate_fn=collate_fn,
        persistent_workers=persistent_workers and num_workers > 0,
    )


# -- command line ----------------------------------------------------------------------------
def main(args: Sequence[str] | None = None) -> None:
    """``deepvision-optimize``: write a data module's dataset of one stage as a stream.

    The data module is given as to ``deepvision`` (``--data ImageNetDataModule --data.root
    DIR``, or ``--config`` a recipe's YAML with a ``data:`` section); its dataset of ``--stage``
    is written before transforms, so the stream serves any transforms later.

    Returns nothing (a console script exits with the status of what ``main`` returns).

    Args:
        args: Arguments instead of ``sys.argv[1:]``.
    """
    from jsonargparse import ActionConfigFile, ArgumentParser

    import lightning_deepvision.datamodules  # noqa: F401  (short class names for --data)
    from lightning_deepvision.datamodules.base import STAGES, BaseDataModule

    parser = ArgumentParser(
        prog="deepvision-optimize",
        description="Write a data module's dataset once in litdata's streaming format.",
        parser_mode="omegaconf",
    )
    parser.add_argument("--config", action=ActionConfigFile, help="A YAML with a data: section.")
    parser.add_subclass_arguments(BaseDataModule, "data", required=True)
    parser.add_argument("--stage", choices=STAGES, default="train", help="The dataset written.")
    parser.add_argument("--output", type=str, required=True, help="Folder or s3:// URI.")
    parser.add_argument("--num_workers", type=int | None, default=None, help="Writers.")
    parser.add_argument("--chunk_bytes", type=str, default="64MB", help="Chunk size.")
    config = parser.parse_args(args)
    data = parser.instantiate(config).data
    dataset = data.dataset(config.stage)
    output = optimize_dataset(
        dataset, config.output, num_workers=config.num_workers, chunk_bytes=config.chunk_bytes
    )
    print(f"wrote {len(dataset)} samples of {type(dataset).__name__} to {output}")


if __name__ == "__main__":
    main()
