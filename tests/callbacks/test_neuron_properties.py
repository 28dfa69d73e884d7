"""NeuronProperties: known answers end to end, no effect on the task, CLI recipe, 1 vs N ranks."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch
from lightning.pytorch import LightningDataModule, LightningModule, seed_everything
from torch import Tensor, nn
from torch.utils.data import DataLoader, Dataset

from lightning_deepvision.callbacks import LabelledImagesData, NeuronProperties
from lightning_deepvision.callbacks.neuron_properties import default_layers
from lightning_deepvision.cli import main
from lightning_deepvision.tasks import VerificationTask
from lightning_deepvision.testing.trainers import quiet_trainer

RECIPES = Path(__file__).resolve().parents[2] / "recipes"
PNG = b"\x89PNG\r\n\x1a\n"


# -- a network whose neurons have known answers ------------------------------------------------
def _face(attribute_a: int, attribute_b: int, person: int, noise: Tensor) -> Tensor:
    """A 1x6x6 "image": row 0 holds attribute A, attribute B and people 0-3 one-hot."""
    image = noise.clone()
    image[0, 0, :] = 0.0
    image[0, 0, 0] = float(attribute_a)
    image[0, 0, 1] = float(attribute_b)
    if person < 4:
        image[0, 0, 2 + person] = 1.0
    return image


class KnownNet(LightningModule):
    """``main``: neuron 0 = A (excitatory), neuron 1 = 1 - B (inhibitory for B), neuron 2 = is
    person 0, neuron 3 = a pixel of the bottom rows; ``zeros``: a layer that is always 0."""

    def __init__(self) -> None:
        super().__init__()
        self.main = nn.Linear(36, 4)
        self.zeros = nn.Linear(36, 3)
        with torch.no_grad():
            self.main.weight.zero_()
            self.main.bias.zero_()
            self.main.weight[0, 0] = 1.0
            self.main.weight[1, 1] = -1.0
            self.main.bias[1] = 1.0
            self.main.weight[2, 2] = 1.0
            self.main.weight[3, 30] = 0.1
            self.main.bias[3] = 0.1  # never zero, even with its pixel occluded
            self.zeros.weight.zero_()
            self.zeros.bias.zero_()

    def forward(self, images: Tensor) -> Tensor:
        flat = images.flatten(1)
        return torch.cat([torch.relu(self.main(flat)), torch.relu(self.zeros(flat))], dim=1)

    def validation_step(self, batch: dict[str, Tensor], batch_idx: int) -> None:
        # Like a verification task: each image, and a mirrored copy that must not be recorded.
        self(batch["image1"])
        self(batch["image1"].flip(-1) * 100)
        self(batch["image2"])

    def test_step(self, batch: dict[str, Tensor], batch_idx: int) -> None:
        self.validation_step(batch, batch_idx)


class _Faces(Dataset[dict[str, Tensor]]):
    attribute_names = ("A", "B")

    def __init__(self, people: int = 6, per_person: int = 6) -> None:
        g = torch.Generator().manual_seed(0)
        self.samples = []
        for person in range(people):
            for i in range(per_person):
                a, b = (person + i) % 2, (person * 3 + i // 2) % 2
                noise = torch.rand(1, 6, 6, generator=g)
                self.samples.append(
                    {
                        "image": _face(a, b, person, noise),
                        "identity": torch.tensor(person),
                        "attributes": torch.tensor([a, b]),
                    }
                )

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> dict[str, Tensor]:
        return self.samples[index]


class _Pairs(Dataset[dict[str, Tensor]]):
    """Matched pairs share row 0 (what ``main`` reads); mismatched pairs differ there."""

    def __init__(self, faces: _Faces, count: int = 40) -> None:
        g = torch.Generator().manual_seed(1)
        self.items = []
        for index in range(count):
            same = index % 2
            first = faces[int(torch.randint(len(faces), (1,), generator=g))]["image"]
            second = torch.rand(1, 6, 6, generator=g)
            second[0, 0] = first[0, 0] if same else 1 - first[0, 0]
            self.items.append(
                {
                    "image1": first,
                    "image2": second,
                    "same": torch.tensor(same),
                    "fold": torch.tensor(index % 4),
                    "index": torch.tensor(index),
                }
            )

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> dict[str, Tensor]:
        return self.items[index]


class PairData(LightningDataModule):
    """Verification pairs only (no labelled images)."""

    def __init__(self) -> None:
        super().__init__()
        self.faces = _Faces()
        self.pairs = _Pairs(self.faces)
        self.eval_batch_size = 7

    def val_dataloader(self) -> DataLoader[Any]:
        return DataLoader(self.pairs, batch_size=self.eval_batch_size)

    def test_dataloader(self) -> DataLoader[Any]:
        return self.val_dataloader()


class KnownData(PairData):
    """Pairs, and labelled images through the LabelledImagesData protocol."""

    def labelled_images(self, stage: str, max_images: int) -> Dataset[Any]:
        return self.faces


def _run(callback: NeuronProperties, tmp_path: Path, data: Any = None, **kwargs: Any) -> Any:
    trainer = quiet_trainer(default_root_dir=tmp_path, callbacks=[callback], **kwargs)
    return trainer, trainer.validate(KnownNet(), datamodule=data or KnownData(), verbose=False)


def _callback(**kwargs: Any) -> NeuronProperties:
    options: dict[str, Any] = {
        "layers": {"main": "main", "zeros": "zeros"},
        "max_identities": 4,
        "top_images": 3,
    }
    options.update(kwargs)
    return NeuronProperties(**options)


def test_known_answers(tmp_path: Path) -> None:
    assert isinstance(KnownData(), LabelledImagesData)
    callback = _callback()
    trainer, _ = _run(callback, tmp_path)
    results = json.loads((tmp_path / "neuron_properties.json").read_text())["val"]
    assert results == callback.results["val"]

    # Sparsity: the zero layer never fires; the pair images number 2 x 40.
    zeros = results["sparsity"]["zeros"]
    assert zeros["active_fraction_per_image_mean"] == 0.0 and zeros["dead_neurons"] == 3
    assert zeros["images"] == 80

    # Binary codes: row 0 tells matched from mismatched pairs, with real values and with bits.
    main_codes = results["binary_codes"]["main"]
    assert main_codes["real_accuracy"] == 1.0 and main_codes["hamming_accuracy"] == 1.0
    assert results["binary_codes"]["pairs"] == 40

    # Selectivity: neuron 0 is attribute A, neuron 1 the opposite of B, neuron 2 person 0.
    attributes = results["selectivity"]["attributes"]["main"]
    assert attributes["A"]["best"][0] == {"neuron": 0, "accuracy": 1.0, "excitatory": True}
    assert attributes["B"]["best"][0] == {"neuron": 1, "accuracy": 1.0, "excitatory": False}
    assert attributes["A"]["excitatory_neurons"] == 1 and attributes["A"]["inhibitory_neurons"] == 0
    assert attributes["B"]["inhibitory_neurons"] == 1
    assert attributes["A"]["ranked_by_response"][0] == 0
    person0 = results["selectivity"]["per_identity"]["main"]["identity 0"]
    assert person0["best"][0] == {"neuron": 2, "accuracy": 1.0, "excitatory": True}
    assert results["selectivity"]["identities"] == 4
    assert results["labelled_images"] == {"source": "data module", "images": 36}

    # Probes: both attributes are linear in the features; A and B change within a person.
    probes = results["probes"]
    assert probes["main"]["A"] == 1.0 and probes["main"]["B"] == 1.0
    assert probes["identity_related"] == [] and set(probes["identity_unrelated"]) == {"A", "B"}

    # Robustness: occluding the bottom rows leaves row 0 (all that decides) intact.
    area = results["robustness"]["area"]
    assert area["levels"] == [0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7]
    assert area["main"] == [1.0] * 8
    assert len(results["robustness"]["blocks"]["main"]) == 8

    # Scalars and pictures.
    metrics = trainer.callback_metrics
    assert float(metrics["neurons/val/zeros/active_fraction_per_image"]) == 0.0
    assert float(metrics["neurons/val/main/hamming_accuracy"]) == 1.0
    assert float(metrics["neurons/val/main/occlusion_70"]) == 1.0
    assert float(metrics["neurons/val/main/attribute_selectivity"]) == 1.0
    for name in ("sparsity", "selectivity", "attribute_histograms", "top_images", "probes"):
        assert (tmp_path / f"neurons_val_{name}.png").read_bytes()[:8] == PNG, name
    assert (tmp_path / "neurons_val_robustness.png").read_bytes()[:8] == PNG


def test_test_stage_is_kept_beside_validation(tmp_path: Path) -> None:
    callback = _callback(analyses=["sparsity"], pictures=False)
    trainer = quiet_trainer(default_root_dir=tmp_path, callbacks=[callback])
    model, data = KnownNet(), KnownData()
    trainer.validate(model, datamodule=data, verbose=False)
    trainer.test(model, datamodule=data, verbose=False)
    saved = json.loads((tmp_path / "neuron_properties.json").read_text())
    assert set(saved) == {"val", "test"} and set(saved["test"]) == {
        "epoch",
        "global_step",
        "checkpoint",
        "layers",
        "sparsity",
    }
    assert not list(tmp_path.glob("*.png"))


def test_missing_data_skips_analyses(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    assert not isinstance(PairData(), LabelledImagesData)
    callback = _callback(pictures=False)
    with caplog.at_level("INFO"):
        _run(callback, tmp_path, PairData())
    results = callback.results["val"]
    assert "selectivity" not in results and "probes" not in results
    assert "binary_codes" in results and "robustness" in results
    assert "no data for ['selectivity', 'probes']" in caplog.text


def test_labelled_evaluation_batches_are_used_directly(tmp_path: Path) -> None:
    class ImageNet(KnownNet):
        def validation_step(self, batch: dict[str, Tensor], batch_idx: int) -> None:
            self(batch["image"])

    class ImageData(PairData):
        def val_dataloader(self) -> DataLoader[Any]:
            return DataLoader(self.faces, batch_size=5)

    callback = _callback(pictures=False, analyses=["sparsity", "selectivity"])
    trainer = quiet_trainer(default_root_dir=tmp_path, callbacks=[callback])
    trainer.validate(ImageNet(), datamodule=ImageData(), verbose=False)
    results = callback.results["val"]
    assert results["labelled_images"] == {"source": "evaluation batches", "images": 36}
    best = results["selectivity"]["attributes"]["main"]["attribute_0"]["best"][0]
    assert best == {"neuron": 0, "accuracy": 1.0, "excitatory": True}
    assert results["sparsity"]["main"]["images"] == 36


# -- on the library's own task -----------------------------------------------------------------
def _validate(tmp_path: Path, tiny_faces: Any, callbacks: list[Any]) -> tuple[dict, Tensor]:
    seed_everything(0)
    model = VerificationTask(backbone="deepid2plus_tiny", num_identities=12)
    trainer = quiet_trainer(default_root_dir=tmp_path, callbacks=callbacks)
    metrics = trainer.validate(model, datamodule=tiny_faces(), verbose=False)[0]
    for module in model.modules():
        assert not module._forward_hooks and not module._forward_pre_hooks
    return metrics, torch.get_rng_state()


def test_verification_is_unchanged_and_no_random_number_is_drawn(
    tmp_path: Path, tiny_faces: Any
) -> None:
    plain, plain_state = _validate(tmp_path / "plain", tiny_faces, [])
    callback = NeuronProperties(max_identities=8)
    analysed, analysed_state = _validate(tmp_path / "analysed", tiny_faces, [callback])
    for key, value in plain.items():
        assert analysed[key] == value, key
    assert torch.equal(plain_state, analysed_state)
    results = callback.results["val"]
    assert list(results["layers"]) == ["FC-1", "FC-2", "FC-3", "FC-4"]
    assert results["labelled_images"]["images"] == 60  # 20 people x 3 images
    assert set(results["selectivity"]["attributes"]["FC-4"]) >= {"Male", "Smiling"}
    assert 0.0 < results["sparsity"]["FC-4"]["active_fraction_per_image_mean"] < 1.0
    # The synthetic data's person attributes are found to be the person's.
    assert "Male" in results["probes"]["identity_related"]
    assert "Heavy_Lighting" in results["probes"]["identity_unrelated"]
    assert (tmp_path / "analysed" / "neuron_properties.json").is_file()


def test_every_n_epochs_and_the_last_epoch(tmp_path: Path, tiny_faces: Any) -> None:
    seen: list[int] = []

    class Counting(NeuronProperties):
        def _analyse(self, trainer: Any, pl_module: Any, stage: str) -> dict[str, Any]:
            seen.append(trainer.current_epoch)
            return super()._analyse(trainer, pl_module, stage)

    callback = Counting(every_n_epochs=2, analyses=["sparsity"], pictures=False)
    model = VerificationTask(backbone="deepid2plus_tiny")
    trainer = quiet_trainer(
        default_root_dir=tmp_path, callbacks=[callback], max_epochs=3, limit_train_batches=1
    )
    trainer.fit(model, datamodule=tiny_faces())
    assert seen == [1, 2]  # every second epoch, and the last


def test_defaults_and_arguments() -> None:
    task = VerificationTask(backbone="deepid2_tiny", num_identities=3)
    assert default_layers(task) == {"DeepID2": "backbone.fc"}
    with pytest.raises(ValueError, match="layers="):
        default_layers(KnownNet())
    with pytest.raises(ValueError, match="unknown analyses"):
        NeuronProperties(analyses=["sparsity", "beauty"])  # type: ignore[list-item]
    with pytest.raises(ValueError, match=r"\(0, 1\]"):
        NeuronProperties(occlusion_fractions=[0.0])
    assert NeuronProperties(layers=["main"]).layers == {"main": "main"}


@pytest.mark.parametrize("subcommand", ["fit", "validate", "test", "predict"])
def test_recipe_fast_dev_run(subcommand: str, tmp_path: Path) -> None:
    # The small synthetic data every recipe test runs on.
    from tests.recipes.test_recipes import SMALL_DATA

    small = list(SMALL_DATA)
    if subcommand != "fit":
        small.append("--model.num_identities=12")
    args = [subcommand, "--trainer.fast_dev_run=true", f"--trainer.default_root_dir={tmp_path}"]
    cli = main(args=[*args, *small], default_config_files=[RECIPES / "configs" / "neurons.yaml"])
    callbacks = [c for c in cli.trainer.callbacks if isinstance(c, NeuronProperties)]
    assert len(callbacks) == 1
    if subcommand == "predict":
        assert callbacks[0].results == {} and not list(tmp_path.rglob("neuron_properties.json"))
        return
    stage = "test" if subcommand == "test" else "val"
    results = callbacks[0].results[stage]
    assert {"sparsity", "binary_codes", "selectivity", "probes", "robustness"} <= set(results)
    (path,) = tmp_path.rglob("neuron_properties.json")
    assert set(json.loads(path.read_text())) == {stage}
    assert float(cli.trainer.callback_metrics[f"neurons/{stage}/FC-4/hamming_accuracy"]) >= 0


def _assert_close(a: Any, b: Any, where: str = "") -> None:
    if isinstance(a, dict):
        assert isinstance(b, dict) and set(a) == set(b), where
        for key in a:
            _assert_close(a[key], b[key], f"{where}/{key}")
    elif isinstance(a, list):
        assert isinstance(b, list) and len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            _assert_close(x, y, f"{where}[{i}]")
    elif isinstance(a, float):
        assert b == pytest.approx(a, abs=1e-5), where
    else:
        assert a == b, where


@pytest.mark.slow
@pytest.mark.skipif(not torch.distributed.is_available(), reason="needs torch.distributed")
def test_three_processes_match_one(tmp_path: Path, tiny_faces: Any) -> None:
    seed_everything(0)
    model = VerificationTask(backbone="deepid2plus_tiny", num_identities=4)
    saved = {}
    for name, options in (
        ("one", {"devices": 1}),
        ("three", {"devices": 3, "strategy": "ddp_spawn"}),
    ):
        # 20 pairs and 60 labelled images on 3 ranks: the padded samplers repeat some.
        data = tiny_faces(num_train_identities=4, num_folds=5, eval_batch_size=5)
        callback = NeuronProperties(max_identities=8, pictures=False)
        trainer = quiet_trainer(default_root_dir=tmp_path / name, callbacks=[callback], **options)
        trainer.validate(model, datamodule=data, verbose=False)
        saved[name] = json.loads((tmp_path / name / "neuron_properties.json").read_text())["val"]
    assert saved["one"]["labelled_images"]["images"] == 60
    assert saved["one"]["binary_codes"]["pairs"] == 20
    _assert_close(saved["one"], saved["three"])
