"""Every task evaluates to the same numbers on 1, 2 and 3 processes, and fits on 2 (CPU, gloo).

``ddp_cases.py`` runs all tasks in one process group per world size (start-up paid once):
plainly for one process, under ``torchrun`` for two and three, ``strategy="ddp"``. The
evaluation sets have sizes that 2 and 3 do not divide (25 images, 21 views, 269 digits, 5
frames, 7 parsing images; 20 pairs, uneven on 3), so Lightning's padded sampler would repeat
samples; the data modules shard them without repeats and the metrics gather uneven shards.
The neuron-property analysis (DeepID2+ sparsity, binary codes, selectivity, occlusion) runs
with caps above the evaluation set: a binding cap is split between processes.

Values are compared to 1e-6 (relative, absolute below 1): a batch holds other samples on another
number of processes, and batched convolutions and sums round in another order, so features
agree to float rounding, not bit for bit; every count-based metric (accuracy, IoU, miss rate,
verification accuracy) is in fact exact.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import torch

SCRIPT = Path(__file__).with_name("ddp_cases.py")
ROOT = Path(__file__).parents[2]


# A worker aborted by the C++ runtime's std::terminate ("terminate called without an active
# exception": rank 1 of 3, once in CI, never in 14 runs here, loaded or not) is a crash inside
# torch's distributed machinery, not a wrong figure: such a run is repeated once, and its output
# is kept in the failure message if the repeat fails too. Every other failure fails at once.
_RUNTIME_ABORT = "terminate called"


def _launch(out: Path, world: int, *extra: str) -> subprocess.CompletedProcess[str]:
    out.mkdir()
    # The Python stacks of every thread are printed if a worker aborts.
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT), "PYTHONFAULTHANDLER": "1"}
    command = [sys.executable, str(SCRIPT), str(out), *extra]
    if world > 1:
        launcher = [sys.executable, "-m", "torch.distributed.run", "--standalone"]
        command = [*launcher, f"--nproc_per_node={world}", *command[1:]]
    return subprocess.run(
        command, cwd=out, env=env, capture_output=True, text=True, timeout=600, check=False
    )


def _run(out: Path, world: int, *extra: str) -> dict[str, Any]:
    done = _launch(out, world, *extra)
    output = done.stdout + done.stderr
    if done.returncode != 0 and _RUNTIME_ABORT in output:
        first = output[-3000:]
        out = out.with_name(out.name + "-again")
        done = _launch(out, world, *extra)
        output = first + "\n--- repeated ---\n" + done.stdout + done.stderr
    assert done.returncode == 0, output[-6000:]
    return json.loads((out / "metrics.json").read_text())


@pytest.mark.skipif(
    not (torch.distributed.is_available() and torch.distributed.is_gloo_available()),
    reason="this torch build has no torch.distributed with gloo: multi-process checks skipped",
)
def test_every_task_evaluates_alike_on_1_2_3_processes(tmp_path: Path) -> None:
    single = _run(tmp_path / "one", 1)
    runs = {2: _run(tmp_path / "two", 2, "--fit"), 3: _run(tmp_path / "three", 3)}
    for world, results in runs.items():
        assert results.keys() == single.keys()
        for case, stages in single.items():
            for stage in ("validate", "test"):
                expected, got = stages[stage], results[case][stage]
                assert expected, f"{case} {stage} logged nothing"
                assert got.keys() == expected.keys(), (world, case, stage)
                # Evaluation losses included: BaseTask.log_mean syncs weighted sums.
                for key, value in expected.items():
                    other = got[key]
                    if math.isnan(value):
                        assert math.isnan(other), (world, case, key)
                    else:
                        assert other == pytest.approx(value, rel=1e-6, abs=1e-6), (
                            world,
                            case,
                            key,
                        )
    # Two steps of fit (with one validation batch) on two processes, for every task.
    assert {case: r["fit_steps"] for case, r in runs[2].items()} == dict.fromkeys(single, 2)
