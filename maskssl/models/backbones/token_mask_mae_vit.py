"""MAE's encoder with its mask given from outside (a token masker), and the
no-grad attention pass that guides the masker (EHM Sec. V-E)."""
from typing import List, Optional, Tuple, Union

import torch
from mmpretrain.models import MAEViT, VisionTransformer
from mmpretrain.registry import MODELS
from torch import Tensor

from ..utils.attention import encoder_attention
from ..utils.token_masking import check_patch_mask, embed_patches


def keep_visible(tokens: Tensor,
                 mask: Tensor) -> Tuple[Tensor, Tensor, Tensor]:
    """MAE's token dropping for a given mask: the visible tokens and the
    indices that restore the raster order (``MAEViT.random_masking``'s
    outputs, with the mask given instead of drawn).

    Args:
        tokens (Tensor): ``(B, N, C)`` patch tokens, position embedding
            added.
        mask (Tensor): bool ``(B, N)``, True = masked, the same count in
            every row.

    Returns:
        tuple[Tensor, Tensor, Tensor]: the visible tokens ``(B, N_vis, C)``
        in raster order, the mask as MAE's float ``(B, N)`` (1 = masked)
        and ``ids_restore`` ``(B, N)``: visible tokens followed by ``N -
        N_vis`` mask tokens, gathered with it, are back in raster order.

    Raises:
        ValueError: if the rows mask different numbers of tokens.
    """
    counts = mask.sum(1)
    if bool((counts != counts[0]).any()):
        raise ValueError(
            'MAE drops the masked tokens, so every image must mask the same '
            f'number of them; got {sorted(set(counts.tolist()))}')
    num_visible = mask.shape[1] - int(counts[0])
    # stable: visible tokens first, each group in raster order
    ids_shuffle = torch.argsort(mask.to(torch.int8), dim=1, stable=True)
    ids_restore = torch.argsort(ids_shuffle, dim=1)
    ids_keep = ids_shuffle[:, :num_visible]
    visible = torch.gather(
        tokens, 1, ids_keep.unsqueeze(-1).expand(-1, -1, tokens.shape[-1]))
    return visible, mask.to(tokens.dtype), ids_restore


@MODELS.register_module()
class TokenMaskMAEViT(MAEViT):
    """mmpretrain's ``MAEViT`` that takes a bool token mask from a token
    masker (``maskssl.models.maskers``) and gives the masker its guidance.

    The training forward is split in two so that the patch embedding is
    computed once and shared by the attention pass and the masked forward
    (EHM Sec. V-E):

    - :meth:`embed`: patch tokens with the position embedding ``(B, N, C)``;
    - :meth:`attention`: a no-grad, eval-mode pass of all ``N`` patch tokens
      (and the class token) through the first blocks, returning each
      block's attention weights;
    - :meth:`forward_masked`: MAE's encoder on the visible tokens.

    ``forward(x, mask)`` keeps ``MAEViT``'s behaviour for ``mask`` ``None``
    or ``False`` (plain ViT features, the default here) and ``True`` (MAE's
    own random mask) and takes a bool ``(B, N)`` tensor as the mask to
    use. The weights are ``MAEViT``'s and load into it (and into
    ``VisionTransformer``) as they are.
    """

    def embed(self, x: Tensor) -> Tuple[Tensor, Tuple[int, int]]:
        """``(B, 3, H, W)`` images -> patch tokens ``(B, N, C)`` with the
        position embedding added, and the patch grid ``(h, w)``."""
        tokens, grid = embed_patches(self, x, 'MAE')
        return tokens + self.pos_embed[:, 1:, :], grid

    def prepend_cls_token(self, tokens: Tensor) -> Tensor:
        """``(B, N, C)`` -> ``(B, 1 + N, C)``: the class token (with its
        position embedding) first."""
        cls_token = self.cls_token + self.pos_embed[:, :1, :]
        return torch.cat((cls_token.expand(tokens.shape[0], -1, -1), tokens),
                         dim=1)

    def attention(self, tokens: Tensor, num_layers: int) -> List[Tensor]:
        """The attention weights ``(B, heads, 1 + N, 1 + N)`` of the first
        ``num_layers`` blocks over all patch tokens and the class token, from
        :meth:`embed`'s ``tokens`` (detached), without gradient or random
        draws, the blocks' train/eval mode restored."""
        return encoder_attention(self.layers,
                                 self.prepend_cls_token(tokens.detach()),
                                 num_layers)

    def forward_masked(self, tokens: Tensor,
                       mask: Tensor) -> Tuple[Tensor, Tensor, Tensor]:
        """MAE's encoder on the tokens ``mask`` leaves visible.

        Args:
            tokens (Tensor): ``(B, N, C)`` from :meth:`embed`.
            mask (Tensor): bool ``(B, N)``, True = masked, the same count in
                every row.

        Returns:
            tuple[Tensor, Tensor, Tensor]: as ``MAEViT.forward``: the latent
            ``(B, 1 + N_vis, C)``, the float mask ``(B, N)`` and
            ``ids_restore`` ``(B, N)``.
        """
        check_patch_mask(mask, tokens.shape[0], self.patch_resolution,
                         type(self).__name__)
        visible, mask, ids_restore = keep_visible(tokens, mask)
        x = self.prepend_cls_token(visible)
        for layer in self.layers:
            x = layer(x)
        return self.norm1(x), mask, ids_restore

    def forward(self,
                x: Tensor,
                mask: Optional[Union[bool, Tensor]] = None
                ) -> Union[Tuple[Tensor, ...], Tuple[Tensor, Tensor, Tensor]]:
        """``mask`` ``None`` or ``False``: ``VisionTransformer``'s features;
        ``True``: ``MAEViT``'s random masking; a bool ``(B, N)`` tensor:
        that mask (:meth:`forward_masked`).

        The default is ``None`` (``MAEViT``'s is ``True``): training goes
        through :meth:`embed` and :meth:`forward_masked`, so a plain
        ``backbone(x)`` (kNN, feature extraction) gets the features."""
        if mask is None or mask is False:
            return VisionTransformer.forward(self, x)
        if mask is True:
            return super().forward(x, mask=True)
        return self.forward_masked(self.embed(x)[0], mask)
