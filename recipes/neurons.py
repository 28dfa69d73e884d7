"""Recipe: what DeepID2+ learns (sparse, selective and robust neurons).

`python recipes/neurons.py fit` trains DeepID2+ on SyntheticFaces and analyses its FC-1...FC-4
neurons with NeuronProperties; see configs/neurons.yaml.
"""

from pathlib import Path

from lightning_deepvision.cli import main

if __name__ == "__main__":
    main(default_config_files=[Path(__file__).resolve().parent / "configs" / "neurons.yaml"])
