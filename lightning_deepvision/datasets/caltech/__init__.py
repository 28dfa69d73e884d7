"""Caltech Pedestrian from its raw distribution: ``.seq`` videos, ``.vbb`` and bbGt annotations.

Dollár, Wojek, Schiele, Perona, "Pedestrian Detection: A Benchmark", CVPR 2009 / "An Evaluation
of the State of the Art", TPAMI 2012. Modules:

- :mod:`.seq`: :class:`SeqFile`, random access to Norpix sequence frames;
- :mod:`.vbb`: :func:`read_vbb`, the video annotations (scipy reads them);
- :mod:`.bbgt`: :func:`read_bbgt`, per-frame text annotations (the improved annotations of
  Zhang et al., CVPR 2016);
- :mod:`.dataset`: :class:`CaltechPedestrian` (frames and boxes);
- :mod:`.layout`: the splits, the evaluated frames and the annotation folders;
- :mod:`.evaluation`: the evaluation's labels, :func:`caltech_ignore` and
  :func:`evaluation_ground_truth` (the input of ``metrics.miss_rate``);
- :mod:`.windows`: :class:`CaltechWindows`, window-classifier training samples.
"""

from lightning_deepvision.datasets.caltech.bbgt import BBGT_VERSION, format_bbgt, read_bbgt
from lightning_deepvision.datasets.caltech.dataset import (
    CALTECH_LABELS,
    NEW_ANNOTATION_DIRS,
    SPLIT_SETS,
    TEST_STRIDE,
    CaltechPedestrian,
    caltech_ignore,
    evaluation_ground_truth,
    new_annotation_names,
)
from lightning_deepvision.datasets.caltech.seq import (
    JPEG_FORMATS,
    PNG_FORMATS,
    SEQ_HEADER_SIZE,
    CorruptSeqError,
    SeqFile,
    SeqHeader,
    UnsupportedSeqFormatError,
    read_seq_header,
)
from lightning_deepvision.datasets.caltech.vbb import (
    VBB_FIELDS,
    VBB_OBJECT_FIELDS,
    VBB_VERSION,
    CaltechObject,
    MalformedVbbError,
    read_vbb,
)
from lightning_deepvision.datasets.caltech.windows import (
    CaltechWindows,
    FrameGroupedSampler,
    free_of,
)

__all__ = [
    "BBGT_VERSION",
    "CALTECH_LABELS",
    "JPEG_FORMATS",
    "NEW_ANNOTATION_DIRS",
    "PNG_FORMATS",
    "SEQ_HEADER_SIZE",
    "SPLIT_SETS",
    "TEST_STRIDE",
    "VBB_FIELDS",
    "VBB_OBJECT_FIELDS",
    "VBB_VERSION",
    "CaltechObject",
    "CaltechPedestrian",
    "CaltechWindows",
    "CorruptSeqError",
    "FrameGroupedSampler",
    "MalformedVbbError",
    "SeqFile",
    "SeqHeader",
    "UnsupportedSeqFormatError",
    "caltech_ignore",
    "evaluation_ground_truth",
    "format_bbgt",
    "free_of",
    "new_annotation_names",
    "read_bbgt",
    "read_seq_header",
    "read_vbb",
]
