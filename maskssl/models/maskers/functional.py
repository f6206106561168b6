"""Token masks as seeded pure functions.

Every function returns a bool ``(B, N)`` mask over the ``N = h * w`` patch
tokens of a ``(h, w)`` grid in raster order, True = masked (mmpretrain's
``data_sample.mask`` convention), drawn from ``generator`` (a
``torch.Generator`` on ``device``; the global RNG when ``None``). The
registered maskers of :mod:`maskssl.models.maskers` are thin modules around
them.
"""
import math
from typing import Optional, Tuple

import torch
from torch import Tensor

Device = Optional[torch.device]


def _uniform(shape: Tuple[int, ...], generator: Optional[torch.Generator],
             device: Device) -> Tensor:
    """``U(0, 1)`` float32 samples of ``shape``."""
    if generator is not None:
        device = generator.device
    return torch.rand(shape, generator=generator, device=device)


def _randint_inclusive(high: Tensor, generator: Optional[torch.Generator]
                       ) -> Tensor:
    """Integers uniform in ``[0, high]`` (``high`` a long tensor >= 0), one
    per element."""
    u = _uniform(tuple(high.shape), generator, high.device)
    return torch.minimum((u * (high + 1)).long(), high)


def num_masked(num_tokens: int, mask_ratio: float) -> int:
    """Tokens a fixed-ratio mask covers: ``N - int(N * (1 - ratio))``, as
    MAE keeps ``int(N * (1 - ratio))`` (``ceil(N * ratio)``, SimMIM's
    count). A float error below 1e-9 does not drop a token: MAE's own
    formula masks all 10 of 10 tokens at ratio 0.9 (``10 * (1 - 0.9)`` is
    ``0.999...``); this one masks 9."""
    return num_tokens - int(num_tokens * (1 - mask_ratio) + 1e-9)


def rounded_num_masked(num_tokens: int, mask_ratio: float) -> int:
    """Tokens an evolved hierarchical mask covers: ``round(N * ratio)``,
    halves rounded up (EHM's count, Sec. IV-B: the selected nodes' leaves
    total ``r * N``). Equal to :func:`num_masked` where ``N * ratio`` is
    within 1e-9 of an integer or has a fraction of at least one half (147
    of 196 and 37 of 49 at 0.75, 3 of 10 at 0.25); one less elsewhere (78
    of 196 at 0.4, 6 of 10 at 0.62)."""
    return int(math.floor(num_tokens * mask_ratio + 0.5 + 1e-9))


def bernoulli_mask(batch_size: int, num_tokens: int, p: float,
                   generator: Optional[torch.Generator] = None,
                   device: Device = None) -> Tensor:
    """Each token masked independently with probability ``p`` (MST Eq. 3,
    BERT's masking): ``m_i = 1`` if ``prob_i < p``. The count varies per
    image."""
    return _uniform((batch_size, num_tokens), generator, device) < p


def fixed_ratio_mask(batch_size: int, num_tokens: int, mask_ratio: float,
                     generator: Optional[torch.Generator] = None,
                     device: Device = None) -> Tensor:
    """Exactly :func:`num_masked` tokens per image, uniformly at random (MAE's
    ``random_masking``: the tokens with the largest noise are masked)."""
    noise = _uniform((batch_size, num_tokens), generator, device)
    ranks = noise.argsort(dim=1).argsort(dim=1)
    return ranks >= num_tokens - num_masked(num_tokens, mask_ratio)


def grid_mask(batch_size: int, grid: Tuple[int, int], cell: int,
              generator: Optional[torch.Generator] = None,
              device: Device = None) -> Tensor:
    """MAE's grid-wise sampling (MAE Fig. 6): one token of every
    ``cell x cell`` block of the grid is kept, the others masked, so that
    ``1 - 1 / cell**2`` of the tokens are masked (0.75 for ``cell=2``). The
    kept position inside the blocks (the same in every block of an image) is
    drawn per image; MAE keeps a fixed one. ``h`` and ``w`` must be
    multiples of ``cell``."""
    h, w = grid
    if h % cell or w % cell:
        raise ValueError(f'grid_mask: the grid {h} x {w} is not a multiple '
                         f'of cell={cell}')
    offset = (_uniform((batch_size, 2), generator, device) * cell).long()
    offset = offset.clamp_(max=cell - 1)
    rows = torch.arange(h, device=offset.device) % cell
    cols = torch.arange(w, device=offset.device) % cell
    keep = (rows[None, :, None] == offset[:, 0, None, None]) & \
        (cols[None, None, :] == offset[:, 1, None, None])
    return ~keep.flatten(1)


def block_mask(batch_size: int,
               grid: Tuple[int, int],
               num_masking_patches: int,
               min_num_patches: int = 4,
               max_num_patches: Optional[int] = None,
               min_aspect: float = 0.3,
               max_aspect: Optional[float] = None,
               generator: Optional[torch.Generator] = None,
               device: Device = None,
               max_rounds: int = 10000) -> Tensor:
    """BEiT's block-wise masking (BEiT Alg. 1, mmpretrain's
    ``BEiTMaskGenerator``), exactly ``num_masking_patches`` tokens per image,
    batched: every round proposes one rectangle per image (area
    ``U(min_num_patches, max)`` with ``max = min(remaining, max_num_patches)``,
    log-uniform aspect ratio in ``[min_aspect, max_aspect]``, top-left
    corner uniform) and accepts it where it adds between 1 and ``max`` new
    tokens, as BEiT's attempts do one after another.

    The corner is drawn from ``[0, h - bh]`` inclusive, as BEiT's
    ``random.randint`` does; mmpretrain's port uses the exclusive
    ``np.random.randint`` and so never masks the last row or column.

    Rejection sampling ends with probability one; should ``max_rounds`` pass
    first, the remaining count is completed with random unmasked tokens so
    that the count stays exact.
    """
    h, w = grid
    num_tokens = h * w
    if not 0 <= num_masking_patches <= num_tokens:
        raise ValueError(f'block_mask: num_masking_patches='
                         f'{num_masking_patches} outside [0, {num_tokens}]')
    max_num_patches = num_masking_patches if max_num_patches is None \
        else max_num_patches
    max_aspect = max_aspect or 1 / min_aspect
    log_aspect = (math.log(min_aspect), math.log(max_aspect))
    if generator is not None:
        device = generator.device
    mask = torch.zeros(batch_size, h, w, dtype=torch.bool, device=device)
    count = torch.zeros(batch_size, dtype=torch.long, device=device)
    rows = torch.arange(h, device=device)[None, :, None]
    cols = torch.arange(w, device=device)[None, None, :]
    for _ in range(max_rounds):
        remaining = num_masking_patches - count
        if not bool((remaining > 0).any()):
            return mask.flatten(1)
        limit = remaining.clamp(max=max_num_patches)
        u = _uniform((batch_size, 2), generator, device)
        area = min_num_patches + (limit - min_num_patches) * u[:, 0]
        aspect = torch.exp(log_aspect[0] +
                           (log_aspect[1] - log_aspect[0]) * u[:, 1])
        bh = torch.round(torch.sqrt(area * aspect)).long()
        bw = torch.round(torch.sqrt(area / aspect)).long()
        fits = (bh < h) & (bw < w)
        top = _randint_inclusive((h - bh).clamp(min=0), generator)
        left = _randint_inclusive((w - bw).clamp(min=0), generator)
        block = ((rows >= top[:, None, None]) &
                 (rows < (top + bh)[:, None, None]) &
                 (cols >= left[:, None, None]) &
                 (cols < (left + bw)[:, None, None]))
        new = (block & ~mask).flatten(1).sum(1)
        accept = fits & (new > 0) & (new <= limit)
        mask |= block & accept[:, None, None]
        count = count + new * accept
    mask = mask.flatten(1)
    # rounds exhausted: complete each image with random unmasked tokens
    noise = _uniform((batch_size, num_tokens), generator, device)
    noise = noise.masked_fill(mask, 2.0)
    ranks = noise.argsort(dim=1).argsort(dim=1)
    return mask | (ranks < (num_masking_patches - count)[:, None])


def attention_guided_mask(importance: Tensor, num: int, p: float,
                          generator: Optional[torch.Generator] = None
                          ) -> Tensor:
    """MST's attention-guided mask (Sec. 3.2, Alg. 1, Eq. 5).

    Per image, the ``N // num`` tokens with the lowest ``importance`` (the
    teacher's class attention, Eq. 4) are the candidates, each masked with
    probability ``p``; the other tokens, the most attended ones, are never
    masked. The paper's text ("the lowest 1/num of total tokens are selected
    as the masked candidates") is followed; Alg. 1's ``where`` line reads the
    other way round. Candidates are chosen by rank, so ties in
    ``importance`` still give exactly ``N // num`` candidates.

    Args:
        importance (Tensor): ``(B, N)`` per-token importance.
        num (int): ``1/num`` of the tokens are candidates.
        p (float): Masking probability of a candidate.
        generator (torch.Generator, optional): On ``importance``'s device.
    """
    batch_size, num_tokens = importance.shape
    ranks = importance.argsort(dim=1, stable=True).argsort(dim=1)
    candidates = ranks < num_tokens // num
    draw = _uniform((batch_size, num_tokens), generator, importance.device)
    return candidates & (draw < p)
