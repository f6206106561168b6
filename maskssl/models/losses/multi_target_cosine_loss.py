"""MaskDeep's multi-group, multi-target cosine loss (Eq. 2)."""
import torch
import torch.nn.functional as F
from mmengine.model import BaseModule
from mmpretrain.registry import MODELS
from torch import Tensor

REDUCTIONS = ('sum', 'mean')


def multi_target_cosine_loss(preds: Tensor,
                             targets: Tensor,
                             pairs: Tensor,
                             reduction: str = 'sum') -> Tensor:
    """Align every group prediction with every paired target (Eq. 2).

    Online view ``v`` has ``K`` group predictions ``p_{v,i}`` and predicts the
    ``T_v`` targets ``G_j`` paired with it (``pairs[v, j]``): for a global
    view, the other global view and the ``N`` extra targets (``T_v = N + 1``);
    for a multi-crop local view, every target. Each pair contributes
    ``4 (1 - cos(p_{v,i}, G_j))``, averaged over the batch.

    - ``'sum'`` (Eq. 2, the default): the terms are summed over the views,
      the ``K`` groups and the paired targets, i.e.
      ``-4 * sum_i sum_j (cos(p_i^1, G_j^2) + cos(p_i^2, G_j^1))`` of Eq. 2
      plus the constant ``4 * V * K * T_v``: the gradient is Eq. 2's, so the
      paper's SGD step (lr 0.02, weight decay 1e-5) grows with ``K`` and
      ``N`` as in its ablations (Tables 5 and 6).
    - ``'mean'``: each view's terms are averaged over its ``K * T_v`` pairs
      and the loss is ``2 *`` the mean over the views, a scale independent
      of ``K``, ``N`` and the number of views, in ``[0, 16]``. With two
      views it is the ``'sum'`` loss divided by ``K * (N + 1)``; with
      ``K = 1`` and ``N = 0`` it is BYOL's ``2 (L + L~)`` with ``2 - 2 cos``
      terms (``CosineSimilarityLoss(shift_factor=2, scale_factor=2)``).

    Args:
        preds (Tensor): (V, B, K, D) predictions of the ``V`` online views.
        targets (Tensor): (T, B, D) targets of the ``T`` momentum views.
        pairs (Tensor): (V, T) bool, which targets each online view predicts
            (a view never predicts its own target).
        reduction (str): ``'sum'`` or ``'mean'``, see above.

    Returns:
        Tensor: the scalar loss.
    """
    if reduction not in REDUCTIONS:
        raise ValueError(f'reduction={reduction!r}; expected one of '
                         f'{REDUCTIONS}')
    if pairs.shape != (preds.shape[0], targets.shape[0]):
        raise ValueError(f'pairs {tuple(pairs.shape)} must be (online views, '
                         f'targets) = ({preds.shape[0]}, {targets.shape[0]})')
    if not bool(pairs.any(1).all()):
        raise ValueError('every online view needs at least one target')
    num_groups = preds.shape[2]
    # (V, T): cos summed over the K groups, averaged over the batch
    cos = torch.einsum('vbkd,tbd->vt', F.normalize(preds, dim=-1),
                       F.normalize(targets, dim=-1)) / preds.shape[1]
    weights = pairs.to(cos.dtype)
    terms = 4 * (num_groups - cos) * weights  # sum_i 4 (1 - cos), paired
    if reduction == 'sum':
        return terms.sum()
    per_view = terms.sum(1) / (num_groups * weights.sum(1))
    return 2 * per_view.mean()


@MODELS.register_module()
class MultiTargetCosineLoss(BaseModule):
    """Module form of :func:`multi_target_cosine_loss`.

    Args:
        loss_weight (float): multiplier of the loss. Defaults to 1.
        reduction (str): ``'sum'`` (Eq. 2, default) or ``'mean'`` (the sums
            of Eq. 2 replaced by means, scale independent of K and N).
    """

    def __init__(self, loss_weight: float = 1.0,
                 reduction: str = 'sum') -> None:
        super().__init__()
        if reduction not in REDUCTIONS:
            raise ValueError(f'model.head.loss.reduction={reduction!r}; '
                             f'expected one of {REDUCTIONS}')
        self.loss_weight = loss_weight
        self.reduction = reduction

    def forward(self, preds: Tensor, targets: Tensor, pairs: Tensor) -> Tensor:
        """See :func:`multi_target_cosine_loss` for shapes."""
        return self.loss_weight * multi_target_cosine_loss(
            preds, targets, pairs, self.reduction)
