"""Recipe: deepid2plus face verification.

`python recipes/deepid2plus.py fit` trains on SyntheticFaces; see configs/deepid2plus.yaml.
"""

from pathlib import Path

from lightning_deepvision.cli import main

if __name__ == "__main__":
    main(default_config_files=[Path(__file__).resolve().parent / "configs" / "deepid2plus.yaml"])
