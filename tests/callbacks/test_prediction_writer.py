"""PredictionWriter: every task's predictions written as arrays + predictions.csv, read back."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from lightning.pytorch import LightningDataModule, LightningModule

from lightning_deepvision.callbacks.prediction_columns import split_batch
from lightning_deepvision.callbacks.prediction_merge import merge_shards
from lightning_deepvision.callbacks.prediction_writer import (
    PredictionWriter,
    path_namer,
    read_index,
)
from lightning_deepvision.datamodules import (
    DigitsDataModule,
    HelenDataModule,
    ImageFolderDataModule,
    SyntheticAttributesDataModule,
    SyntheticMultiViewDataModule,
    SyntheticObjectsDataModule,
    SyntheticParsingDataModule,
    SyntheticPedestriansDataModule,
)
from lightning_deepvision.datasets.image_files import ImageFiles
from lightning_deepvision.datasets.lfw_attributes import LFWAttributes
from lightning_deepvision.tasks import (
    AttributesTask,
    AutoencoderTask,
    ClassificationTask,
    DetectionTask,
    ParsingTask,
    ReconstructionTask,
    VerificationTask,
)
from lightning_deepvision.testing import (
    quiet_trainer,
    save_image,
    write_helen,
    write_identity_folder,
    write_image_folder,
    write_lfw_attributes,
)
from tests.recipes._support import run_recipe
from tests.recipes.test_recipes import SMALL_DATA

LOADER: dict[str, Any] = {"eval_batch_size": 4, "num_workers": 0}


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Ten images: three people's folders of three and one loose image at the top."""
    root = tmp_path_factory.mktemp("user_images")
    write_identity_folder(root / "people", num_identities=3, images_per_identity=3)
    save_image(torch.full((3, 64, 56), 90, dtype=torch.uint8), root / "loose.png")
    return root


def predict(
    task: LightningModule, data: LightningDataModule, directory: Path, **options: Any
) -> tuple[PredictionWriter, list[dict[str, str]]]:
    writer = PredictionWriter(**options)
    trainer = quiet_trainer(callbacks=[writer], default_root_dir=directory)
    assert trainer.predict(task, datamodule=data, return_predictions=False) is None
    return writer, read_index(writer.files["index"])


def check_arrays(writer: PredictionWriter, shapes: dict[str, tuple[int, ...]]) -> None:
    for key, shape in shapes.items():
        array = np.load(writer.files[key])
        assert array.shape == shape, key
        assert np.isfinite(array.astype(np.float64)).all(), key


def check_paths(rows: list[dict[str, str]], folder: Path) -> None:
    expected = [str(folder / f) for f in ImageFiles(folder).files]
    assert [r["path"] for r in rows] == expected
    assert [int(r["row"]) for r in rows] == list(range(len(expected)))


def test_classification_on_a_folder(folder: Path, tmp_path: Path) -> None:
    data = SyntheticObjectsDataModule(
        eval_images_per_class=2,
        render_size=32,
        resize_size=72,
        image_size=67,
        predict_root=folder,
        **LOADER,
    )
    task = ClassificationTask(backbone="alexnet_tiny", input_size=(67, 67), num_classes=10)
    writer, rows = predict(task, data, tmp_path)
    assert writer.directory == tmp_path / "predictions"
    check_paths(rows, folder)
    check_arrays(writer, {"probabilities": (10, 10)})
    assert np.load(writer.files["features"]).shape[0] == 10
    probabilities = np.load(writer.files["probabilities"])
    assert np.allclose(probabilities.sum(1), 1.0, atol=1e-5)
    names = [rows[i]["top_class"] for i in range(10)]
    assert names == [data.classes[int(i)] for i in probabilities.argmax(1)]
    assert np.allclose([float(r["top_probability"]) for r in rows], probabilities.max(1))


def test_a_built_in_split_over_files_names_them(tmp_path: Path) -> None:
    root = write_image_folder(tmp_path / "tree", images_per_class={"train": 1, "val": 2})
    data = ImageFolderDataModule(root, image_size=67, resize_size=72, **LOADER)
    task = ClassificationTask(backbone="alexnet_tiny", input_size=(67, 67))
    _, rows = predict(task, data, tmp_path / "run")
    dataset = data.dataset("predict")
    assert [r["path"] for r in rows] == [str(dataset.path(i)) for i in range(6)]  # type: ignore[attr-defined]
    assert all(
        Path(r["path"]).is_file() and Path(r["path"]).parent.parent == root / "val" for r in rows
    )
    assert {r["top_class"] for r in rows} <= set(data.classes)
    assert [int(r["label"]) for r in rows] == [0, 0, 1, 1, 2, 2]


def test_helen_label_maps_are_traced_to_their_images(tmp_path: Path) -> None:
    root = write_helen(tmp_path / "helen", counts=(2, 2, 3), image_size=(40, 32))
    data = HelenDataModule(str(root), input_size=(32, 32), **LOADER)
    task = ParsingTask(backbone="cross_modality_parsing_tiny")
    writer, rows = predict(task, data, tmp_path / "run")
    assert len(rows) == 3 and np.load(writer.files["mask"]).shape == (3, 32, 32)
    assert all(Path(r["path"]).parent == root / "images" for r in rows)
    assert [Path(r["path"]).stem for r in rows] == data.dataset("predict").names  # type: ignore[attr-defined]


def test_verification_on_a_folder_gives_embeddings(
    folder: Path, tmp_path: Path, tiny_faces: Callable[..., Any]
) -> None:
    data = tiny_faces(predict_root=folder)
    task = VerificationTask(backbone="deepid2_tiny", flip_test="none")
    writer, rows = predict(task, data, tmp_path)
    check_paths(rows, folder)
    embedding = np.load(writer.files["embedding"])
    assert embedding.shape[0] == 10 and embedding.ndim == 2
    task.eval()
    with torch.no_grad():
        first = task.embed(data.dataset("predict")[0]["image"][None])
    assert np.allclose(embedding[0], first.numpy()[0], atol=1e-5)
    (batch, *_) = quiet_trainer().predict(task, datamodule=data)
    assert batch["path"] == [r["path"] for r in rows[: len(batch["path"])]]  # carried itself


def test_verification_pairs_are_written_per_pair(
    tmp_path: Path, tiny_faces: Callable[..., Any]
) -> None:
    data = tiny_faces()
    task = VerificationTask(backbone="deepid2_tiny", flip_test="none")
    writer, rows = predict(task, data, tmp_path)
    pairs = len(data.dataset("predict"))
    assert len(rows) == pairs
    assert np.load(writer.files["embedding1"]).shape[0] == pairs
    assert np.load(writer.files["embedding2"]).shape == np.load(writer.files["embedding1"]).shape
    # No file behind a synthetic pair: its path names the dataset and the sample.
    assert rows[3]["path"].endswith("[3]")
    assert {r["same"] for r in rows} <= {"True", "False", "0", "1"}
    assert all(np.isfinite(float(r["score"])) for r in rows)


def test_attributes_on_a_folder_name_the_present_ones(folder: Path, tmp_path: Path) -> None:
    data = SyntheticAttributesDataModule(
        num_train_identities=2, num_eval_identities=2, predict_root=folder, **LOADER
    )
    task = AttributesTask(backbone="anet_tiny", attribute_names=data.attribute_names)
    writer, rows = predict(task, data, tmp_path)
    check_paths(rows, folder)
    probabilities = np.load(writer.files["probabilities"])
    assert probabilities.shape == (10, len(data.attribute_names))
    names = writer.files["probabilities.names"].read_text().split()
    assert names == data.attribute_names
    present = np.load(writer.files["present"])
    listed = [row["labels"].split(";") if row["labels"] else [] for row in rows]
    assert listed == [[n for n, f in zip(names, flags, strict=True) if f] for flags in present]
    assert np.array_equal(present, probabilities > 0.5)


def test_parsing_writes_label_maps(folder: Path, tmp_path: Path) -> None:
    data = SyntheticParsingDataModule(
        train_images=4, eval_images=4, image_size=(32, 28), predict_root=folder, **LOADER
    )
    task = ParsingTask(backbone="cross_modality_parsing_tiny", num_classes=11)
    writer, rows = predict(task, data, tmp_path)
    check_paths(rows, folder)
    masks = np.load(writer.files["mask"])
    assert masks.shape[0] == 10 and masks.dtype == np.int64
    assert masks.min() >= 0 and masks.max() < 11


def test_reconstruction_writes_features_and_views(folder: Path, tmp_path: Path) -> None:
    data = SyntheticMultiViewDataModule(
        train_identities=2, eval_identities=2, images_per_identity=7, render_size=32,
        image_size=(16, 16), predict_root=folder, **LOADER,
    )  # fmt: skip
    task = ReconstructionTask(backbone="fip_tiny", input_size=(16, 16))
    writer, rows = predict(task, data, tmp_path)
    check_paths(rows, folder)
    reconstruction = np.load(writer.files["reconstruction"])
    assert reconstruction.shape[0] == 10 and reconstruction.shape[-2:] == (16, 16)
    assert np.load(writer.files["features"]).shape[0] == 10


def test_autoencoder_writes_codes(folder: Path, tmp_path: Path) -> None:
    data = DigitsDataModule(predict_root=folder, **LOADER)
    task = AutoencoderTask(backbone="deep_autoencoder_tiny", pca_components=0)
    writer, rows = predict(task, data, tmp_path)
    check_paths(rows, folder)
    assert np.load(writer.files["code"]).shape[0] == 10
    assert np.load(writer.files["reconstruction"]).shape[0] == 10
    (batch, *_) = quiet_trainer().predict(task, datamodule=data)
    assert batch["path"] == [r["path"] for r in rows[:4]]


def test_detections_are_concatenated_with_offsets(tmp_path: Path) -> None:
    data = SyntheticPedestriansDataModule(
        train_frames=1, val_frames=1, test_frames=3, frame_size=(120, 160), **LOADER
    )
    torch.manual_seed(0)  # weights that find boxes (an untrained UDN may find none)
    task = DetectionTask(backbone="udn_tiny", preprocessing="none")
    writer, rows = predict(task, data, tmp_path)
    assert len(rows) == 3
    boxes, scores = np.load(writer.files["boxes"]), np.load(writer.files["scores"])
    offsets = np.load(writer.files["boxes.offsets"])
    assert boxes.shape == (offsets[-1], 4) and scores.shape == (offsets[-1],)
    assert offsets[-1] > 0
    task.eval()
    dataset = data.dataset("predict")
    for i, row in enumerate(rows):
        start, count = int(row["boxes_start"]), int(row["boxes_count"])
        assert (start, start + count) == (offsets[i], offsets[i + 1])
        with torch.no_grad():
            expected = task.predict_step(data.collate_fn("predict")([dataset[i]]), 0)[0]
        assert np.allclose(boxes[start : start + count], expected["boxes"].numpy(), atol=1e-4)
        assert row["frame"] == str(int(expected["frame"]))


def test_detection_on_a_folder_of_frames(tmp_path: Path) -> None:
    root = tmp_path / "frames"
    root.mkdir()
    for i in range(3):
        save_image(torch.randint(0, 255, (3, 120, 160), dtype=torch.uint8), root / f"{i}.png")
    data = SyntheticPedestriansDataModule(
        train_frames=1, val_frames=1, test_frames=1, predict_root=root, **LOADER
    )
    task = DetectionTask(backbone="udn_tiny", preprocessing="none")
    writer, rows = predict(task, data, tmp_path / "run")
    assert [r["path"] for r in rows] == [str(root / f"{i}.png") for i in range(3)]
    assert sum(int(r["boxes_count"]) for r in rows) == np.load(writer.files["boxes"]).shape[0]


def test_a_second_predict_never_overwrites(folder: Path, tmp_path: Path) -> None:
    data = DigitsDataModule(predict_root=folder, **LOADER)
    task = AutoencoderTask(backbone="deep_autoencoder_tiny", pca_components=0)
    first, _ = predict(task, data, tmp_path)
    before = first.files["code"].read_bytes()
    second, rows = predict(task, data, tmp_path)
    assert second.directory == tmp_path / "predictions-1"
    assert first.files["code"].read_bytes() == before and len(rows) == 10
    assert not (tmp_path / "predictions" / ".shards").exists()


def test_epoch_interval_writes_the_same_files(folder: Path, tmp_path: Path) -> None:
    data = DigitsDataModule(predict_root=folder, **LOADER)
    task = AutoencoderTask(backbone="deep_autoencoder_tiny", pca_components=0)
    batch, _ = predict(task, data, tmp_path / "batch")
    writer = PredictionWriter(write_interval="epoch")
    quiet_trainer(callbacks=[writer], default_root_dir=tmp_path / "epoch").predict(task, data)
    assert np.array_equal(np.load(writer.files["code"]), np.load(batch.files["code"]))
    assert len(read_index(writer.files["index"])) == 10


def test_split_batch_errors_name_the_entry() -> None:
    with pytest.raises(ValueError, match=r"'label' has shape \(3,\): expected 2 samples"):
        split_batch({"embedding": torch.zeros(2, 4), "label": torch.zeros(3)})
    with pytest.raises(TypeError, match="'extra' is a int"):
        split_batch({"embedding": torch.zeros(2, 4), "extra": 3})
    with pytest.raises(TypeError, match="predict_step returned a Tensor"):
        split_batch(torch.zeros(2))


def test_merge_keeps_each_sample_once_in_dataset_order(tmp_path: Path) -> None:
    # Two processes' shards as a padded sampler leaves them: sample 0 repeated on rank 1.
    shards = tmp_path / "shards"
    shards.mkdir()
    for name, indices in (("a", [2, 0]), ("b", [1, 0])):
        np.savez(
            shards / f"{name}.npz",
            __index__=np.array(indices),
            **{"a:embedding": np.array(indices, dtype=np.float32)[:, None].repeat(3, 1)},
            **{"s:path": np.array([f"img{i}.png" for i in indices])},
            **{"r:boxes": np.ones((sum(indices), 4)), "c:boxes": np.array(indices)},
        )
    files, count = merge_shards(sorted(shards.iterdir()), tmp_path / "out", {}, str)
    assert count == 3
    assert np.array_equal(np.load(files["embedding"])[:, 0], [0.0, 1.0, 2.0])
    assert [r["path"] for r in read_index(files["index"])] == ["img0.png", "img1.png", "img2.png"]
    assert np.array_equal(np.load(files["boxes.offsets"]), [0, 0, 1, 3])
    assert np.load(files["boxes"]).shape == (3, 4)


def _predict_codes(root: Path, out: Path, **trainer: Any) -> None:
    data = DigitsDataModule(predict_root=root, eval_batch_size=2, num_workers=0)
    torch.manual_seed(0)
    task = AutoencoderTask(backbone="deep_autoencoder_tiny", pca_components=0)
    writer = PredictionWriter(output_dir=out)
    quiet_trainer(callbacks=[writer], **trainer).predict(task, data, return_predictions=False)


def test_two_processes_write_each_path_once(tmp_path: Path) -> None:
    root = write_identity_folder(tmp_path / "nine", num_identities=3, images_per_identity=3)
    _predict_codes(root, tmp_path / "one")
    _predict_codes(root, tmp_path / "two", strategy="ddp_fork", devices=2)
    one, two = (
        read_index(tmp_path / "one/predictions.csv"),
        read_index(tmp_path / "two/predictions.csv"),
    )
    assert [r["path"] for r in two] == [str(root / f) for f in ImageFiles(root).files]
    assert one == two
    codes = np.load(tmp_path / "two/code.npy")
    assert codes.shape[0] == 9
    assert np.allclose(codes, np.load(tmp_path / "one/code.npy"), atol=1e-6)
    assert not (tmp_path / "two" / ".shards").exists()


def test_cli_predict_writes_a_folder_by_default(
    folder: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setattr(sys, "argv", ["deepvision"])  # not pytest's own arguments
    cli = run_recipe(
        "deepid2",
        "predict",
        *SMALL_DATA,
        "--model.init_args.backbone=deepid2_tiny",
        f"--data.predict_root={folder}",
        tmp_path=tmp_path,
    )
    (writer,) = [c for c in cli.trainer.callbacks if isinstance(c, PredictionWriter)]
    rows = read_index(writer.files["index"])
    check_paths(rows, folder)
    embedding = np.load(writer.files["embedding"])
    assert embedding.shape[0] == 10
    out = capsys.readouterr().out
    assert f"Predictions of 10 samples written to {writer.directory}" in out


def test_lfw_attribute_samples_are_named_by_their_files(tmp_path: Path) -> None:
    root = write_lfw_attributes(tmp_path / "lfw", num_people=4)
    dataset = LFWAttributes(root, "test", train_images=2)
    names = [path_namer(dataset)(i) for i in range(len(dataset))]
    assert all(Path(n).is_file() and n.endswith(".jpg") for n in names)
    assert len(set(names)) == len(dataset)
    assert path_namer(object())(7) == "object[7]"
