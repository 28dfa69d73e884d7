"""Recipe: AlexNet image classification (Krizhevsky, Sutskever, Hinton, NIPS 2012).

`python recipes/alexnet_imagenet.py fit` trains on SyntheticObjects; see
configs/alexnet_imagenet.yaml (and its header for ImageNet itself).
"""

from pathlib import Path

from lightning_deepvision.cli import main

if __name__ == "__main__":
    main(
        default_config_files=[Path(__file__).resolve().parent / "configs" / "alexnet_imagenet.yaml"]
    )
