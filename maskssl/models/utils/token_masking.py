"""Token masks applied inside a ViT: embedding the patches on the grid the
masks are made for, checking a bool patch mask and replacing masked patch
embeddings by a learnable ``[MASK]`` embedding."""
from typing import Sequence, Tuple

import torch
from mmengine.model.weight_init import trunc_normal_
from torch import Tensor, nn


class MaskTokenMixin:
    """A learnable ``[MASK]`` embedding for a backbone that takes ``mask=``.

    Mixed in before an mmpretrain backbone class (``class
    B(MaskTokenMixin, VisionTransformer)``): :meth:`add_mask_token` creates
    ``mask_token`` ``(1, 1, C)``, zeros, and :meth:`init_weights` draws it from
    a truncated normal of std 0.02 after the parent's init unless the
    backbone loads a ``Pretrained`` checkpoint, as mmpretrain's SimMIM and
    BEiT backbones initialise theirs.
    """

    def add_mask_token(self, embed_dims: int, frozen: bool) -> None:
        """Create ``mask_token`` ``(1, 1, embed_dims)``; ``frozen`` (the
        patch embedding it stands in for is frozen): no gradient."""
        self.mask_token = nn.Parameter(torch.zeros(1, 1, embed_dims))
        if frozen:
            self.mask_token.requires_grad = False

    def init_weights(self) -> None:
        super().init_weights()
        if not (isinstance(self.init_cfg, dict)
                and self.init_cfg['type'] == 'Pretrained'):
            trunc_normal_(self.mask_token, std=0.02)


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


def embed_patches(backbone: nn.Module, x: Tensor, task: str,
                  why: str = '') -> Tuple[Tensor, Tuple[int, int]]:
    """``backbone.patch_embed`` of ``(B, 3, H, W)`` images: the patch
    embeddings ``(B, N, C)`` and the patch grid ``(h, w)``, which must be
    the ``patch_resolution`` the backbone was built for (the grid of its
    position embedding, its masker's tree, ...).

    Args:
        backbone (nn.Module): an mmpretrain ViT/BEiT/Swin backbone.
        x (Tensor): the images.
        task (str): the pre-training, for the message (e.g. ``'MAE'``).
        why (str): appended to the message, e.g. what else fixes the grid.

    Raises:
        ValueError: naming the input size, its grid and the expected one.
    """
    tokens, grid = backbone.patch_embed(x)
    if tuple(grid) != tuple(backbone.patch_resolution):
        raise ValueError(
            f'{type(backbone).__name__}: a {tuple(x.shape[-2:])} input makes '
            f'a {tuple(grid)} patch grid; {task} pre-training expects the '
            f"config's img_size, a {tuple(backbone.patch_resolution)} grid"
            f'{why}')
    return tokens, tuple(grid)
