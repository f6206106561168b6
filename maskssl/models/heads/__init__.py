from .maskdeep_head import MaskDeepHead

__all__ = ['MaskDeepHead']
