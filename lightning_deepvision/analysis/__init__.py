"""What deep features have learned: the neuron analyses of DeepID2+, in plain torch.

Sun, Wang and Tang, "Deeply learned face representations are sparse, selective, and robust"
(CVPR 2015), find DeepID2+'s neurons moderately sparse (§5), their binary codes nearly as good
for verification as the real values (Table 4), single neurons selective for identities and
attributes (§6), and the top layers robust to occlusion (§7). The statistics live here, free of
Lightning, so that they can be tested and used on any activations;
:class:`~lightning_deepvision.callbacks.NeuronProperties` computes them during evaluation.

- :mod:`.hooks`: :class:`ActivationRecorder`, forward hooks on named layers;
- :mod:`.codes`: packed binary codes, Hamming distances, :class:`SparsityStats`;
- :mod:`.selectivity`: single-neuron balanced accuracy with the best threshold;
- :mod:`.probes`: attribute linear probes, identity consistency of attributes;
- :mod:`.folds`: within-identity and identity-disjoint folds;
- :mod:`.occlusion`: test-time occlusion of the face area and by random blocks;
- :mod:`.figures`: the pictures (matplotlib without pyplot; not imported here).
"""

from lightning_deepvision.analysis.codes import (
    SparsityStats,
    hamming_distance,
    pack_codes,
    unpack_codes,
)
from lightning_deepvision.analysis.folds import identity_folds, within_identity_folds
from lightning_deepvision.analysis.hooks import Activation, ActivationRecorder
from lightning_deepvision.analysis.occlusion import block_positions, occlude_blocks, occlude_bottom
from lightning_deepvision.analysis.probes import identity_consistency, linear_probe_accuracy
from lightning_deepvision.analysis.selectivity import (
    Selectivity,
    evaluate_thresholds,
    fit_thresholds,
    mean_responses,
    single_neuron_selectivity,
)

__all__ = [
    "Activation",
    "ActivationRecorder",
    "Selectivity",
    "SparsityStats",
    "block_positions",
    "evaluate_thresholds",
    "fit_thresholds",
    "hamming_distance",
    "identity_consistency",
    "identity_folds",
    "linear_probe_accuracy",
    "mean_responses",
    "occlude_blocks",
    "occlude_bottom",
    "pack_codes",
    "single_neuron_selectivity",
    "unpack_codes",
    "within_identity_folds",
]
