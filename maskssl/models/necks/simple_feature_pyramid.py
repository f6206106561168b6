from typing import Dict, Sequence, Tuple

import torch
import torch.nn.functional as F
from mmengine.model import BaseModule
from mmpretrain.models.utils import build_norm_layer
from mmpretrain.registry import MODELS
from torch import nn

from maskssl.utils.arg_checks import check_int


@MODELS.register_module()
class SimpleFeaturePyramid(BaseModule):
    """ViTDet's simple feature pyramid: multi-scale maps from the last map of
    a plain ViT, for detectors that expect an FPN (EHM Sec. IV-A evaluates
    MIM encoders "following MAE" with strides 4, 8, 16 and 32).

    From the stride-16 map, scale 4 is two 2x2 transposed convolutions (norm
    and GELU between them; ``C/4`` channels), scale 2 one (``C/2``), scale 1
    the identity and scale 0.5 a 2x2 max pool; each level then gets a 1x1 and a 3x3 convolution with norm
    to ``out_channels``. Levels past ``len(scale_factors)`` are max-pooled
    (kernel 1, stride 2) from the last, as mmdet's ``FPN`` adds P6.

    Args:
        in_channels (int): Channels ``C`` of the ViT map.
        out_channels (int): Channels of every output level.
        scale_factors (Sequence[float]): Up/down factors from the input
            stride, from the finest level; each of 4, 2, 1, 0.5.
        num_outs (int): Number of output levels (>= len(scale_factors)).
        norm_cfg (dict): Norm after each convolution (``LN2d``, as ViTDet).
        init_cfg (dict, optional): Initialisation config.

    Inputs: a tuple whose last element is the ViT map ``(B, C, H, W)``.
    Outputs: ``num_outs`` maps ``(B, out_channels, H * s, W * s)``.
    """

    def __init__(self,
                 in_channels: int,
                 out_channels: int = 256,
                 scale_factors: Sequence[float] = (4.0, 2.0, 1.0, 0.5),
                 num_outs: int = 5,
                 norm_cfg: Dict = dict(type='LN2d', eps=1e-6),
                 init_cfg=dict(type='Xavier', layer='Conv2d',
                               distribution='uniform')) -> None:
        super().__init__(init_cfg=init_cfg)
        owner = type(self).__name__
        in_channels = check_int(in_channels, 'in_channels', owner=owner)
        out_channels = check_int(out_channels, 'out_channels', owner=owner)
        num_outs = check_int(num_outs, 'num_outs', owner=owner)
        if num_outs < len(scale_factors):
            raise ValueError(f'num_outs={num_outs} is less than the '
                             f'{len(scale_factors)} scale_factors')
        self.num_outs = num_outs
        self.stages = nn.ModuleList()
        for scale in scale_factors:
            # ViTDet's widths: C / 4 at scale 4, C / 2 at scale 2, else C
            width = in_channels // int(scale) if scale > 1 else in_channels
            self.stages.append(
                nn.Sequential(
                    self._rescale(scale, in_channels, norm_cfg),
                    nn.Conv2d(width, out_channels, 1, bias=False),
                    build_norm_layer(norm_cfg, out_channels),
                    nn.Conv2d(out_channels, out_channels, 3, padding=1,
                              bias=False),
                    build_norm_layer(norm_cfg, out_channels)))

    @staticmethod
    def _rescale(scale: float, channels: int, norm_cfg: Dict) -> nn.Module:
        if scale == 4.0:
            return nn.Sequential(
                nn.ConvTranspose2d(channels, channels // 2, 2, stride=2),
                build_norm_layer(norm_cfg, channels // 2), nn.GELU(),
                nn.ConvTranspose2d(channels // 2, channels // 4, 2, stride=2))
        if scale == 2.0:
            return nn.ConvTranspose2d(channels, channels // 2, 2, stride=2)
        if scale == 1.0:
            return nn.Identity()
        if scale == 0.5:
            return nn.MaxPool2d(2, stride=2)
        raise ValueError(f'scale factor {scale} is not one of 4, 2, 1, 0.5')

    def forward(self, inputs: Tuple[torch.Tensor]) -> Tuple[torch.Tensor]:
        x = inputs[-1]
        outs = [stage(x) for stage in self.stages]
        while len(outs) < self.num_outs:
            outs.append(F.max_pool2d(outs[-1], 1, stride=2))
        return tuple(outs)
