"""MaskDeep's predictor and loss (Sec. 3.3 and 3.5)."""
from typing import List

import torch
from mmengine.model import BaseModule
from mmpretrain.registry import MODELS
from torch import Tensor


@MODELS.register_module()
class MaskDeepHead(BaseModule):
    """Predict the global target from each group of point features.

    The predictor (Sec. 3.3) maps one group's concatenated points ``k * d``
    through Linear -> BN -> ReLU -> Linear to the target dimension (hidden
    4096, out 2048 for ResNet-50): mmpretrain's ``NonLinearNeck`` with
    ``with_avg_pool=False, with_bias=True, with_last_bn=False``, as BYOL's
    predictor. All ``B * K`` groups of a view form one batch for its BN; each
    view runs through the predictor on its own, as in BYOL.

    Args:
        predictor (dict): config of the predictor.
        loss (dict): config of the loss, called as
            ``loss(preds (V, B, K, D), targets (T, B, D), pairs (V, T))``.
    """

    def __init__(self, predictor: dict,
                 loss: dict = dict(type='MultiTargetCosineLoss')) -> None:
        super().__init__()
        self.predictor = MODELS.build(predictor)
        self.loss_module = MODELS.build(loss)

    def predict_groups(self, groups: Tensor) -> Tensor:
        """Predict a target from every group.

        Args:
            groups (Tensor): (B, K, k * d) concatenated point features.

        Returns:
            Tensor: (B, K, D) predictions.
        """
        batch_size, num_groups = groups.shape[:2]
        pred = self.predictor((groups.flatten(0, 1), ))[0]
        return pred.view(batch_size, num_groups, -1)

    def loss(self, groups: List[Tensor], targets: Tensor,
             pairs: Tensor) -> Tensor:
        """The loss of all online views.

        Args:
            groups (list[Tensor]): per online view, (B, K, k * d).
            targets (Tensor): (T, B, D) momentum targets, no gradient.
            pairs (Tensor): (V, T) bool, the targets of each online view.

        Returns:
            Tensor: the scalar loss.
        """
        preds = torch.stack([self.predict_groups(g) for g in groups])
        return self.loss_module(preds, targets, pairs)
