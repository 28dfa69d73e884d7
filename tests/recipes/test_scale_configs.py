"""The scale configs (recipes/configs/scale/) parse and apply on top of every recipe's config."""

from __future__ import annotations

import contextlib
import io
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from lightning.pytorch import Trainer
from lightning.pytorch.cli import instantiate_class
from lightning.pytorch.strategies import DDPStrategy

from lightning_deepvision.cli import main
from tests.recipes._support import RECIPES, SMALL_FACES

SCALE = RECIPES / "configs" / "scale"
RECIPE_CONFIGS = sorted(
    p for p in (RECIPES / "configs").glob("*.yaml") if (RECIPES / f"{p.stem}.py").is_file()
)
# Variants applied on top of their recipe's YAML (real_faces_single.yaml on real_faces.yaml).
VARIANT_CONFIGS = sorted(
    p for p in (RECIPES / "configs").glob("*.yaml") if not (RECIPES / f"{p.stem}.py").is_file()
)


def base_recipe(variant: Path) -> Path:
    """The recipe YAML a variant is applied on: the longest recipe name it starts with."""
    bases = [p for p in RECIPE_CONFIGS if variant.stem.startswith(p.stem + "_")]
    assert bases, f"{variant.name} names no recipe"
    return max(bases, key=lambda p: len(p.stem))


OVERLAYS = {
    "ddp+bf16": ["ddp.yaml", "bf16.yaml"],
    "fsdp": ["fsdp.yaml"],
    "multinode": ["multinode.yaml"],
}


def printed_config(
    recipe: Path, overlays: list[str], variant: Path | None = None
) -> dict[str, Any]:
    """``fit [--config variant] --config <overlay>... --print_config`` on the recipe's YAML."""
    args = ["fit"] + (["--config", str(variant)] if variant is not None else [])
    for overlay in overlays:
        args += ["--config", str(SCALE / overlay)]
    out = io.StringIO()
    with contextlib.redirect_stdout(out), pytest.raises(SystemExit) as exit_info:
        main(args=[*args, "--print_config"], default_config_files=[recipe])
    assert exit_info.value.code in (0, None), out.getvalue()
    return dict(yaml.safe_load(out.getvalue()))


def merged(base: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    """``update`` over ``base`` as a config file over a default one (lists replaced)."""
    out = dict(base)
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merged(out[key], value)
        else:
            out[key] = value
    return out


def class_paths(entries: Any) -> list[str]:
    """The class names of a ``callbacks`` / ``logger`` entry (one or a list)."""
    items = entries if isinstance(entries, list) else [entries] if entries else []
    return [str(item["class_path"]).rsplit(".", 1)[-1] for item in items]


def test_every_recipe_config_is_covered() -> None:
    assert len(RECIPE_CONFIGS) >= 15
    assert {p.stem for p in RECIPE_CONFIGS} >= {"deepid2plus", "alexnet_imagenet", "udn_caltech"}


@pytest.mark.parametrize("overlay", sorted(OVERLAYS))
def test_scale_config_applies_to_every_recipe(overlay: str) -> None:
    runs = [(recipe, None) for recipe in RECIPE_CONFIGS]
    runs += [(base_recipe(variant), variant) for variant in VARIANT_CONFIGS]
    for recipe, variant in runs:
        own = yaml.safe_load(recipe.read_text())
        if variant is not None:
            own = merged(own, yaml.safe_load(variant.read_text()))
        config = printed_config(recipe, OVERLAYS[overlay], variant)
        trainer = config["trainer"]
        expected = "FSDPStrategy" if overlay == "fsdp" else "DDPStrategy"
        assert trainer["strategy"]["class_path"].endswith(expected), recipe.name
        # The recipe's own settings survive the overlay.
        assert trainer["max_epochs"] == own["trainer"]["max_epochs"], recipe.name
        assert class_paths(trainer.get("callbacks")) == class_paths(own["trainer"].get("callbacks"))
        assert class_paths(trainer.get("logger")) == class_paths(own["trainer"].get("logger"))
        assert config["data"]["class_path"].endswith(own["data"]["class_path"].split(".")[-1])
        assert config["model"]["class_path"] == own["model"]["class_path"], recipe.name
        if overlay == "ddp+bf16":
            assert trainer["precision"] == "bf16-mixed"
            assert trainer["strategy"]["init_args"]["find_unused_parameters"] is False
        if overlay == "multinode":
            assert trainer["num_nodes"] == 2


def test_ddp_and_bf16_build_a_cpu_trainer() -> None:
    trainer_config = printed_config(RECIPES / "configs" / "deepid2plus.yaml", OVERLAYS["ddp+bf16"])[
        "trainer"
    ]
    strategy = instantiate_class((), trainer_config["strategy"])
    trainer = Trainer(
        strategy=strategy,
        precision=trainer_config["precision"],
        sync_batchnorm=trainer_config["sync_batchnorm"],
        accelerator="cpu",
        devices=2,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
    )
    assert isinstance(trainer.strategy, DDPStrategy)
    assert trainer.num_devices == 2
    assert trainer.precision == "bf16-mixed"
    assert trainer.strategy._ddp_kwargs["gradient_as_bucket_view"] is True


def test_fsdp_config_asks_for_a_gpu_on_cpu() -> None:
    """Lightning 2.6 runs FSDP on CUDA only: the config says so and the trainer refuses CPU."""
    trainer_config = printed_config(RECIPES / "configs" / "alexnet_imagenet.yaml", ["fsdp.yaml"])[
        "trainer"
    ]
    assert trainer_config["accelerator"] == "gpu"
    assert trainer_config["strategy"]["init_args"]["sharding_strategy"] == "FULL_SHARD"
    with pytest.raises(ValueError, match="requires a GPU accelerator"):
        Trainer(strategy="fsdp", accelerator="cpu", devices=1, logger=False)


@pytest.mark.parametrize("script", ["launch_torchrun.sh", "launch_slurm.sbatch"])
def test_launch_scripts_are_valid_bash(script: str) -> None:
    path = SCALE / script
    assert os.access(path, os.X_OK)
    subprocess.run(["bash", "-n", str(path)], check=True)
    assert "recipes/configs/scale/multinode.yaml" in path.read_text()


@pytest.mark.slow
def test_ddp_config_fits_two_cpu_processes(tmp_path: Path) -> None:
    """The DDP overlay really trains: 2 gloo processes, one fast_dev_run step each."""
    small = SMALL_FACES
    command = [
        sys.executable,
        str(RECIPES / "deepid2plus.py"),
        "fit",
        "--config",
        str(SCALE / "ddp.yaml"),
        "--trainer.accelerator=cpu",
        "--trainer.devices=2",
        "--trainer.fast_dev_run=true",
        f"--trainer.default_root_dir={tmp_path}",
        *small,
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    result = subprocess.run(
        command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    output = result.stdout + result.stderr
    assert "Initializing distributed: GLOBAL_RANK: 1, MEMBER: 2/2" in output
