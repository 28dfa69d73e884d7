"""Evaluation gives the same numbers on 1 and on 3 processes (design rule 9).

Lightning's DistributedSampler pads the last shard by repeating pairs; the metrics drop the
repeats by pair index, so nothing is counted twice and nothing is dropped.
"""

from pathlib import Path

import pytest
import torch
from lightning.pytorch import seed_everything

from lightning_deepvision.tasks import VerificationTask
from lightning_deepvision.testing.trainers import quiet_trainer


def _validate(model: VerificationTask, data, tmp_path: Path, **trainer_kwargs) -> dict[str, float]:
    trainer = quiet_trainer(default_root_dir=tmp_path, **trainer_kwargs)
    return trainer.validate(model, datamodule=data, verbose=False)[0]


@pytest.mark.skipif(
    not torch.distributed.is_available(),
    reason="this torch build has no torch.distributed: multi-process check skipped",
)
def test_three_processes_match_one(tmp_path: Path, tiny_faces) -> None:
    seed_everything(0)
    model = VerificationTask(backbone="deepid2_tiny", num_identities=4)
    # 20 pairs on 3 ranks: the padded sampler repeats one pair.
    data = tiny_faces(num_train_identities=4, num_folds=5, eval_batch_size=5)
    single = _validate(model, data, tmp_path, devices=1)
    triple = _validate(model, data, tmp_path, devices=3, strategy="ddp_spawn")
    assert set(single) == set(triple)
    for key, value in single.items():
        assert triple[key] == pytest.approx(value, abs=1e-6), key
