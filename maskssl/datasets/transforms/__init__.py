"""Data transforms registered in mmpretrain's ``TRANSFORMS``."""
