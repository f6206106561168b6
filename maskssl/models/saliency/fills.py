"""Pure, batched helpers of the saliency-guided masking strategies.

Paper: "Masking Improves Contrastive Self-Supervised Learning for ConvNets,
and Saliency Tells You Where", https://arxiv.org/abs/2309.12757, Sec. 3.2.
These complete :mod:`maskssl.models.saliency.functional` (SCDA cells, counts,
``sample_cells``, ``saliency_mask``) with what the masker's ablations and the
three fill strategies need. As there, every function works on a whole batch
on its device and draws its randomness from an optional ``torch.Generator``
on that device; every random tensor has the batch as its outermost axis, so
image ``b`` of a batched call uses the same random numbers as a call on
image ``b`` alone would, given those numbers.
"""
import math
from typing import Optional, Sequence, Tuple

import torch
from torch import Tensor
from torch.nn import functional as F

from .functional import (negative_counts, positive_counts, sample_cells)


def cell_rows(cells: Tensor) -> Tensor:
    """``(B, ..., U, V)`` -> ``(R, U * V)``: one row per image (and per
    channel, for channel-wise grids), image-major."""
    return cells.reshape(-1, cells.shape[-2] * cells.shape[-1])


def per_row(values: Tensor, shape: Sequence[int]) -> Tensor:
    """Repeat per-image ``values`` ``(B,)`` for every row of a grid of
    ``shape`` ``(B, ..., U, V)``, matching :func:`cell_rows`: ``(R,)``."""
    lead = tuple(shape[:-2])
    return values.reshape(-1, *([1] * (len(lead) - 1))).expand(
        lead).reshape(-1)


def uniform_cell_mask(shape: Sequence[int], ratio: Tensor,
                      negative: bool = False,
                      device: Optional[torch.device] = None,
                      generator: Optional[torch.Generator] = None) -> Tensor:
    """Masking without saliency (MSCN-like, Table 4's "Saliency ✗" rows):
    every cell is a candidate.

    A positive masks ``int(alpha N)`` cells (:func:`positive_counts` at
    ``gamma = 0``, where all masked cells fall in the one region); a
    negative ``round(beta N)`` (:func:`negative_counts` with every cell
    foreground).

    Args:
        shape (Sequence[int]): ``(B, ..., U, V)`` of the grid.
        ratio (Tensor): ``(B,)``, ``alpha`` or ``beta``.
        negative (bool): Hard negative (``round``) or positive (``int``).
        device: Where the mask lives (``ratio``'s device if not given).
        generator (torch.Generator, optional): On that device.

    Returns:
        Tensor: ``shape`` bool, ``True`` = masked.
    """
    device = ratio.device if device is None else device
    rows = per_row(ratio, shape)
    num_cells = shape[-2] * shape[-1]
    everything = torch.ones(rows.shape[0], num_cells, dtype=torch.bool,
                            device=device)
    if negative:
        counts = negative_counts(
            torch.full_like(rows, num_cells, dtype=torch.long), rows)
    else:
        _, counts = positive_counts(
            torch.zeros_like(rows, dtype=torch.long), num_cells, rows)
    return sample_cells(everything, counts, generator).reshape(shape)


def salient_only_mask(foreground: Tensor, ratio: Tensor,
                      generator: Optional[torch.Generator] = None) -> Tensor:
    """A positive that masks salient cells only (Table 4's "Mask non-salient
    ✗" rows): ``min(int(alpha N), num_fg)`` foreground cells, no background.

    Args:
        foreground (Tensor): ``(B, ..., U, V)`` bool.
        ratio (Tensor): ``(B,)`` ``alpha``.
        generator (torch.Generator, optional): On the mask's device.

    Returns:
        Tensor: ``foreground``'s shape, bool, ``True`` = masked.
    """
    fg = cell_rows(foreground)
    rows = per_row(ratio, foreground.shape)
    # int(alpha N): positive_counts' total, all of it "background" at gamma=0
    _, total = positive_counts(torch.zeros_like(fg[:, 0], dtype=torch.long),
                               fg.shape[1], rows)
    counts = torch.minimum(total, fg.sum(1))
    return sample_cells(fg, counts, generator).reshape(foreground.shape)


def cap_foreground_fraction(mask: Tensor, foreground: Tensor,
                            max_fraction: float,
                            generator: Optional[torch.Generator] = None
                            ) -> Tensor:
    """Cap the masked fraction of the foreground (MSCN-style high-pass
    masking, Sec. 3.2): at most ``floor(max_fraction * num_fg)`` foreground
    cells stay masked in each row (image, or image and channel); where more
    are masked, a uniformly random subset of that size is kept and the rest
    are unmasked. Background cells are untouched. ``floor`` because a cap is
    an upper bound on the fraction.

    Args:
        mask (Tensor): ``(B, ..., U, V)`` bool.
        foreground (Tensor): Same shape (expand a ``(B, U, V)`` grid first).
        max_fraction (float): The cap, in ``(0, 1]``.
        generator (torch.Generator, optional): On the mask's device.

    Returns:
        Tensor: The capped mask, ``mask``'s shape.
    """
    m, fg = cell_rows(mask), cell_rows(foreground)
    masked_fg = m & fg
    cap = torch.floor(max_fraction * fg.sum(1).double() + 1e-9).long()
    keep = sample_cells(masked_fg, torch.minimum(masked_fg.sum(1), cap),
                        generator)
    return ((m & ~fg) | keep).reshape(mask.shape)


def scaled_window(size: Tuple[int, int], fraction: float) -> Tuple[int, int]:
    """A focal window's ``(h, w)``: ``round(fraction * H) x round(fraction *
    W)``, at least 1 pixel (200 x 200 of 224 px for ``200 / 224``)."""
    return tuple(min(max(int(round(fraction * s)), 1), s) for s in size)


def window_mask(batch: int, size: Tuple[int, int], window: Tuple[int, int],
                device: Optional[torch.device] = None,
                generator: Optional[torch.Generator] = None) -> Tensor:
    """One axis-aligned window per image at a uniformly random position.

    Args:
        batch (int): ``B``.
        size (tuple): ``(H, W)`` of the images.
        window (tuple): ``(h, w)``, at most ``(H, W)``.
        device: Where the mask lives.
        generator (torch.Generator, optional): On that device.

    Returns:
        Tensor: ``(B, H, W)`` bool, ``True`` inside the window; its top-left
        corner is uniform over the ``(H - h + 1) x (W - w + 1)`` positions.
    """
    (h, w), (wh, ww) = size, window
    r = torch.rand(batch, 2, device=device, generator=generator)
    top = torch.floor(r[:, 0] * (h - wh + 1)).long().clamp(max=h - wh)
    left = torch.floor(r[:, 1] * (w - ww + 1)).long().clamp(max=w - ww)
    ys = torch.arange(h, device=device)
    xs = torch.arange(w, device=device)
    rows = (ys >= top[:, None]) & (ys < top[:, None] + wh)
    cols = (xs >= left[:, None]) & (xs < left[:, None] + ww)
    return rows[:, :, None] & cols[:, None, :]


def check_blur_fits(size: Tuple[int, int], kernel_size: int,
                    name: str, owner: str) -> None:
    """:func:`blur` pads by reflection, which needs ``kernel_size // 2
    < min(H, W)``; say so naming the argument instead of torch's padding
    error."""
    if kernel_size // 2 >= min(size):
        raise ValueError(
            f'{owner}: {name}={kernel_size} is too large for '
            f'{size[0]}x{size[1]} images (reflect padding of '
            f'{kernel_size // 2} pixels needs images larger than that); use '
            f'{name} <= {2 * min(size) - 1}')


def gaussian_kernel1d(kernel_size: int, sigma: float, dtype: torch.dtype,
                      device: torch.device) -> Tensor:
    """``(kernel_size,)`` normalised Gaussian weights at the integer offsets
    ``-(k - 1) / 2 .. (k - 1) / 2``, torchvision's ``gaussian_blur`` kernel
    along one axis (its 2-D kernel is the outer product of two of these)."""
    half = (kernel_size - 1) * 0.5
    x = torch.linspace(-half, half, kernel_size, dtype=dtype, device=device)
    pdf = torch.exp(-0.5 * (x / sigma)**2)
    return pdf / pdf.sum()


def blur(imgs: Tensor, kernel_size: int, sigma: float) -> Tensor:
    """Gaussian blur of a ``(B, C, H, W)`` batch: torchvision's
    ``gaussian_blur`` (a ``kernel_size x kernel_size`` kernel, std
    ``sigma``, reflect padding), computed as two 1-D depthwise convolutions,
    which the Gaussian allows: ``2k`` instead of ``k^2`` multiply-adds per
    pixel (31 px: 15x fewer), on any device and float dtype."""
    c = imgs.shape[1]
    k1d = gaussian_kernel1d(kernel_size, sigma, imgs.dtype, imgs.device)
    pad = kernel_size // 2
    x = F.pad(imgs, (pad, pad, pad, pad), mode='reflect')
    x = F.conv2d(x, k1d.view(1, 1, -1, 1).expand(c, 1, -1, 1), groups=c)
    return F.conv2d(x, k1d.view(1, 1, 1, -1).expand(c, 1, 1, -1), groups=c)


def high_pass(imgs: Tensor, kernel_size: int = 11,
              sigma: float = 5.0) -> Tensor:
    """MSCN's high-pass input ``x - GaussianBlur(x)`` (Sec. 3.2), on
    normalised ``(B, C, H, W)`` images."""
    return imgs - blur(imgs, kernel_size, sigma)


def check_unit_interval(value, name: str, owner: str,
                        open_low: bool = False,
                        open_high: bool = False) -> float:
    """Return ``value`` as a float if it is a real number in ``[0, 1]``
    (``(0, ...`` / ``..., 1)`` where ``open_low`` / ``open_high``), else a
    ``ValueError`` naming ``owner``, ``name`` and the value."""
    ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    if ok:
        v = float(value)
        ok = (math.isfinite(v) and (v > 0 if open_low else v >= 0)
              and (v < 1 if open_high else v <= 1))
    if not ok:
        interval = ('(' if open_low else '[') + '0, 1' + (
            ')' if open_high else ']')
        raise ValueError(f'{owner}: {name}={value!r}; expected a number in '
                         f'{interval}')
    return float(value)


def check_positive(value, name: str, owner: str) -> float:
    """Return ``value`` as a float if it is a finite real number > 0."""
    if (isinstance(value, (int, float)) and not isinstance(value, bool)
            and math.isfinite(value) and value > 0):
        return float(value)
    raise ValueError(f'{owner}: {name}={value!r}; expected a number > 0')


def check_odd_kernel(value, name: str, owner: str) -> int:
    """Return ``value`` if it is a positive odd int (a blur kernel size)."""
    if (isinstance(value, int) and not isinstance(value, bool) and value > 0
            and value % 2 == 1):
        return value
    raise ValueError(f'{owner}: {name}={value!r}; expected a positive odd '
                     'int (a Gaussian kernel size)')
