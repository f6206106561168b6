"""Data preprocessors registered in mmpretrain's ``MODELS``."""
from .high_pass_cls_data_preprocessor import HighPassClsDataPreprocessor

__all__ = ['HighPassClsDataPreprocessor']
