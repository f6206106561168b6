from .maskdeep import MaskDeep

__all__ = ['MaskDeep']
