"""Recipe: the DeepID2 patch ensemble (one net per face patch, PCA + Joint Bayesian).

`python recipes/deepid2_ensemble.py fit` trains a small patch list on SyntheticFaces; see
configs/deepid2_ensemble.yaml (`--model.patches null` gives the 25 default patches).
"""

from pathlib import Path

from lightning_deepvision.cli import main

if __name__ == "__main__":
    main(
        default_config_files=[Path(__file__).resolve().parent / "configs" / "deepid2_ensemble.yaml"]
    )
