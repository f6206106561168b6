"""Token maskers: one registered family, one call, bool ``(B, N)`` masks
(True = masked) for a ``(h, w)`` token grid; the maths in
:mod:`.functional`."""
from .attention_guided_masker import AttentionGuidedMasker
from .base_token_masker import BaseTokenMasker, require_fixed_count
from .block_masker import BlockMasker
from .evolved_hierarchical_masker import EvolvedHierarchicalMasker
from .fixed_ratio_masker import FixedRatioMasker
from .grid_masker import GridMasker
from .hierarchy import Hierarchy, build_hierarchy
from .random_token_masker import RandomTokenMasker

__all__ = [
    'AttentionGuidedMasker', 'BaseTokenMasker', 'BlockMasker',
    'EvolvedHierarchicalMasker', 'FixedRatioMasker', 'GridMasker',
    'Hierarchy', 'RandomTokenMasker', 'build_hierarchy',
    'require_fixed_count'
]
