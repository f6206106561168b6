"""Data transforms registered in mmpretrain's ``TRANSFORMS``."""
from .checked_load_image_from_file import CheckedLoadImageFromFile
from .multi_view_with_roles import MultiViewWithRoles

__all__ = ['CheckedLoadImageFromFile', 'MultiViewWithRoles']
