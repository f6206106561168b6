from .dino_distillation_head import DINODistillationHead
from .maskdeep_head import MaskDeepHead

__all__ = ['DINODistillationHead', 'MaskDeepHead']
