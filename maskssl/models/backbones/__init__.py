from .mst_swin_transformer import MSTSwinTransformer
from .mst_vision_transformer import MSTVisionTransformer
from .normed_blocks_vit import NormedBlocksViT
from .token_mask_mae_vit import TokenMaskMAEViT

__all__ = [
    'MSTSwinTransformer', 'MSTVisionTransformer', 'NormedBlocksViT',
    'TokenMaskMAEViT'
]
