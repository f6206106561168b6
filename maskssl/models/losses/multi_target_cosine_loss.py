"""MaskDeep's multi-group, multi-target cosine loss (Eq. 2)."""
import torch
import torch.nn.functional as F
from mmengine.model import BaseModule
from mmpretrain.registry import MODELS
from torch import Tensor


def multi_target_cosine_loss(preds: Tensor, targets: Tensor,
                             pairs: Tensor) -> Tensor:
    """Align every group prediction with every paired target (Eq. 2).

    For online view ``v`` with ``K`` group predictions ``p_{v,i}`` and the
    ``T_v`` targets ``g_t`` paired with it (``pairs[v, t]``), the view's term
    is ``2 - 2 cos(p_{v,i}, g_t)`` averaged over the ``K * T_v`` pairs and the
    batch; the loss is ``4 *`` the mean of the view terms. With the two
    views of Eq. 2 this is ``8 - 4 (mean cos^1 + mean cos^2)``: Eq. 2
    (``-4 * sum_i sum_j (cos^1 + cos^2)``) with each sum replaced by a mean,
    plus a constant. The means keep the scale independent of ``K``, ``N`` and
    the number of online views; the factor 4 is Eq. 2's, twice the gradient
    of mmpretrain's BYOL loss. With ``K = 1`` and no extra target it is
    ``2 * (loss_1 + loss_2)`` of BYOL with BYOL's ``2 - 2 cos`` terms
    (``CosineSimilarityLoss(shift_factor=2, scale_factor=2)``).

    Args:
        preds (Tensor): (V, B, K, D) predictions of the ``V`` online views.
        targets (Tensor): (T, B, D) targets of the ``T`` momentum views.
        pairs (Tensor): (V, T) bool, which targets each online view predicts
            (a view never predicts its own target).

    Returns:
        Tensor: the scalar loss, in ``[0, 16]``.
    """
    if pairs.shape != (preds.shape[0], targets.shape[0]):
        raise ValueError(f'pairs {tuple(pairs.shape)} must be (online views, '
                         f'targets) = ({preds.shape[0]}, {targets.shape[0]})')
    if not bool(pairs.any(1).all()):
        raise ValueError('every online view needs at least one target')
    cos = torch.einsum('vbkd,tbd->vt', F.normalize(preds, dim=-1),
                       F.normalize(targets, dim=-1))
    cos = cos / (preds.shape[1] * preds.shape[2])  # mean over B and K
    weights = pairs.to(cos.dtype)
    per_view = ((2 - 2 * cos) * weights).sum(1) / weights.sum(1)
    return 4 * per_view.mean()


@MODELS.register_module()
class MultiTargetCosineLoss(BaseModule):
    """Module form of :func:`multi_target_cosine_loss`.

    Args:
        loss_weight (float): multiplier of the loss. Defaults to 1.
    """

    def __init__(self, loss_weight: float = 1.0) -> None:
        super().__init__()
        self.loss_weight = loss_weight

    def forward(self, preds: Tensor, targets: Tensor, pairs: Tensor) -> Tensor:
        """See :func:`multi_target_cosine_loss` for shapes."""
        return self.loss_weight * multi_target_cosine_loss(
            preds, targets, pairs)
