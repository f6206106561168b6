"""Token masks applied inside a ViT: checking a bool patch mask and
replacing masked patch embeddings by a learnable ``[MASK]`` embedding."""
from typing import Sequence

import torch
from torch import Tensor


def check_patch_mask(mask: Tensor, batch_size: int, grid: Sequence[int],
                     owner: str = '') -> None:
    """Raise unless ``mask`` is a bool ``(B, h * w)`` patch-token mask.

    Args:
        mask (Tensor): the mask to check; True = masked.
        batch_size (int): ``B``, images in the batch.
        grid (Sequence[int]): ``(h, w)``, the patch grid of the batch.
        owner (str): who takes the mask, to start the message with.

    Raises:
        ValueError: naming the expected shape ``(B, h*w)`` and what came.
    """
    h, w = grid
    expected = (batch_size, h * w)
    if (not isinstance(mask, Tensor) or mask.dtype != torch.bool
            or tuple(mask.shape) != expected):
        got = (f'{mask.dtype} {tuple(mask.shape)}' if isinstance(
            mask, Tensor) else type(mask).__name__)
        prefix = f'{owner}: ' if owner else ''
        raise ValueError(
            f'{prefix}mask is {got}; expected a bool tensor of shape '
            f'(B, h*w) = {expected} for a {h}x{w} patch grid, True = masked')


def replace_masked_tokens(tokens: Tensor, mask: Tensor,
                          mask_token: Tensor) -> Tensor:
    """MST Eq. 6: masked patch embeddings become the ``[MASK]`` embedding.

    Args:
        tokens (Tensor): ``(B, N, C)`` patch embeddings ``e``, before the
            position embedding is added (as in BEiT).
        mask (Tensor): bool ``(B, N)``, True = masked (``m_i = 1``).
        mask_token (Tensor): ``(1, 1, C)`` learnable ``[MASK]`` embedding.

    Returns:
        Tensor: ``(B, N, C)``, ``mask_token`` where ``mask``, else ``tokens``.
    """
    return torch.where(mask.unsqueeze(-1), mask_token.to(tokens.dtype),
                       tokens)
