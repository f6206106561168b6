from .mst_vision_transformer import MSTVisionTransformer
from .normed_blocks_vit import NormedBlocksViT

__all__ = ['MSTVisionTransformer', 'NormedBlocksViT']
