"""CompileModel compiles the task's backbone in place, from Python and from a config."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import torch
from torch import nn

from lightning_deepvision.callbacks import CompileModel
from lightning_deepvision.callbacks.performance import compile_module
from lightning_deepvision.tasks import VerificationTask
from lightning_deepvision.testing import quiet_trainer


@pytest.fixture(autouse=True)
def _fresh_dynamo() -> Any:
    torch._dynamo.reset()
    yield
    torch._dynamo.reset()


def test_compile_module_keeps_outputs_and_state_dict() -> None:
    torch.manual_seed(0)
    task = VerificationTask(backbone="deepid2plus_tiny", num_identities=4)
    backbone = task.backbone.eval()
    images = torch.randn(2, 3, *backbone.input_size)
    expected_levels = [level.clone() for level in backbone.forward_levels(images)]
    expected = backbone(images).clone()
    keys = list(backbone.state_dict())
    compiled = compile_module(backbone, backend="eager")
    assert compiled == ["forward", "forward_levels"]
    frames_before = torch._dynamo.utils.counters["stats"]["unique_graphs"]
    levels = backbone.forward_levels(images)
    torch.testing.assert_close(backbone(images), expected)
    for level, reference in zip(levels, expected_levels, strict=True):
        torch.testing.assert_close(level, reference)
    # Dynamo traced new graphs: the calls went through the compiled code.
    assert torch._dynamo.utils.counters["stats"]["unique_graphs"] > frames_before
    assert list(backbone.state_dict()) == keys


def test_compile_model_callback_fits_and_compiles_once(tiny_faces: Callable[..., Any]) -> None:
    task = VerificationTask(backbone="deepid2plus_tiny")
    callback = CompileModel(backend="eager")
    trainer = quiet_trainer(fast_dev_run=True, callbacks=[callback])
    trainer.fit(task, datamodule=tiny_faces())
    assert task.backbone._compiled_call_impl is not None
    wrapped = task.backbone.forward_levels
    assert wrapped is not type(task.backbone).forward_levels.__get__(task.backbone)
    assert torch.isfinite(trainer.callback_metrics["train/loss"])
    # A second stage on the same task finds it compiled and leaves it as it is.
    callback.setup(trainer, task, "test")
    assert task.backbone.forward_levels is wrapped


def test_compile_model_names_a_missing_module() -> None:
    task = VerificationTask(backbone="deepid2plus_tiny", num_identities=4)
    with pytest.raises(AttributeError, match="no_such"):
        CompileModel(modules=["no_such"]).setup(quiet_trainer(), task, "fit")


def test_module_without_forward_levels_gets_forward_only() -> None:
    layer = nn.Linear(3, 2)
    assert compile_module(layer, backend="eager") == ["forward"]
    torch.testing.assert_close(
        layer(torch.ones(1, 3)), torch.ones(1, 3) @ layer.weight.T + layer.bias
    )


def test_compile_model_from_the_command_line(tmp_path: Any) -> None:
    from tests.recipes._support import SMALL_FACES, run_recipe

    cli = run_recipe(
        "deepid2plus",
        "fit",
        "--model.backbone=deepid2plus_tiny",
        "--trainer.callbacks+=lightning_deepvision.callbacks.CompileModel",
        "--trainer.callbacks.backend=eager",
        *SMALL_FACES,
        tmp_path=tmp_path,
    )
    callbacks = [c for c in cli.trainer.callbacks if isinstance(c, CompileModel)]
    assert len(callbacks) == 1 and callbacks[0].options["backend"] == "eager"
    assert cli.model.backbone._compiled_call_impl is not None
