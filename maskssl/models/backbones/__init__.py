from .normed_blocks_vit import NormedBlocksViT

__all__ = ['NormedBlocksViT']
