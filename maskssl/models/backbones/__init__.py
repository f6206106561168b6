from .mst_swin_transformer import MSTSwinTransformer
from .mst_vision_transformer import MSTVisionTransformer
from .normed_blocks_vit import NormedBlocksViT
from .token_mask_beit_vit import TokenMaskBEiTViT
from .token_mask_mae_vit import TokenMaskMAEViT
from .token_mask_simmim_swin import TokenMaskSimMIMSwin
from .token_mask_simmim_vit import TokenMaskSimMIMViT

__all__ = [
    'MSTSwinTransformer', 'MSTVisionTransformer', 'NormedBlocksViT',
    'TokenMaskBEiTViT', 'TokenMaskMAEViT', 'TokenMaskSimMIMSwin',
    'TokenMaskSimMIMViT'
]
