"""Recipe: deep face parsing (Luo, Wang, Tang, "Hierarchical Face Parsing", CVPR 2012).

`python recipes/face_parsing.py fit` trains the cross-modality parsing network on SyntheticFaces'
HELEN-style part masks; see configs/face_parsing.yaml (and its header for HELEN and LFW Part
Labels).
"""

from pathlib import Path

from lightning_deepvision.cli import main

if __name__ == "__main__":
    main(default_config_files=[Path(__file__).resolve().parent / "configs" / "face_parsing.yaml"])
