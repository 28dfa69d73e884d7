"""Recipe: attributes from identity features, DeepID2 frozen or fine-tuned (LNets+ANet, Table 1).

`python recipes/attributes_transfer.py fit --model.init_from CKPT` predicts attributes from the
DeepID2 recipe's checkpoint; see configs/attributes_transfer.yaml.
"""

from pathlib import Path

from lightning_deepvision.cli import main

if __name__ == "__main__":
    main(
        default_config_files=[
            Path(__file__).resolve().parent / "configs" / "attributes_transfer.yaml"
        ]
    )
