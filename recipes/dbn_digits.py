"""Recipe: a DBN-style classifier with greedy RBM pre-training (Hinton, Osindero, Teh 2006).

`python recipes/dbn_digits.py fit` pre-trains the 784-500-500-2000 network layer by layer as
RBMs on scikit-learn's handwritten digits, then fine-tunes it with a softmax; see
configs/dbn_digits.yaml (and its header for MNIST and for the run without pre-training).
"""

from pathlib import Path

from lightning_deepvision.cli import main

if __name__ == "__main__":
    main(default_config_files=[Path(__file__).resolve().parent / "configs" / "dbn_digits.yaml"])
