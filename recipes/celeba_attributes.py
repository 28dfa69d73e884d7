"""Recipe: face attributes with ANet (Liu, Luo, Wang, Tang, "Deep Learning Face Attributes in the
Wild", ICCV 2015).

`python recipes/celeba_attributes.py fit` trains on SyntheticFaces' attributes; see
configs/celeba_attributes.yaml (and its header for CelebA and the LFWA evaluation).
"""

from pathlib import Path

from lightning_deepvision.cli import main

if __name__ == "__main__":
    main(
        default_config_files=[
            Path(__file__).resolve().parent / "configs" / "celeba_attributes.yaml"
        ]
    )
