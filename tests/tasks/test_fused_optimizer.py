"""BaseTask's optimisers run PyTorch's fused kernels where every parameter allows them."""

from __future__ import annotations

from typing import Any

import pytest
import torch
from torch import nn

from lightning_deepvision.tasks import VerificationTask
from lightning_deepvision.tasks.base import fused_kernels


def optimizer_of(task: VerificationTask) -> torch.optim.Optimizer:
    configured: Any = task.configure_optimizers()
    return configured["optimizer"] if isinstance(configured, dict) else configured


@pytest.mark.parametrize("name", ["sgd", "adam", "adamw"])
def test_cpu_task_gets_fused_optimizer(name: str) -> None:
    task = VerificationTask(
        backbone="deepid2plus_tiny", num_identities=4, optimizer=name, lr_schedule="none"
    )
    optimizer = optimizer_of(task)
    assert optimizer.defaults["fused"] is True


def test_fused_sgd_steps_match_the_default_ones() -> None:
    torch.manual_seed(0)
    task = VerificationTask(backbone="deepid2plus_tiny", num_identities=4, lr_schedule="none")
    reference = [p.detach().clone().requires_grad_() for p in task.parameters()]
    for p, q in zip(task.parameters(), reference, strict=True):
        p.grad = torch.randn_like(p)
        q.grad = p.grad.clone()
    fused = optimizer_of(task)
    plain = torch.optim.SGD(reference, lr=task.hp.lr, momentum=0.9, weight_decay=5e-4)
    for _ in range(3):
        fused.step()
        plain.step()
    for p, q in zip(task.parameters(), reference, strict=True):
        # Fused multiply-adds round differently from the for-loop: one float32 ulp at most.
        torch.testing.assert_close(p, q, rtol=2e-7, atol=1e-8)


def test_unsupported_parameters_keep_the_default_implementation() -> None:
    meta = nn.Parameter(torch.empty(3, device="meta"))
    assert fused_kernels([{"params": [meta]}]) is None
    assert fused_kernels([{"params": []}]) is None
    assert fused_kernels([{"params": [nn.Parameter(torch.ones(2))]}]) is True


def test_fused_sgd_takes_parameters_that_start_training_late() -> None:
    # A parameter frozen for the first steps (freeze_epochs, layer-wise pre-training) has no
    # momentum buffer when it starts; its first step must equal the for-loop SGD's.
    torch.manual_seed(0)
    task = VerificationTask(backbone="deepid2plus_tiny", num_identities=4, lr_schedule="none")
    params = list(task.parameters())
    reference = [p.detach().clone().requires_grad_() for p in params]
    fused = optimizer_of(task)
    plain = torch.optim.SGD(reference, lr=task.hp.lr, momentum=0.9, weight_decay=5e-4)
    for step in range(3):
        for index, (p, q) in enumerate(zip(params, reference, strict=True)):
            late = index % 2 == 1 and step == 0
            p.grad = None if late else torch.randn_like(p)
            q.grad = None if late else p.grad.clone()
        fused.step()
        plain.step()
    for p, q in zip(params, reference, strict=True):
        torch.testing.assert_close(p, q, rtol=1e-6, atol=1e-7)
