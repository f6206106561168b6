"""The Hierarchical Deep-Masking module of MaskDeep (Sec. 3.2)."""
from typing import List, Optional, Sequence, Union

import torch.nn as nn
import torch.nn.functional as F
from mmpretrain.registry import MODELS
from torch import Tensor

from maskssl.utils.arg_checks import check_int
from .point_sampling_neck import PointSamplingNeck


@MODELS.register_module()
class HierarchicalDeepMaskingNeck(PointSamplingNeck):
    """FPN-type pyramid over ResNet stages, then multi-group point sampling.

    The pyramid follows FPN (Lin et al., as in mmdet's ``FPN``): a 1x1
    lateral conv per input stage ``C_i``, a top-down pathway of nearest
    upsampling and addition, and a 3x3 output conv per level, giving levels
    ``P_i`` of one dimension ``out_channels`` at the strides of their inputs
    (4, 8, 16, 32 for P2-P5 of a ResNet). The sampled levels are the backbone
    outputs: ``out_indices=(1, 2, 3)`` gives the paper's default P3-P5
    (Table 3a: ``(3,)``, ``(2, 3)``, ``(1, 2, 3)``, ``(0, 1, 2, 3)`` are
    levels 1-4), with ``in_channels`` listing their channels. Every level
    then keeps ``k`` random positions and each of ``K`` groups draws ``k``
    points from their union, each point's level equally likely
    (:mod:`maskssl.models.utils.point_sampling`).

    The paper gives no normalisation in the pyramid; like FPN we use none,
    with biased convs and mmdet's FPN initialisation (Xavier uniform).

    Args:
        in_channels (Sequence[int]): channels of the backbone outputs, from
            the finest stage to ``C5``, e.g. ``[512, 1024, 2048]``.
        out_channels (int): ``d``, the dimension of every level and point
            feature (Table 3b). Defaults to 512.
        num_groups (int): ``K`` (Table 5). Defaults to 16.
        num_points (int): ``k`` (Table 4). Defaults to 12.
        init_cfg (dict or list[dict], optional): initialisation config.
    """

    def __init__(self,
                 in_channels: Sequence[int],
                 out_channels: int = 512,
                 num_groups: int = 16,
                 num_points: int = 12,
                 init_cfg: Optional[Union[dict, List[dict]]] = dict(
                     type='Xavier', layer='Conv2d',
                     distribution='uniform')) -> None:
        super().__init__(in_channels, num_groups, num_points, init_cfg)
        self.dim = check_int(out_channels, 'out_channels',
                             owner=type(self).__name__)
        self.lateral_convs = nn.ModuleList(
            nn.Conv2d(c, self.dim, 1) for c in self.in_channels)
        self.output_convs = nn.ModuleList(
            nn.Conv2d(self.dim, self.dim, 3, padding=1)
            for _ in self.in_channels)

    @property
    def out_channels(self) -> int:
        """``d``, the dimension of one point feature."""
        return self.dim

    def forward_levels(self, inputs: Sequence[Tensor]) -> List[Tensor]:
        """The pyramid levels.

        Args:
            inputs (Sequence[Tensor]): backbone outputs ``C_i``
                (B, C_i, H_i, W_i), finest first.

        Returns:
            list[Tensor]: levels ``P_i`` (B, d, H_i, W_i), finest first.
        """
        self._check_inputs(inputs)
        laterals = [conv(x) for conv, x in zip(self.lateral_convs, inputs)]
        for i in range(len(laterals) - 1, 0, -1):
            laterals[i - 1] = laterals[i - 1] + F.interpolate(
                laterals[i], size=laterals[i - 1].shape[2:], mode='nearest')
        return [conv(x) for conv, x in zip(self.output_convs, laterals)]
