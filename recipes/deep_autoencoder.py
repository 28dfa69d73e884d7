"""Recipe: the deep auto-encoder of Hinton & Salakhutdinov (Science 2006), pre-trained with RBMs.

`python recipes/deep_autoencoder.py fit` pre-trains the 784-1000-500-250-30 encoder as a stack
of RBMs (the code layer with linear units), unrolls it into the mirrored decoder and fine-tunes
the whole auto-encoder on scikit-learn's handwritten digits; `test` reports the squared
reconstruction error beside PCA with 30 components. See configs/deep_autoencoder.yaml.
"""

from pathlib import Path

from lightning_deepvision.cli import main

if __name__ == "__main__":
    main(
        default_config_files=[Path(__file__).resolve().parent / "configs" / "deep_autoencoder.yaml"]
    )
