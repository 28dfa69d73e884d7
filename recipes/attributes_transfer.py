"""Recipe: attributes from identity features, DeepID2 frozen or fine-tuned (LNets+ANet, Table 1).

`python recipes/attributes_transfer.py fit --model.init_from CKPT` fine-tunes the DeepID2 recipe's
checkpoint on attributes (`--model.freeze_backbone true`: classifiers on its fixed features);
with no argument the same DeepID2 learns them from scratch. See configs/attributes_transfer.yaml.
"""

from pathlib import Path

from lightning_deepvision.cli import main

if __name__ == "__main__":
    main(
        default_config_files=[
            Path(__file__).resolve().parent / "configs" / "attributes_transfer.yaml"
        ]
    )
