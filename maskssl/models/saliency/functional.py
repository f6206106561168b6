"""Saliency-guided masking for ConvNets as pure, batched functions.

Paper: "Masking Improves Contrastive Self-Supervised Learning for ConvNets,
and Saliency Tells You Where", https://arxiv.org/abs/2309.12757 (Sec. 3.1,
3.2). Every function works on a whole batch on its device (no per-image
Python loop) and draws its randomness from an optional ``torch.Generator``
on that device, so tests can seed it.

Conventions: a *cell grid* is ``(B, U, V)`` (or ``(B, C, U, V)`` for
channel-wise masks), one cell per ``stride x stride`` patch of the input
(7 x 7 cells of 32 x 32 pixels at 224 px for a ResNet-50); ``True`` marks
foreground (saliency) or a masked cell (masks).
"""
import math
from typing import Optional, Tuple

import torch
from torch import Tensor

# Eq. 1: foreground where A >= mean(A) - 0.6 std(A)
SCDA_STD_FACTOR = 0.6


def scda_foreground(features: Tensor,
                    std_factor: float = SCDA_STD_FACTOR) -> Tensor:
    """SCDA foreground cells (Sec. 3.1, Eq. 1).

    Args:
        features (Tensor): ``(B, D, U, V)``, a localisation network's last
            feature map before global pooling (``S`` of the paper, channels
            first).
        std_factor (float): How many standard deviations below the mean the
            threshold lies (0.6 in the paper; 0 gives the original SCDA).

    Returns:
        Tensor: ``(B, U, V)`` bool, ``A(u, v) >= mean(A) - std_factor *
        std(A)`` where ``A`` is ``features`` summed over channels and the
        mean and the (population, ``unbiased=False``) standard deviation are
        taken per image over its ``U * V`` cells. The paper does not say
        which standard deviation; the population one is the statistic of
        the map itself.
    """
    if features.dim() != 4:
        raise ValueError(f'scda_foreground: features of shape '
                         f'{tuple(features.shape)}; expected (B, D, U, V)')
    act = features.float().sum(1)
    flat = act.flatten(1)
    thresh = flat.mean(1) - std_factor * flat.std(1, unbiased=False)
    return act >= thresh[:, None, None]


def cell_grid(size: Tuple[int, int], stride: int) -> Tuple[int, int]:
    """The ``(U, V)`` cell grid of an input of ``size`` ``(H, W)``: one cell
    per ``stride x stride`` patch, ``ceil(H / stride) x ceil(W / stride)``,
    which is the feature map size of a stride-``stride`` ResNet (padded
    convolutions round up). When ``stride`` does not divide the input the
    cells are the grid's equal partition of the image, boundaries rounded
    (:func:`cells_to_pixels`), so every pixel is in exactly one cell.

    Raises:
        ValueError: when the input is smaller than one cell.
    """
    h, w = size
    if h < stride or w < stride:
        raise ValueError(f'input size {h}x{w} is smaller than one saliency '
                         f'cell ({stride}x{stride} pixels, the localisation '
                         "network's stride); expected at least "
                         f'{stride}x{stride}')
    return math.ceil(h / stride), math.ceil(w / stride)


def cells_to_pixels(cells: Tensor, size: Tuple[int, int]) -> Tensor:
    """Expand a cell grid to pixels.

    Args:
        cells (Tensor): ``(..., U, V)``.
        size (tuple): ``(H, W)`` of the image.

    Returns:
        Tensor: ``(..., H, W)``: pixel ``(y, x)`` takes cell
        ``(floor(y U / H), floor(x V / W))``, the 32 x 32 patch grid when
        ``H = 32 U``.
    """
    u, v = cells.shape[-2:]
    h, w = size
    rows = torch.arange(h, device=cells.device) * u // h
    cols = torch.arange(w, device=cells.device) * v // w
    return cells[..., rows[:, None], cols[None, :]]


def positive_counts(num_fg: Tensor, num_cells: int,
                    alpha: Tensor) -> Tuple[Tensor, Tensor]:
    """How many foreground and background cells a positive view masks
    (Sec. 3.2): ``round(alpha * gamma * N)`` foreground cells and
    ``int(alpha * N)`` minus that background cells, ``gamma = num_fg / N``.

    Edge cases: with ``gamma = 0`` all ``int(alpha N)`` masked cells are
    background; with ``gamma = 1`` all ``round(alpha N)`` are foreground
    (the background count, ``int - round``, would be -1 when rounding goes
    up: it is clamped at 0). Counts never exceed the cells available.

    Args:
        num_fg (Tensor): ``(B,)`` int, foreground cells per image.
        num_cells (int): ``N = U * V`` (``U * V * C`` for channel-wise).
        alpha (Tensor): ``(B,)`` masking ratios.

    Returns:
        tuple[Tensor, Tensor]: ``(B,)`` long foreground and background
        counts.
    """
    total = torch.floor(alpha * num_cells + 1e-6).long()
    fg = torch.round(alpha * num_fg.to(alpha.dtype)).long()
    fg = torch.minimum(fg, num_fg.long())
    bg = (total - fg).clamp(min=0)
    return fg, torch.minimum(bg, num_cells - num_fg.long())


def negative_counts(num_fg: Tensor, beta: Tensor) -> Tensor:
    """Foreground cells a hard negative masks (Sec. 3.2):
    ``round(beta * gamma * N) = round(beta * num_fg)``, ``(B,)`` long; no
    background cell is masked."""
    return torch.round(beta * num_fg.to(beta.dtype)).long()


def sample_cells(candidates: Tensor, counts: Tensor,
                 generator: Optional[torch.Generator] = None) -> Tensor:
    """Choose ``counts[b]`` of the ``True`` cells of ``candidates[b]``
    uniformly at random, without replacement, for every image at once.

    Args:
        candidates (Tensor): ``(B, N)`` bool.
        counts (Tensor): ``(B,)`` int, at most the candidates of each row.
        generator (torch.Generator, optional): On the candidates' device.

    Returns:
        Tensor: ``(B, N)`` bool with exactly ``counts[b]`` ``True`` cells in
        row ``b``, all among its candidates.
    """
    scores = torch.rand(candidates.shape, device=candidates.device,
                        generator=generator)
    # candidates rank first, in random order
    scores = scores.masked_fill(~candidates, 2.0)
    ranks = scores.argsort(1).argsort(1)
    return ranks < counts[:, None]


def saliency_mask(foreground: Tensor, ratio: Tensor, negative: bool = False,
                  generator: Optional[torch.Generator] = None) -> Tensor:
    """Saliency-guided spatial masking on the cell grid (Sec. 3.2).

    Args:
        foreground (Tensor): ``(B, ..., U, V)`` bool SCDA cells (``...``:
            e.g. a channel axis for channel-wise masking; each slice is
            masked independently).
        ratio (Tensor): ``(B,)``, ``alpha`` for a positive view, ``beta``
            for a hard negative.
        negative (bool): A hard negative masks ``round(beta * num_fg)``
            foreground cells only; a positive splits ``int(alpha N)`` masked
            cells between foreground and background in proportion
            ``gamma : 1 - gamma`` (:func:`positive_counts`).
        generator (torch.Generator, optional): On the mask's device.

    Returns:
        Tensor: Bool mask of ``foreground``'s shape, ``True`` = masked.
    """
    shape = foreground.shape
    fg = foreground.flatten(-2)
    fg = fg.reshape(-1, fg.shape[-1])  # every (image, channel) slice
    ratio = ratio.reshape(-1, *([1] * (len(shape) - 3))).expand(
        shape[:-2]).reshape(-1)
    num_fg = fg.sum(1)
    if negative:
        return sample_cells(fg, negative_counts(num_fg, ratio),
                            generator).reshape(shape)
    n_fg, n_bg = positive_counts(num_fg, fg.shape[1], ratio)
    mask = sample_cells(fg, n_fg, generator)
    mask |= sample_cells(~fg, n_bg, generator)
    return mask.reshape(shape)


def uniform_ratio(batch: int, low: float, high: float, device=None,
                  generator: Optional[torch.Generator] = None) -> Tensor:
    """``(B,)`` ratios drawn from ``U(low, high)``, one per image (``alpha
    ~ U(0.05, 0.25)``, ``beta ~ U(0.4, 0.7)``; ``low == high`` gives the
    fixed ratio of Table 5)."""
    r = torch.rand(batch, device=device, generator=generator)
    return low + (high - low) * r
