from functools import partial
from typing import Callable, List, Optional

from mmpretrain.engine.optimizers import \
    LearningRateDecayOptimWrapperConstructor
from mmpretrain.registry import OPTIM_WRAPPER_CONSTRUCTORS
from torch import nn


@OPTIM_WRAPPER_CONSTRUCTORS.register_module()
class BackboneLayerDecayOptimWrapperConstructor(
        LearningRateDecayOptimWrapperConstructor):
    """Layer-wise lr decay for a detector or segmentor whose backbone is an
    mmpretrain ViT / Swin (the MAE / BEiT fine-tuning protocol in mmdet and
    mmseg).

    mmpretrain's constructor asks the model itself for ``get_layer_depth``,
    which its classifiers have and mmdet / mmseg models do not; mmseg's own
    constructor only knows its ``MAE`` / ``BEiT`` backbones. This one asks
    ``model.backbone.get_layer_depth(name, prefix='backbone.')``, which puts
    every parameter outside the backbone (neck, heads) at the last depth: the
    full lr. ``paramwise_cfg`` is mmpretrain's (``layer_decay_rate``,
    ``custom_keys``, ``*_decay_mult``). mmseg configs name it
    ``mmpretrain.BackboneLayerDecayOptimWrapperConstructor``.
    """

    def add_params(self,
                   params: List[dict],
                   module: nn.Module,
                   prefix: str = '',
                   get_layer_depth: Optional[Callable] = None,
                   **kwargs) -> None:
        if get_layer_depth is None:
            backbone = getattr(module, 'backbone', None)
            if not hasattr(backbone, 'get_layer_depth'):
                raise TypeError(
                    f'{type(self).__name__}: the backbone of '
                    f'{type(module).__name__} ({type(backbone).__name__}) '
                    'has no get_layer_depth; use an mmpretrain '
                    'VisionTransformer or SwinTransformer backbone')
            get_layer_depth = partial(backbone.get_layer_depth,
                                      prefix='backbone.')
        super().add_params(params, module, prefix, get_layer_depth, **kwargs)
