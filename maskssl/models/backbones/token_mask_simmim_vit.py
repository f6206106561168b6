"""SimMIM's ViT with its mask given from outside (a token masker), and the
no-grad attention pass that guides the masker (EHM Sec. V-E)."""
from typing import List, Optional, Sequence, Tuple

import torch
from mmpretrain.registry import MODELS
from torch import Tensor

from maskssl.utils.arg_checks import check_int
from ..utils.attention import attention_guidance, encoder_attention
from ..utils.token_masking import (check_patch_mask, embed_patches,
                                   replace_masked_tokens)
from .mst_vision_transformer import MSTVisionTransformer


def mask_patch_layout(token_grid: Sequence[int], patch_size: int,
                      mask_patch_size: Optional[int],
                      owner: str) -> Tuple[Tuple[int, int], int]:
    """The grid of SimMIM's mask patches over a token grid.

    SimMIM masks square "mask patches" of ``mask_patch_size`` pixels, each
    covering ``scale x scale`` tokens of ``patch_size`` pixels (mmpretrain's
    ``SimMIMMaskGenerator``: ``mask_patch_size`` 32, ``model_patch_size``
    4 for Swin, i.e. ``scale`` 8).

    Args:
        token_grid (Sequence[int]): ``(h, w)``, the backbone's token grid.
        patch_size (int): pixels per token side.
        mask_patch_size (int, optional): pixels per mask patch side, a
            multiple of ``patch_size`` that tiles the grid; ``None``: one
            token per mask patch.
        owner (str): who asks, to start error messages with.

    Returns:
        tuple: the mask-patch grid ``(h / scale, w / scale)`` and ``scale``.

    Raises:
        ValueError: naming ``mask_patch_size`` if it is not a positive
            multiple of ``patch_size`` or does not tile the token grid.
    """
    if mask_patch_size is None:
        mask_patch_size = patch_size
    mask_patch_size = check_int(mask_patch_size, 'mask_patch_size', 1, owner)
    h, w = token_grid
    scale = mask_patch_size // patch_size
    if mask_patch_size % patch_size or h % scale or w % scale:
        raise ValueError(
            f'{owner}: mask_patch_size={mask_patch_size}; expected a multiple '
            f'of the {patch_size}-px token patch whose mask patches tile the '
            f'{h}x{w} token grid ({h * patch_size}x{w * patch_size} px)')
    return (h // scale, w // scale), scale


def pool_token_guidance(guidance: Tensor, grid: Sequence[int],
                        scale: int) -> Tensor:
    """Token guidance averaged onto mask patches of ``scale x scale`` tokens.

    A similarity between two mask patches is the mean of the similarities
    between their tokens, EHM Eq. 7's average over descendant leaves (a
    mask patch is the internal node over its tokens); an importance is the
    mean over the patch's tokens.

    Args:
        guidance (Tensor): ``(B, N)`` importance or ``(B, N, N)``
            similarity over the ``N = h * w`` tokens in raster order.
        grid (Sequence[int]): ``(h, w)``, the token grid; both divisible by
            ``scale``.
        scale (int): tokens per mask-patch side.

    Returns:
        Tensor: ``(B, M)`` or ``(B, M, M)``, ``M = (h / scale) * (w /
        scale)`` mask patches in raster order; ``guidance`` itself when
        ``scale`` is 1.
    """
    if scale == 1:
        return guidance
    h, w = grid
    gh, gw = h // scale, w // scale
    batch = guidance.shape[0]
    # token (r, c) with r = R * scale + a, c = C * scale + b sits at
    # (R, a, C, b) of a (gh, scale, gw, scale) view of its raster index
    cell = (gh, scale, gw, scale)
    if guidance.dim() == 2:
        return guidance.reshape(batch, *cell).mean((2, 4)).reshape(batch, -1)
    pooled = guidance.reshape(batch, *cell, *cell).mean((2, 4, 6, 8))
    return pooled.reshape(batch, gh * gw, gh * gw)


@MODELS.register_module()
class TokenMaskSimMIMViT(MSTVisionTransformer):
    """A ViT for SimMIM whose bool token mask comes from a token masker
    (``maskssl.models.maskers``), and which gives the masker its guidance.

    As the official SimMIM's ``VisionTransformerForSimMIM``, the masked
    patch embeddings are replaced by a learnable ``mask_token`` before the
    position embedding is added (:class:`MSTVisionTransformer`'s mask), and
    the output is the patch tokens as a ``(B, C, h, w)`` feature map
    (``out_type='featmap'``) for ``SimMIMLinearDecoder`` (encoder stride =
    the patch size). The training step is split so that the patch
    embedding is computed once and shared by the guidance pass and the
    masked forward (EHM Sec. V-E):

    - :meth:`embed`: the patch embeddings ``(B, N, C)``, before the
      position embedding;
    - :meth:`attention` / :meth:`mask_guidance`: a no-grad, eval-mode pass
      of all tokens through the first blocks, the masker's guidance from
      its attention (EHM Eq. 6), averaged onto the mask patches;
    - :meth:`forward_masked`: the encoder on the masked embeddings.

    The masker works on the grid of ``mask_patch_size`` pixel mask patches
    (:func:`mask_patch_layout`); ``None`` (the default) makes every token a
    mask patch, EHM's tree over the ``N`` 16-px patches of a ViT (Sec. IV-A:
    ``N`` "typically 196"); 32 is SimMIM's own mask granularity.

    Pre-training runs at ``img_size`` (the grid is checked); the weights are
    ``VisionTransformer``'s plus ``mask_token`` and load into it (without
    ``mask_token``) as they are.

    Args:
        mask_patch_size (int, optional): pixels per mask-patch side.
            Defaults to None (the patch size).
        out_type (str): as ``VisionTransformer``. Defaults to
            ``'featmap'`` (SimMIM's decoder input).
        **kwargs: ``VisionTransformer`` arguments.
    """

    def __init__(self,
                 mask_patch_size: Optional[int] = None,
                 out_type: str = 'featmap',
                 **kwargs) -> None:
        super().__init__(out_type=out_type, **kwargs)
        self.mask_grid, self.mask_scale = mask_patch_layout(
            self.patch_resolution, self.patch_embed.projection.stride[0],
            mask_patch_size, type(self).__name__)

    def embed(self, x: Tensor) -> Tuple[Tensor, Tuple[int, int]]:
        """``(B, 3, H, W)`` images -> patch embeddings ``(B, N, C)`` (no
        position embedding yet: masked ones are replaced first) and the
        patch grid ``(h, w)``."""
        return embed_patches(self, x, 'SimMIM')

    def with_position(self, tokens: Tensor) -> Tensor:
        """``(B, N, C)`` patch embeddings -> ``(B, num_extra_tokens + N, C)``:
        the class token (if any) first, the position embedding added."""
        if self.cls_token is not None:
            tokens = torch.cat(
                (self.cls_token.expand(tokens.shape[0], -1, -1), tokens),
                dim=1)
        return tokens + self.pos_embed

    def attention(self, tokens: Tensor, num_layers: int) -> List[Tensor]:
        """The attention weights ``(B, heads, L, L)``, ``L =
        num_extra_tokens + N``, of the first ``num_layers`` blocks over all
        tokens (none masked), from :meth:`embed`'s ``tokens`` (detached),
        without gradient or random draws, the blocks' train/eval mode
        restored (:func:`encoder_attention`)."""
        with torch.no_grad():
            x = self.pre_norm(self.with_position(tokens.detach()))
        return encoder_attention(self.layers, x, num_layers)

    def mask_guidance(self, tokens: Tensor, num_layers: int,
                      kind: str) -> Tensor:
        """A masker's guidance on the mask-patch grid: the attention of the
        first ``num_layers`` blocks averaged over heads and blocks (EHM Eq.
        6, :func:`attention_guidance`), then over each mask patch's tokens
        (:func:`pool_token_guidance`).

        Args:
            tokens (Tensor): ``(B, N, C)`` from :meth:`embed`.
            num_layers (int): the first blocks to run.
            kind (str): ``'similarity'`` -> ``(B, M, M)``; ``'importance'``
                (the class token's attention) -> ``(B, M)``.
        """
        guidance = attention_guidance(self.attention(tokens, num_layers),
                                      kind, self.num_extra_tokens)
        return pool_token_guidance(guidance, self.patch_resolution,
                                   self.mask_scale)

    def forward_masked(self, tokens: Tensor, mask: Tensor) -> Tuple[Tensor]:
        """The encoder on ``tokens`` with the masked ones replaced by
        ``mask_token`` before the position embedding (SimMIM).

        Args:
            tokens (Tensor): ``(B, N, C)`` from :meth:`embed`.
            mask (Tensor): bool ``(B, N)`` over the tokens, True = masked.

        Returns:
            tuple[Tensor]: the ``out_indices`` outputs as ``forward``'s;
            with ``out_type='featmap'``, ``(B, C, h, w)`` each.
        """
        check_patch_mask(mask, tokens.shape[0], self.patch_resolution,
                         type(self).__name__)
        x = replace_masked_tokens(tokens, mask, self.mask_token)
        x = self.pre_norm(self.drop_after_pos(self.with_position(x)))
        outs = []
        last = len(self.layers) - 1
        for i, layer in enumerate(self.layers):
            x = layer(x)
            if i == last and self.final_norm:
                x = self.ln1(x)
            if i in self.out_indices:
                outs.append(self._format_output(x, self.patch_resolution))
        return tuple(outs)
