"""Recipe: FIP (Zhu, Luo, Wang, Tang, ICCV 2013): canonical-view reconstruction.

`python recipes/fip_multipie.py fit` trains on SyntheticMultiView; see configs/fip_multipie.yaml
(and its header for Multi-PIE itself, `--data.root`).
"""

from pathlib import Path

from lightning_deepvision.cli import main

if __name__ == "__main__":
    main(default_config_files=[Path(__file__).resolve().parent / "configs" / "fip_multipie.yaml"])
