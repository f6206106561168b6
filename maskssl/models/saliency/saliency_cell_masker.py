"""Saliency-guided cell masks for positive and hard-negative views
(Sec. 3.2 of "Masking Improves Contrastive Self-Supervised Learning for
ConvNets, and Saliency Tells You Where", https://arxiv.org/abs/2309.12757),
with the ablations of Table 4 (no saliency; salient cells only)."""
import numbers
from typing import List, Optional, Sequence, Tuple, Union

import torch
from mmengine.model import BaseModule
from mmpretrain.registry import MODELS
from torch import Tensor

from .fills import salient_only_mask, uniform_cell_mask
from .functional import saliency_mask, uniform_ratio


def _check_range(value, name: str, owner: str) -> Tuple[float, float]:
    """``value`` as a ``(low, high)`` pair of floats with ``0 < low <= high
    < 1``, else a ``ValueError`` naming the argument and the value."""
    ok = (isinstance(value, Sequence) and not isinstance(value, (str, bytes))
          and len(value) == 2 and all(
              isinstance(v, numbers.Real) and not isinstance(v, bool)
              for v in value))
    if ok:
        low, high = float(value[0]), float(value[1])
        ok = 0 < low <= high < 1
    if not ok:
        raise ValueError(
            f'{owner}: {name}={value!r}; expected a pair (low, high) with '
            f'0 < low <= high < 1 (low == high for a fixed ratio)')
    return low, high


@MODELS.register_module()
class SaliencyCellMasker(BaseModule):
    """Choose the cells of the saliency grid a view masks (Sec. 3.2).

    Every image draws its own ratio, ``alpha ~ U(alpha)`` for a positive
    (query) view and ``beta ~ U(beta)`` for a hard negative (a masked copy of
    the key view), then, with ``N = U * V`` cells of which ``num_fg = gamma
    N`` are foreground:

    - positive: ``round(alpha * num_fg)`` foreground cells and
      ``int(alpha * N)`` minus that background cells, so masked cells split
      ``gamma : 1 - gamma`` between foreground and background
      (:func:`~maskssl.models.saliency.functional.positive_counts`, which
      also defines the edge cases ``gamma = 0``: ``int(alpha N)`` background
      cells, and ``gamma = 1``: ``round(alpha N)`` foreground cells);
    - hard negative: ``round(beta * num_fg)`` foreground cells, no
      background cell.

    Ablations (Table 4): ``saliency=False`` ignores the foreground and makes
    every cell a candidate (random masking as in MSCN): a positive masks
    ``int(alpha N)`` cells, a negative ``round(beta N)``.
    ``mask_non_salient=False`` makes a positive mask salient cells only,
    ``min(int(alpha N), num_fg)`` of them; it leaves negatives as they are
    (they mask foreground cells only anyway).

    Chosen where the paper is silent: one ratio per image (the paper draws
    ``alpha`` per sample), shared by the channels of a channel-wise grid
    whose cells are re-drawn per channel; cells are sampled uniformly
    without replacement within each region. This masks the salient
    *positions* of the SCDA map; the authors' released code sorts the map
    before indexing it, which misplaces the foreground cells (issue 11), and
    is not followed.

    Args:
        alpha (Sequence[float]): ``(low, high)`` of the positive masking
            ratio, ``0 < low <= high < 1``. Defaults to ``(0.05, 0.25)``
            (Sec. 3.2); ``(0.15, 0.15)`` is the fixed 15% of the ablations
            (Sec. 4.3).
        beta (Sequence[float]): ``(low, high)`` of the hard-negative ratio
            of foreground cells. Defaults to ``(0.4, 0.7)``.
        saliency (bool): Saliency-guided (True) or uniform random cells.
            Defaults to True.
        mask_non_salient (bool): Whether a positive also masks background
            cells. Defaults to True. False needs ``saliency=True``.
        init_cfg (dict or list[dict], optional): Initialisation config (the
            masker has no parameters).
    """

    def __init__(self,
                 alpha: Sequence[float] = (0.05, 0.25),
                 beta: Sequence[float] = (0.4, 0.7),
                 saliency: bool = True,
                 mask_non_salient: bool = True,
                 init_cfg: Optional[Union[dict, List[dict]]] = None) -> None:
        super().__init__(init_cfg)
        owner = type(self).__name__
        self.alpha = _check_range(alpha, 'alpha', owner)
        self.beta = _check_range(beta, 'beta', owner)
        for name, value in (('saliency', saliency),
                            ('mask_non_salient', mask_non_salient)):
            if not isinstance(value, bool):
                raise ValueError(f'{owner}: {name}={value!r}; expected True '
                                 'or False')
        if not saliency and not mask_non_salient:
            raise ValueError(
                f'{owner}: mask_non_salient=False needs saliency=True '
                '(without saliency every cell is a candidate, so there are '
                'no "salient cells only" to mask)')
        self.saliency = saliency
        self.mask_non_salient = mask_non_salient

    def candidates(self, foreground: Tensor) -> Tensor:
        """The cells the masker treats as foreground: ``foreground`` itself,
        or every cell when ``saliency=False``. Same shape, bool."""
        if self.saliency:
            return foreground
        return torch.ones_like(foreground, dtype=torch.bool)

    def forward(self,
                foreground: Tensor,
                negative: bool = False,
                generator: Optional[torch.Generator] = None) -> Tensor:
        """Mask cells of every image of the batch at once.

        Args:
            foreground (Tensor): ``(B, ..., U, V)`` bool SCDA cells, e.g.
                ``(B, U, V)`` for spatial masking or ``(B, C, U, V)`` for
                channel-wise masking (each ``(U, V)`` slice is masked
                independently with its image's ratio).
            negative (bool): A hard negative (``beta``) instead of a
                positive (``alpha``).
            generator (torch.Generator, optional): On ``foreground``'s
                device; the only source of randomness.

        Returns:
            Tensor: Bool, ``foreground``'s shape, ``True`` = masked.
        """
        if foreground.dtype != torch.bool or foreground.dim() < 3:
            raise ValueError(
                f'{type(self).__name__}: foreground of dtype '
                f'{foreground.dtype} and shape {tuple(foreground.shape)}; '
                'expected a bool (B, ..., U, V) cell grid')
        low, high = self.beta if negative else self.alpha
        ratio = uniform_ratio(foreground.shape[0], low, high,
                              device=foreground.device, generator=generator)
        if not self.saliency:
            return uniform_cell_mask(foreground.shape, ratio, negative,
                                     device=foreground.device,
                                     generator=generator)
        if not negative and not self.mask_non_salient:
            return salient_only_mask(foreground, ratio, generator)
        return saliency_mask(foreground, ratio, negative, generator)
