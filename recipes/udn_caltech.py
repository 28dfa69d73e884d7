"""Recipe: UDN pedestrian detection (Ouyang & Wang, "Joint Deep Learning ...", ICCV 2013).

`python recipes/udn_caltech.py fit` trains on SyntheticPedestrians and `test` reports the
Caltech log-average miss rate; see configs/udn_caltech.yaml (and its header for real Caltech)
and configs/udn_caltech_ablation.yaml (deformation and visibility reasoning switched off).
"""

from pathlib import Path

from lightning_deepvision.cli import main

if __name__ == "__main__":
    main(default_config_files=[Path(__file__).resolve().parent / "configs" / "udn_caltech.yaml"])
