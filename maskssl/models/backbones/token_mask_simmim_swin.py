"""SimMIM's Swin Transformer with its mask given from outside (a token
masker on SimMIM's mask-patch grid), and the no-grad feature pass that
guides the masker."""
from typing import Tuple

import torch.nn as nn
import torch.nn.functional as F
from mmpretrain.models.selfsup.simmim import SimMIMSwinTransformer
from mmpretrain.registry import MODELS
from torch import Tensor

from ..utils.attention import inference_pass
from ..utils.token_masking import (check_patch_mask, embed_patches,
                                   replace_masked_tokens)
from .token_mask_simmim_vit import mask_patch_layout


def cosine_similarity_map(features: Tensor) -> Tensor:
    """Cosine similarity between every pair of positions of a feature map.

    Args:
        features (Tensor): ``(B, C, h, w)``.

    Returns:
        Tensor: ``(B, M, M)``, ``M = h * w`` positions in raster order;
        ``[b, i, j] = <f_i, f_j> / (|f_i| |f_j|)`` (0 for a zero vector).
    """
    flat = F.normalize(features.flatten(2).transpose(1, 2), dim=-1)
    return flat @ flat.transpose(1, 2)


@MODELS.register_module()
class TokenMaskSimMIMSwin(SimMIMSwinTransformer):
    """mmpretrain's ``SimMIMSwinTransformer`` whose bool token mask comes
    from a token masker (``maskssl.models.maskers``) run on SimMIM's
    mask-patch grid, and which gives the masker its guidance.

    The masker cannot run on the token grid: a 192-px image makes 48 x 48
    tokens of 4 px, and a tree over 2304 leaves costs too much. It works,
    as SimMIM's ``MaskGenerator`` does, on ``mask_patch_size`` pixel mask
    patches (6 x 6 of 32 px at 192 px, :attr:`mask_grid`); the host
    upsamples its mask to the tokens (each mask patch covers
    :attr:`mask_scale` ``x`` :attr:`mask_scale` tokens).

    Guidance. Swin's blocks attend only within windows, so there is no
    patch-to-patch attention over the image; EHM is silent on Swin's
    guidance (it reports SimMIM-Swin results, Table VIII, without saying how
    the similarity is taken). Here, our choice: ``'similarity'`` is the
    cosine similarity ``(B, M, M)`` between the mask patches of the
    features after the first ``num_layers`` Swin blocks (counted across
    stages, the patch merging between stages applied), average-pooled onto
    the mask-patch grid, from a no-grad, eval-mode pass of all tokens (none
    masked) of the shared patch embedding (EHM Sec. V-E). ``'importance'``
    is refused: Swin has no class token whose attention would score the
    patches.

    The training step (EHM Sec. V-E: the embedding is shared):

    - :meth:`embed`: the patch embeddings ``(B, N, C)`` before the absolute
      position embedding (if any);
    - :meth:`mask_guidance`: the masker's guidance, see above;
    - :meth:`forward_masked`: SimMIM's masked forward (masked embeddings
      replaced by ``mask_token``) from those embeddings.

    ``forward(x, mask)`` stays ``SimMIMSwinTransformer``'s, and the weights
    are its own (they load into ``SwinTransformer`` without
    ``mask_token``). Pre-training runs at ``img_size`` (the grid is
    checked).

    Args:
        mask_patch_size (int): pixels per mask-patch side, a multiple of the
            patch size that tiles the token grid. Defaults to 32 (SimMIM's).
        **kwargs: ``SimMIMSwinTransformer`` arguments.
    """

    def __init__(self, mask_patch_size: int = 32, **kwargs) -> None:
        super().__init__(**kwargs)
        self.mask_grid, self.mask_scale = mask_patch_layout(
            self.patch_resolution, self.patch_embed.projection.stride[0],
            mask_patch_size, type(self).__name__)

    @property
    def layers(self) -> Tuple[nn.Module, ...]:
        """The Swin blocks of all stages in order (what
        ``attention_layers`` counts)."""
        return tuple(block for stage in self.stages for block in stage.blocks)

    def embed(self, x: Tensor) -> Tuple[Tensor, Tuple[int, int]]:
        """``(B, 3, H, W)`` images -> patch embeddings ``(B, N, C)`` (no
        position embedding yet: masked ones are replaced first) and the
        token grid ``(h, w)``."""
        return embed_patches(self, x, 'SimMIM')

    def with_position(self, tokens: Tensor) -> Tensor:
        """The absolute position embedding added, if the model has one."""
        if self.use_abs_pos_embed:
            return tokens + self.absolute_pos_embed
        return tokens

    def block_features(self, tokens: Tensor, num_layers: int) -> Tensor:
        """The features ``(B, C_s, h_s, w_s)`` after the first
        ``num_layers`` blocks (of stage ``s``, the patch merging of the
        stages before applied), from :meth:`embed`'s ``tokens``.

        Raises:
            ValueError: unless ``1 <= num_layers <=`` the blocks.
        """
        total = len(self.layers)
        if not 1 <= num_layers <= total:
            raise ValueError(
                f'{type(self).__name__}: attention_layers={num_layers}; '
                f"expected 1 to the backbone's {total} blocks")
        x = self.drop_after_pos(self.with_position(tokens))
        hw = tuple(self.patch_resolution)
        left = num_layers
        for stage in self.stages:
            for block in stage.blocks[:left]:
                x = block(x, hw)
            left -= len(stage.blocks)
            if left <= 0:
                break
            x, hw = stage.downsample(x, hw)
        return x.transpose(1, 2).reshape(x.shape[0], -1, *hw)

    def mask_guidance(self, tokens: Tensor, num_layers: int,
                      kind: str) -> Tensor:
        """The masker's ``'similarity'`` guidance on the mask-patch grid.

        The features after the first ``num_layers`` blocks
        (:meth:`block_features`) of all tokens, average-pooled onto the
        :attr:`mask_grid` (``adaptive_avg_pool2d``: exact cells where the
        stage's grid is a multiple of it, each cell repeated where the
        stage is coarser), then their cosine similarity
        (:func:`cosine_similarity_map`); without gradient or random draws,
        the model's train/eval mode restored (:func:`inference_pass`).

        Args:
            tokens (Tensor): ``(B, N, C)`` from :meth:`embed` (detached).
            num_layers (int): the first blocks to run.
            kind (str): ``'similarity'``.

        Returns:
            Tensor: ``(B, M, M)``, ``M`` mask patches in raster order.

        Raises:
            ValueError: for ``'importance'`` (no class token) or another
                kind.
        """
        if kind != 'similarity':
            raise ValueError(
                f'{type(self).__name__}: a masker guided by {kind!r} cannot '
                f"run on Swin: only 'similarity' guidance (feature cosine "
                f'similarity) is available; Swin has no class token whose '
                f'attention would give an importance')
        with inference_pass([self]):
            features = self.block_features(tokens.detach(), num_layers)
            pooled = F.adaptive_avg_pool2d(features, self.mask_grid)
            return cosine_similarity_map(pooled)

    def forward_masked(self, tokens: Tensor,
                       mask: Tensor) -> Tuple[Tensor, ...]:
        """SimMIM's masked forward from :meth:`embed`'s ``tokens``.

        Args:
            tokens (Tensor): ``(B, N, C)`` patch embeddings.
            mask (Tensor): bool ``(B, N)`` over the tokens, True = masked
                (the masker's mask upsampled to the tokens).

        Returns:
            tuple[Tensor]: per ``out_indices`` stage, its normed feature map
            ``(B, C_i, h_i, w_i)``, as ``SimMIMSwinTransformer.forward``.
        """
        check_patch_mask(mask, tokens.shape[0], self.patch_resolution,
                         type(self).__name__)
        x = replace_masked_tokens(tokens, mask, self.mask_token)
        x = self.drop_after_pos(self.with_position(x))
        hw = tuple(self.patch_resolution)
        outs = []
        for i, stage in enumerate(self.stages):
            x, hw = stage(x, hw, do_downsample=False)
            if i in self.out_indices:
                out = getattr(self, f'norm{i}')(x)
                outs.append(
                    out.transpose(1, 2).reshape(out.shape[0], -1, *hw))
            if stage.downsample is not None:
                x, hw = stage.downsample(x, hw)
        return tuple(outs)
