"""Algorithms, necks, heads and losses registered in mmpretrain's ``MODELS``."""
