"""litdata streams: written once from the official layouts, read back equal to the readers."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch
from torchvision import tv_tensors

pytest.importorskip("litdata")

from lightning_deepvision.datasets import (
    CaltechPedestrian,
    CaltechWindows,
    CelebA,
    IdentityFolder,
    ImageNet,
)
from lightning_deepvision.streaming import (
    METADATA_FILE,
    StreamingSamples,
    main,
    optimize_dataset,
    read_metadata,
)
from lightning_deepvision.testing.caltech import write_caltech
from lightning_deepvision.testing.celeba import write_celeba
from lightning_deepvision.testing.identity_folder import write_identity_folder
from lightning_deepvision.testing.imagenet import write_imagenet


def assert_same_sample(streamed: dict[str, Any], own: dict[str, Any]) -> None:
    """Same keys in the same order, values of the same type, dtype, shape, content, metadata."""
    assert list(streamed) == list(own)
    for key, value in own.items():
        got = streamed[key]
        assert type(got) is type(value), key
        if isinstance(value, torch.Tensor):
            assert got.dtype == value.dtype and got.shape == value.shape, key
            assert torch.equal(got, value), key
            assert getattr(got, "canvas_size", None) == getattr(value, "canvas_size", None), key
            assert getattr(got, "format", None) == getattr(value, "format", None), key
        else:
            assert got == value, key


def _imagenet(root: Path) -> ImageNet:
    return ImageNet(write_imagenet(root / "imagenet", layout="devkit", grey_images=2), "train")


def _celeba(root: Path) -> CelebA:
    path = write_celeba(root / "celeba", num_identities=4, images_per_identity=2)
    return CelebA(path, "all", target=["attributes", "identity", "bbox", "landmarks"])


def _identity_folder(root: Path) -> IdentityFolder:
    path = write_identity_folder(root / "faces", num_identities=3, images_per_identity=3, ext="pgm")
    return IdentityFolder(path, "all")


def _caltech_frames(root: Path) -> CaltechPedestrian:
    path = write_caltech(root / "caltech", sets=("set00",), num_frames=6, frame_size=(96, 128))
    return CaltechPedestrian(path, "train", train_stride=2)


def _caltech_windows(root: Path) -> CaltechWindows:
    return CaltechWindows(_caltech_frames(root), negatives_per_frame=1)


READERS: dict[str, Callable[[Path], Any]] = {
    "imagenet": _imagenet,
    "celeba": _celeba,
    "identity_folder": _identity_folder,
    "caltech_frames": _caltech_frames,
    "caltech_windows": _caltech_windows,
}


@pytest.mark.parametrize("name", list(READERS))
def test_stream_equals_the_folder_reader(name: str, tmp_path: Path) -> None:
    dataset = READERS[name](tmp_path)
    output = optimize_dataset(dataset, tmp_path / "stream", num_workers=2, seed=5)
    stream = StreamingSamples(output)
    assert len(stream) == len(dataset) > 0
    streamed = list(stream)  # in written order (no shuffle)
    assert len(streamed) == len(dataset)
    for index, sample in enumerate(streamed):
        # Windows are drawn afresh at each access; the stream holds the draw of seed + index.
        torch.manual_seed(5 + index)
        assert_same_sample(sample, dataset[index])
    assert isinstance(streamed[0]["image"], tv_tensors.Image)
    metadata = read_metadata(output)
    assert metadata["dataset"] == type(dataset).__name__
    assert metadata["length"] == len(dataset)


def test_stream_keeps_classes_and_labels_and_applies_transforms(tmp_path: Path) -> None:
    dataset = _imagenet(tmp_path)
    output = optimize_dataset(dataset, tmp_path / "stream", num_workers=1)
    stream = StreamingSamples(output, transforms=lambda s: {"label": s["label"] + 100})
    assert stream.classes == dataset.classes
    assert stream.num_classes == dataset.num_classes
    assert stream.targets == dataset.targets.tolist()
    assert sorted(int(s["label"]) for s in stream) == sorted(t + 100 for t in stream.targets)
    with pytest.raises(RuntimeError, match="already contains"):  # nothing is overwritten
        optimize_dataset(dataset, output, num_workers=1)


def test_shuffled_stream_holds_every_sample_once(tmp_path: Path) -> None:
    dataset = _identity_folder(tmp_path)
    output = optimize_dataset(dataset, tmp_path / "stream", num_workers=2, chunk_bytes=2000)
    orders = []
    for shuffle, seed in ((False, 0), (True, 0), (True, 1)):
        stream = StreamingSamples(output, shuffle=shuffle, seed=seed)
        orders.append([int(s["label"]) * 1000 + int(s["image"].sum()) % 1000 for s in stream])
    in_order, *shuffled = orders
    assert len(in_order) == len(dataset)
    assert all(sorted(order) == sorted(in_order) for order in shuffled)
    assert shuffled[0] != in_order


def test_dataset_without_raw_sample_is_refused(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match="no raw_sample"):
        optimize_dataset([{"image": torch.zeros(3, 2, 2)}], tmp_path / "out")  # type: ignore[arg-type]


def test_raw_sample_differing_from_the_sample_is_refused(tmp_path: Path) -> None:
    dataset = _identity_folder(tmp_path)

    class Labelless(IdentityFolder):
        def raw_sample(self, index: int) -> dict[str, Any]:
            raw = super().raw_sample(index)
            del raw["label"]
            return raw

    broken = Labelless(dataset.root, "all")
    with pytest.raises(ValueError, match=r"differs .* \['label'\]"):
        optimize_dataset(broken, tmp_path / "out")


def test_folder_not_written_by_optimize_is_named(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=METADATA_FILE):
        StreamingSamples(tmp_path)


def test_command_line_writes_a_data_module_stage(tmp_path: Path) -> None:
    root = write_imagenet(tmp_path / "imagenet", layout="sorted")
    output = str(tmp_path / "stream")
    main(
        [
            "--data",
            "ImageNetDataModule",
            "--data.root",
            str(root),
            "--data.num_workers",
            "0",
            "--output",
            str(tmp_path / "stream"),
            "--num_workers",
            "1",
        ]
    )
    stream = StreamingSamples(output)
    reference = ImageNet(root, "train")
    assert len(stream) == len(reference)
    assert_same_sample(next(iter(stream)), reference[0])


def test_data_module_fits_from_the_stream(tmp_path: Path) -> None:
    from lightning_deepvision.datamodules import ImageNetDataModule
    from lightning_deepvision.tasks import ClassificationTask
    from lightning_deepvision.testing.trainers import quiet_trainer

    root = write_imagenet(tmp_path / "imagenet", layout="sorted", train_images_per_class=4)
    output = optimize_dataset(ImageNet(root, "train"), tmp_path / "stream", num_workers=1)
    options: dict[str, Any] = dict(image_size=67, resize_size=72, batch_size=4, num_workers=0)
    data = ImageNetDataModule(root, eval_batch_size=4, streaming_root=output, **options)
    task = ClassificationTask(backbone="alexnet_tiny", input_size=(67, 67))
    trainer = quiet_trainer(fast_dev_run=True, default_root_dir=tmp_path)
    trainer.fit(task, data)
    assert trainer.state.finished
    assert isinstance(data.dataset("train"), StreamingSamples)
    assert type(trainer.train_dataloader).__name__ == "StreamingDataLoader"
    assert data.num_classes == ImageNet(root, "val").num_classes
    batch = next(iter(data.train_dataloader()))
    assert batch["image"].shape == (4, 3, 67, 67) and batch["label"].dtype == torch.int64


def test_caltech_windows_stream_through_the_command_line(tmp_path: Path) -> None:
    from lightning_deepvision.datamodules import CaltechDataModule

    root = write_caltech(tmp_path / "caltech", sets=("set00",), num_frames=60)
    data = ["--data", "CaltechDataModule", "--data.root", str(root), "--data.num_workers", "0"]
    output = str(tmp_path / "stream")
    main([*data, "--output", output, "--num_workers", "1"])
    folder = CaltechDataModule(root, batch_size=4, num_workers=0)
    streamed = CaltechDataModule(root, batch_size=4, num_workers=0, streaming_root=output)
    assert len(StreamingSamples(output)) == len(folder.dataset("train"))
    batch, reference = (
        next(iter(streamed.train_dataloader())),
        next(iter(folder.train_dataloader())),
    )
    assert batch.keys() == reference.keys()
    for key, value in reference.items():
        assert batch[key].shape == value.shape and batch[key].dtype == value.dtype, key
    with pytest.raises(ValueError, match="hard-negative mining"):
        streamed.add_hard_negatives({0: torch.zeros(0, 5)})


def test_identity_folder_module_fits_from_the_stream_and_saves_its_position(
    tmp_path: Path, make_identity_folder: Callable[..., Path], lfw_root: Path
) -> None:
    from lightning.pytorch import seed_everything

    from lightning_deepvision.datamodules import IdentityFolderLFWDataModule
    from lightning_deepvision.tasks import VerificationTask
    from lightning_deepvision.testing.trainers import quiet_trainer

    train_root = make_identity_folder(num_identities=5)
    data = ["--data", "IdentityFolderLFWDataModule", "--data.train_root", str(train_root)]
    data += ["--data.lfw_root", str(lfw_root), "--data.num_workers", "0"]
    output = str(tmp_path / "stream")
    main([*data, "--output", output, "--num_workers", "1"])
    options: dict[str, Any] = dict(identities_per_batch=2, images_per_identity=2, num_workers=0)
    streamed = IdentityFolderLFWDataModule(
        train_root, lfw_root, eval_batch_size=8, streaming_root=output, **options
    )
    assert streamed.num_classes == 5
    assert sorted(streamed.train_labels()) == sorted(IdentityFolder(train_root).targets)
    seed_everything(0)
    task = VerificationTask(backbone="deepid2_tiny", flip_test="none")
    trainer = quiet_trainer(max_steps=2, limit_val_batches=1, default_root_dir=tmp_path)
    trainer.fit(task, streamed)
    batch = next(iter(streamed.train_dataloader()))
    assert batch["image"].shape == (4, 3, 55, 47) and set(batch) == {"image", "label"}
    trainer.save_checkpoint(tmp_path / "last.ckpt")
    checkpoint = torch.load(tmp_path / "last.ckpt", weights_only=True)
    # Lightning keeps the state of litdata's loader, from which a resumed run continues.
    loader_state = checkpoint["loops"]["fit_loop"]["state_dict"]["combined_loader"]
    assert loader_state and loader_state[0]["num_samples_yielded"] > 0


@pytest.mark.slow
def test_two_processes_share_the_stream_without_a_distributed_sampler(tmp_path: Path) -> None:
    from lightning.pytorch import Callback, LightningModule, Trainer

    from lightning_deepvision.datamodules import ImageNetDataModule
    from lightning_deepvision.tasks import ClassificationTask

    class Record(Callback):
        def on_train_batch_start(
            self, trainer: Trainer, module: LightningModule, batch: Any, batch_idx: int
        ) -> None:
            assert not isinstance(
                trainer.train_dataloader.sampler, torch.utils.data.DistributedSampler
            )
            sums = batch["image"].flatten(1).sum(1).tolist()
            with open(tmp_path / f"rank{trainer.global_rank}.txt", "a") as handle:
                handle.writelines(f"{s:.3f}\n" for s in sums)

    root = write_imagenet(tmp_path / "imagenet", layout="sorted", train_images_per_class=4)
    output = optimize_dataset(ImageNet(root, "train"), tmp_path / "stream", num_workers=1)
    options: dict[str, Any] = dict(image_size=67, resize_size=72, augment=False, num_workers=0)
    folder = ImageNetDataModule(root, batch_size=2, **options)
    expected = sorted(f"{float(s['image'].sum()):.3f}" for s in folder.dataset("train"))
    assert len(set(expected)) == len(expected) == 16
    data = ImageNetDataModule(root, batch_size=2, streaming_root=output, **options)
    trainer = Trainer(
        accelerator="cpu",
        devices=2,
        strategy="ddp_fork",
        max_epochs=1,
        limit_val_batches=0,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        callbacks=[Record()],
        default_root_dir=tmp_path,
    )
    trainer.fit(ClassificationTask(backbone="alexnet_tiny", input_size=(67, 67)), data)
    seen = [(tmp_path / f"rank{r}.txt").read_text().split() for r in (0, 1)]
    assert len(seen[0]) == len(seen[1]) == 8  # litdata split the 16 images between them
    assert not set(seen[0]) & set(seen[1])
    assert sorted(seen[0] + seen[1]) == expected


def test_missing_litdata_says_what_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import lightning_deepvision.streaming as streaming

    monkeypatch.setattr(streaming, "optimize", None)
    with pytest.raises(ImportError, match=r"pip install 'lightning-deepvision\[streaming\]'"):
        optimize_dataset(_identity_folder(tmp_path), tmp_path / "out")
    with pytest.raises(ImportError, match="litdata"):
        StreamingSamples(tmp_path)


@pytest.mark.slow
def test_a_run_resumed_mid_epoch_reads_the_rest_of_the_stream(tmp_path: Path) -> None:
    from lightning.pytorch import Callback, LightningModule, Trainer, seed_everything

    from lightning_deepvision.callbacks import ResumeCheckpoint
    from lightning_deepvision.datamodules import ImageNetDataModule
    from lightning_deepvision.tasks import ClassificationTask
    from lightning_deepvision.testing.trainers import quiet_trainer

    class Interrupted(Exception):
        pass

    class Record(Callback):
        def __init__(self, stop_at: int | None = None) -> None:
            self.seen: list[list[str]] = []
            self.stop_at = stop_at

        def on_train_batch_start(
            self, trainer: Trainer, module: LightningModule, batch: Any, batch_idx: int
        ) -> None:
            if trainer.global_step == self.stop_at:
                raise Interrupted  # a crash: nothing saved after the last checkpoint
            self.seen.append([f"{s:.3f}" for s in batch["image"].flatten(1).sum(1).tolist()])

    root = write_imagenet(tmp_path / "imagenet", layout="sorted", train_images_per_class=4)
    output = optimize_dataset(ImageNet(root, "train"), tmp_path / "stream", chunk_bytes=5000)

    def fit(record: Record, run: str, ckpt_path: str | None = None) -> None:
        seed_everything(1)
        data = ImageNetDataModule(
            root,
            image_size=67,
            resize_size=72,
            augment=False,
            batch_size=4,
            num_workers=0,
            streaming_root=output,
        )
        checkpoints = ResumeCheckpoint(every_n_train_steps=2, dirpath=str(tmp_path / run))
        trainer = quiet_trainer(
            max_epochs=2,
            limit_val_batches=0,
            callbacks=[record, checkpoints],
            enable_checkpointing=True,
            default_root_dir=tmp_path,
        )
        task = ClassificationTask(backbone="alexnet_tiny", input_size=(67, 67))
        trainer.fit(task, data, ckpt_path=ckpt_path)

    uninterrupted, interrupted, resumed = Record(), Record(stop_at=6), Record()
    fit(uninterrupted, "a")
    with pytest.raises(Interrupted):
        fit(interrupted, "b")
    fit(resumed, "c", ckpt_path=str(tmp_path / "b" / "last.ckpt"))  # the step-6 checkpoint
    assert len(uninterrupted.seen) == 8  # 2 epochs of 4 batches, each epoch reshuffled
    assert uninterrupted.seen[:4] != uninterrupted.seen[4:]
    assert interrupted.seen + resumed.seen == uninterrupted.seen


def test_celeba_attribute_module_streams_aligned_faces(tmp_path: Path) -> None:
    from lightning_deepvision.datamodules import CelebADataModule

    root = write_celeba(tmp_path / "celeba", num_identities=4, images_per_identity=2)
    args = ["--data", "CelebADataModule", "--data.root", str(root), "--data.align", "true"]
    output = str(tmp_path / "stream")
    main([*args, "--data.num_workers", "0", "--output", output, "--num_workers", "1"])
    options: dict[str, Any] = dict(batch_size=2, input_size=(55, 47), align=True, num_workers=0)
    folder = CelebADataModule(root, **options)
    streamed = CelebADataModule(root, streaming_root=output, **options)
    # Landmarks come back as KeyPoints on their canvas: the alignment gives the same faces.
    transform = folder.streaming_transforms("val")
    stream = StreamingSamples(output, transforms=transform)
    reference = folder.celeba("train", "attributes", transform)
    assert len(stream) == len(reference)
    for sample, own in zip(stream, (reference[i] for i in range(len(reference))), strict=True):
        assert_same_sample(sample, own)
    batch = next(iter(streamed.train_dataloader()))
    assert batch["image"].shape == (2, 3, 55, 47) and batch["attributes"].shape == (2, 40)
    assert torch.equal(streamed.attribute_positive_rates(), folder.attribute_positive_rates())
