"""The "Naive" deep-masking neck of MaskDeep (Table 2): point groups sampled
straight from the encoder's last stage, without a feature pyramid."""
from typing import List, Optional, Sequence, Tuple, Union

from mmengine.model import BaseModule
from mmpretrain.registry import MODELS
from torch import Tensor

from maskssl.utils.arg_checks import check_int
from ..utils import sample_point_groups


@MODELS.register_module()
class PointSamplingNeck(BaseModule):
    """Multi-group sparse point sampling from the last backbone stage.

    This is the "Naive" row of MaskDeep's Table 2: ``K`` groups of ``k`` point
    features of ``C5`` (2048-d for ResNet-50) per image, with no parameters.
    The sampling rules are those of :mod:`maskssl.models.utils.point_sampling`
    (sampled levels here: ``C5`` alone).

    Args:
        in_channels (Sequence[int]): channels of the backbone outputs, one per
            ``out_indices`` entry; the last one is sampled.
        num_groups (int): ``K``, groups per image (Table 5). Defaults to 16.
        num_points (int): ``k``, points per group (Table 4). Defaults to 12.
        init_cfg (dict or list[dict], optional): initialisation config.
    """

    def __init__(self,
                 in_channels: Sequence[int],
                 num_groups: int = 16,
                 num_points: int = 12,
                 init_cfg: Optional[Union[dict, List[dict]]] = None) -> None:
        super().__init__(init_cfg)
        owner = type(self).__name__
        if isinstance(in_channels, (str, bytes)) or not isinstance(
                in_channels, Sequence) or not in_channels:
            raise ValueError(
                f'{owner}: in_channels={in_channels!r}; expected a non-empty '
                'list of positive ints, the channels of the backbone outputs')
        self.in_channels = [
            check_int(c, f'in_channels[{i}]', owner=owner)
            for i, c in enumerate(in_channels)
        ]
        self.num_groups = check_int(num_groups, 'num_groups', owner=owner)
        self.num_points = check_int(num_points, 'num_points', owner=owner)

    @property
    def out_channels(self) -> int:
        """``C``, the dimension of one point feature."""
        return self.in_channels[-1]

    def _check_inputs(self, inputs: Sequence[Tensor]) -> None:
        got = [x.shape[1] for x in inputs]
        if got != self.in_channels:
            raise ValueError(
                f'{type(self).__name__} expects backbone outputs with '
                f'channels {self.in_channels} (neck.in_channels) but got '
                f'{got}: set model.backbone.out_indices to the stages that '
                'model.neck.in_channels lists')

    def forward_levels(self, inputs: Sequence[Tensor]) -> List[Tensor]:
        """The feature maps points are sampled from.

        Args:
            inputs (Sequence[Tensor]): backbone outputs (B, C_i, H_i, W_i).

        Returns:
            list[Tensor]: here the last input alone, (B, C5, H5, W5).
        """
        self._check_inputs(inputs)
        return [inputs[-1]]

    def forward(self, inputs: Tuple[Tensor, ...]) -> Tensor:
        """Sample ``K`` groups of ``k`` points per image.

        Args:
            inputs (tuple[Tensor]): backbone outputs (B, C_i, H_i, W_i).

        Returns:
            Tensor: (B, K, k * C) concatenated point features.
        """
        return sample_point_groups(
            self.forward_levels(inputs), self.num_groups, self.num_points)
