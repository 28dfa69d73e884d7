"""Recipe: deepid2 face verification.

`python recipes/deepid2.py fit` trains on SyntheticFaces; see configs/deepid2.yaml.
"""

from pathlib import Path

from lightning_deepvision.cli import main

if __name__ == "__main__":
    main(default_config_files=[Path(__file__).resolve().parent / "configs" / "deepid2.yaml"])
