"""Recipe: feature transfer, "train on A, freeze, classify B" (linear probe or fine-tuning).

`python recipes/transfer.py fit --model.init_from CKPT` classifies the SyntheticObjects classes
that the AlexNet recipe never saw, from that recipe's checkpoint; see configs/transfer.yaml.
"""

from pathlib import Path

from lightning_deepvision.cli import main

if __name__ == "__main__":
    main(default_config_files=[Path(__file__).resolve().parent / "configs" / "transfer.yaml"])
