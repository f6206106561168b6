"""Saliency-guided masking for ConvNets (SCDA saliency, masks, fills)."""
from .blur_fill import BlurFill
from .high_pass_fill import HighPassFill
from .mean_fill import MeanFill
from .saliency_cell_masker import SaliencyCellMasker
from .scda_saliency import SCDASaliency

__all__ = [
    'BlurFill', 'HighPassFill', 'MeanFill', 'SaliencyCellMasker',
    'SCDASaliency'
]
