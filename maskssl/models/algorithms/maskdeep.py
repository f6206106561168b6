"""MaskDeep (Mask Hierarchical Features For Self-Supervised Learning)."""
import numbers
from typing import Dict, List, Optional, Union

import torch
import torch.nn as nn
from mmpretrain.models.selfsup import BaseSelfSupervisor
from mmpretrain.models.utils import CosineEMA
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample
from torch import Tensor

from maskssl.structures import MOMENTUM_ROLES, ONLINE_ROLES, view_roles_of


@MODELS.register_module()
class MaskDeep(BaseSelfSupervisor):
    """MaskDeep: predict the global image from sparse hierarchical points.

    Implementation of `Mask Hierarchical Features For Self-Supervised Learning
    <https://arxiv.org/abs/2304.00218>`_.

    The online branch encodes each online view once, builds the hierarchical
    representation space and samples ``K`` groups of ``k`` points from it
    (``neck``, Sec. 3.2); the head predicts the target from every group
    (Sec. 3.3) and aligns it by cosine similarity (Eq. 2). The target of a
    view (Sec. 3.4) is the momentum backbone's global-average-pooled last
    stage, with no projector and no gradient; the momentum encoder follows
    Eq. 1 with ``lambda`` raised from 0.99 to 1 by a cosine schedule over the
    training iterations (mmpretrain's ``CosineEMA``, whose ``momentum`` is
    ``1 - lambda``).

    Views and their branches come from each sample's ``view_roles``
    (:mod:`maskssl.structures.view_roles`): ``'global'`` views (the two
    MoCo v2 views) go through both branches and each predicts the other's
    target; ``'target'`` views (the ``N`` extra targets, Sec. 3.4) go through
    the momentum encoder only and are predicted by every online view;
    ``'local'`` views (multi-crop, Table 8) go through the online branch only
    and predict every target. As in mmpretrain's BYOL, the momentum encoder is
    updated before the targets are computed, and every view passes through
    each encoder as its own batch (so BN statistics are per view).

    Args:
        backbone (dict): the encoder; ``out_indices`` must list the sampled
            stages and end with the last one, whose pooled output is the
            target.
        neck (dict): the deep-masking module, returning (B, K, k * d).
        head (dict): predictor and loss, e.g. ``MaskDeepHead``.
        base_momentum (float): ``1 - lambda`` at the start. Defaults to 0.01
            (``lambda = 0.99``, Sec. 4.1).
        pretrained (str, optional): checkpoint to initialise from.
        data_preprocessor (dict, optional): defaults to
            ``SelfSupDataPreprocessor``.
        init_cfg (dict or list[dict], optional): initialisation config.
    """

    def __init__(self,
                 backbone: dict,
                 neck: dict,
                 head: dict,
                 base_momentum: float = 0.01,
                 pretrained: Optional[str] = None,
                 data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[Union[List[dict], dict]] = None) -> None:
        if isinstance(base_momentum, bool) or not isinstance(
                base_momentum, numbers.Real) or not 0 <= base_momentum <= 1:
            raise ValueError(
                f'MaskDeep: base_momentum={base_momentum!r} '
                f'({type(base_momentum).__name__}); expected a number in '
                '[0, 1], 1 - lambda of Eq. 1 (0.01 in the paper)')
        super().__init__(
            backbone=backbone,
            neck=neck,
            head=head,
            pretrained=pretrained,
            data_preprocessor=data_preprocessor,
            init_cfg=init_cfg)
        out_indices = getattr(self.backbone, 'out_indices', None)
        num_stages = getattr(self.backbone, 'num_stages', None)
        if out_indices is not None and num_stages is not None and \
                max(out_indices) != num_stages - 1:
            raise ValueError(
                f'model.backbone.out_indices={tuple(out_indices)} must end '
                f'with the last stage ({num_stages - 1}): its pooled output '
                'is the target')
        self._check_predictor_input()
        self.target_net = CosineEMA(self.backbone, momentum=base_momentum)

    def _check_predictor_input(self) -> None:
        """The predictor's first linear layer must take ``k * d``."""
        first = next((m for m in self.head.modules()
                      if isinstance(m, nn.Linear)), None)
        group_dim = self.neck.num_points * self.neck.out_channels
        if first is not None and first.in_features != group_dim:
            raise ValueError(
                f'model.head.predictor.in_channels={first.in_features} must be '
                f'num_points * out_channels of the neck = '
                f'{self.neck.num_points} * {self.neck.out_channels} = '
                f'{group_dim}')

    def momentum_targets(self, views: List[Tensor]) -> Tensor:
        """Targets of the momentum encoder.

        Args:
            views (list[Tensor]): T views (B, 3, H_t, W_t).

        Returns:
            Tensor: (T, B, D) pooled last-stage features, D = 2048 for a
            ResNet-50.
        """
        return torch.stack(
            [self.target_net(view)[-1].mean(dim=(2, 3)) for view in views])

    def loss(self, inputs: List[Tensor], data_samples: List[DataSample],
             **kwargs) -> Dict[str, Tensor]:
        """The forward function in training.

        Args:
            inputs (list[Tensor]): the views, each (B, 3, H, W).
            data_samples (list[DataSample]): samples carrying
                ``view_roles``.

        Returns:
            dict[str, Tensor]: ``loss``.
        """
        roles = view_roles_of(data_samples, len(inputs))
        online = [i for i, r in enumerate(roles) if r in ONLINE_ROLES]
        momentum = [i for i, r in enumerate(roles) if r in MOMENTUM_ROLES]
        groups = [self.neck(self.backbone(inputs[i])) for i in online]
        with torch.no_grad():
            self.target_net.update_parameters(self.backbone)
            targets = self.momentum_targets([inputs[i] for i in momentum])
        pairs = torch.tensor([[i != j for j in momentum] for i in online],
                             device=targets.device)
        return dict(loss=self.head.loss(groups, targets, pairs))
