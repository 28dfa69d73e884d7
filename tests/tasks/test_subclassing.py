from pathlib import Path

import torch
from lightning.pytorch import Trainer

from lightning_deepvision.datamodules import IdentityFolderLFWDataModule
from lightning_deepvision.testing import write_identity_folder, write_lfw
from tests.tasks.my_verifier import L2NormVerifier, TinyFaceNet


def test_user_subclass_with_own_backbone_trains_on_writer_data(tmp_path: Path) -> None:
    train_root = write_identity_folder(tmp_path / "train", num_identities=6, images_per_identity=4)
    lfw_root = write_lfw(tmp_path / "lfw", num_people=20, images_per_person=3, pairs_per_fold=2)
    data = IdentityFolderLFWDataModule(
        train_root=train_root,
        lfw_root=lfw_root,
        identities_per_batch=3,
        images_per_identity=2,
        eval_batch_size=16,
        num_workers=0,
    )
    model = L2NormVerifier(backbone=TinyFaceNet(), lr=0.01)
    trainer = Trainer(fast_dev_run=True, accelerator="cpu", enable_progress_bar=False)
    trainer.fit(model, datamodule=data)
    assert model.hparams.num_identities == 6
    assert trainer.callback_metrics["train/embedding_norm"].item() > 0
    trainer.test(model, datamodule=data)
    assert 0.0 <= trainer.callback_metrics["test/accuracy"].item() <= 1.0
    with torch.no_grad():
        embedding = model(torch.zeros(2, 3, 55, 47))
    torch.testing.assert_close(embedding.norm(dim=1), torch.ones(2))
