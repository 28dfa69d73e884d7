"""Recipe: face verification trained on a small real identity set (the DeepID2 patch ensemble).

`python recipes/real_faces.py fit` runs on 30 built-in SyntheticFaces people (pairs of unseen
ones); `python recipes/real_faces.py fit --data.train_root DIR --data.lfw_root DIR`, then
`python recipes/real_faces.py test --data.train_root DIR --data.lfw_root DIR --ckpt_path CKPT`;
see configs/real_faces.yaml (and the overlays real_faces_single.yaml, real_faces_cosine.yaml,
real_faces_transfer.yaml).
"""

from pathlib import Path

from lightning_deepvision.cli import main

if __name__ == "__main__":
    main(default_config_files=[Path(__file__).resolve().parent / "configs" / "real_faces.yaml"])
