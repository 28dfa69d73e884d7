"""Recipe: MVP (Zhu, Luo, Wang, Tang, NIPS 2014): multi-view perceptron.

`python recipes/mvp_multipie.py fit` trains on SyntheticMultiView; see configs/mvp_multipie.yaml
(and its header for Multi-PIE itself, `--data.root`).
"""

from pathlib import Path

from lightning_deepvision.cli import main

if __name__ == "__main__":
    main(default_config_files=[Path(__file__).resolve().parent / "configs" / "mvp_multipie.yaml"])
