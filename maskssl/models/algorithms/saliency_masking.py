"""What SaliencyMoCoV2 and SaliencySimCLR share: their masking settings and
Eq. 2's hard-negative logit."""
from typing import Optional

import torch
from mmpretrain.registry import MODELS
from torch import Tensor

from ..saliency.functional import cell_grid

MASK_BRANCHES = ('query', 'key', 'both')


def hard_negative_logits(q: Tensor, k_neg: Tensor, rho: float) -> Tensor:
    """The hard-negative logit of Eq. 2 before the temperature:
    ``rho * q_i . k-_i``, one distinct negative per row.

    Args:
        q (Tensor): ``(N, C)`` normalised queries.
        k_neg (Tensor): ``(N, C)`` normalised hard negatives, row ``i`` made
            from the key view of row ``i``'s sample.
        rho (float): The penalty ratio (2.0 in the paper).

    Returns:
        Tensor: ``(N, 1)``; divided by ``tau`` with the other logits it gives
        the ``exp(rho q.k- / tau)`` term of Eq. 2's denominator.
    """
    return rho * (q * k_neg).sum(1, keepdim=True)


class SaliencyMasking:
    """Mixin of the contrastive algorithms with saliency-guided masking
    (https://arxiv.org/abs/2309.12757, Sec. 3.2-3.3): builds the fill and
    the saliency module and keeps the switches of Tables 4, 6 and 8."""

    def init_masking(self, fill: dict, saliency: Optional[dict],
                     mask_branch: str, hard_negative: bool, rho: float,
                     stride: int) -> None:
        """Build ``self.fill`` and ``self.saliency`` (``None``: no
        saliency) and store the switches; ``mask_branch`` must be one of
        :data:`MASK_BRANCHES`."""
        if mask_branch not in MASK_BRANCHES:
            raise ValueError(f'{type(self).__name__}: mask_branch='
                             f'{mask_branch!r}; expected one of '
                             f'{MASK_BRANCHES}')
        self.fill = MODELS.build(fill)
        self.saliency = MODELS.build(saliency) if saliency else None
        self.mask_branch = mask_branch
        self.hard_negative = hard_negative
        self.rho = rho
        self.stride = stride

    def all_cells(self, imgs: Tensor) -> Tensor:
        """``(B, U, V)`` all ``True``: the foreground when no saliency is
        used (every cell a candidate)."""
        u, v = cell_grid(imgs.shape[-2:], self.stride)
        return imgs.new_ones((imgs.shape[0], u, v), dtype=torch.bool)
