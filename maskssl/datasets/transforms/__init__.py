"""Data transforms registered in mmpretrain's ``TRANSFORMS``."""
from .multi_view_with_roles import MultiViewWithRoles

__all__ = ['MultiViewWithRoles']
