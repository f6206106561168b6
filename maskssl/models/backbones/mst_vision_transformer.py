"""The MST backbone (Sec. 3.2): a ViT that takes a token mask and returns the
last block's self-attention from the same forward pass."""
import math
from typing import Optional, Tuple, Union

import torch
from mmpretrain.models import VisionTransformer
from mmpretrain.models.utils import resize_pos_embed
from mmpretrain.registry import MODELS
from torch import Tensor

from ..utils.attention import (class_attention, encoder_layer_with_attention,
                               patch_attention)
from ..utils.token_masking import (MaskTokenMixin, check_patch_mask,
                                    replace_masked_tokens)

ATTENTION_KINDS = ('cls', 'patch')


@MODELS.register_module()
class MSTVisionTransformer(MaskTokenMixin, VisionTransformer):
    """mmpretrain's ``VisionTransformer`` with MST's token mask and attention
    output (Sec. 3.2); MST's DeiT-S/16 is ``arch='deit-small'``,
    ``patch_size=16`` (ViT-S/16 with a class token).

    - ``mask``: the student's masked patch embeddings are replaced by a
      learnable ``[MASK]`` embedding (Eq. 6) before the position embedding
      is added, as BEiT does; the class token is never masked.
    - ``return_attention``: the teacher's guidance, the last block's
      attention (Eq. 4), computed inside the same forward pass.

    The parameters are the parent's plus ``mask_token`` ``(1, 1, C)``
    (truncated normal, std 0.02, as BEiT's and SimMIM's), so the
    ``backbone.*`` weights of a checkpoint, ``mask_token`` left out, load
    strictly into a plain ``VisionTransformer`` of the same arch. Inputs of
    other sizes (local crops) interpolate the position embedding as the
    parent does; masks and attention then follow that input's grid.

    Args:
        **kwargs: ``VisionTransformer`` arguments.
    """

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.add_mask_token(self.embed_dims, frozen=self.frozen_stages > 0)

    def token_grid(self, imgs: Tensor) -> Tuple[int, int]:
        """The ``(h, w)`` patch grid of ``(B, 3, H, W)`` images, which masks
        cover (the patch embedding pads a last partial patch)."""
        stride = self.patch_embed.projection.stride
        return (math.ceil(imgs.shape[2] / stride[0]),
                math.ceil(imgs.shape[3] / stride[1]))

    def get_layer_depth(self, param_name: str,
                        prefix: str = '') -> Tuple[int, int]:
        """The parent's layer depths, with ``mask_token`` in the stem (depth
        0), beside the patch embedding it replaces."""
        if param_name == prefix + 'mask_token':
            return 0, self.num_layers + 2
        return super().get_layer_depth(param_name, prefix)

    def _attention_kind(self,
                        return_attention: Union[bool, str]) -> Optional[str]:
        name = type(self).__name__
        if return_attention is False:
            return None
        kind = 'cls' if return_attention is True else return_attention
        if not isinstance(kind, str) or kind not in ATTENTION_KINDS:
            raise ValueError(
                f'{name}: return_attention={return_attention!r}; expected '
                "False, True (= 'cls') or 'patch'")
        if kind == 'cls' and self.cls_token is None:
            raise ValueError(
                f"{name}: return_attention={return_attention!r} needs the "
                'class token; set with_cls_token=True')
        return kind

    def forward(
        self,
        x: Tensor,
        mask: Optional[Tensor] = None,
        return_attention: Union[bool, str] = False
    ) -> Union[Tuple[Tensor, ...], Tuple[Tuple[Tensor, ...], Tensor]]:
        """Encode a batch of images, optionally masked.

        Args:
            x (Tensor): ``(B, 3, H, W)`` images; the patch grid is
                ``(h, w) = (H / p, W / p)``, ``N = h * w``.
            mask (Tensor, optional): bool ``(B, N)`` over the patch tokens in
                raster order, True = masked (mmpretrain's
                ``data_sample.mask``). ``None``: the parent's forward.
            return_attention (bool or str): what of the last block's
                attention (softmax over all tokens, averaged over heads) to
                return as well:

                - ``False``: nothing (the parent's output alone);
                - ``True`` or ``'cls'``: the class token's attention to the
                  patch tokens, ``(B, N)`` (Eq. 4, the teacher's guidance of
                  the attention-guided masker);
                - ``'patch'``: the patch-to-patch attention ``(B, N, N)``,
                  query rows, key columns (a token similarity).

                Not detached: run the teacher under ``torch.no_grad()``.

        Returns:
            The parent's tuple of ``out_indices`` outputs, ``outs``; with
            ``return_attention``, ``(outs, attention)``.
        """
        outs, _, attention = self._encode(x, mask, return_attention)
        if attention is None:
            return outs
        return outs, attention

    def forward_tokens(
            self,
            x: Tensor,
            mask: Optional[Tensor] = None,
            return_attention: Union[bool, str] = False
    ) -> Tuple[Tensor, Optional[Tensor]]:
        """The last block's whole token sequence, whatever ``out_type``.

        MST needs the class token (for the projection head) and the patch
        tokens (for the global image decoder) of one pass, while the
        config's ``out_type='cls_token'`` keeps :meth:`forward` the one the
        downstream and kNN configs use.

        Args: as :meth:`forward`.

        Returns:
            tuple: ``(B, L, C)`` tokens after the final norm, the
            ``num_extra_tokens`` extra tokens (the class token) first, then
            the ``N`` patch tokens in raster order; and the attention asked
            for by ``return_attention`` (``None`` when ``False``).
        """
        _, tokens, attention = self._encode(x, mask, return_attention)
        return tokens, attention

    def _encode(
        self, x: Tensor, mask: Optional[Tensor],
        return_attention: Union[bool, str]
    ) -> Tuple[Tuple[Tensor, ...], Tensor, Optional[Tensor]]:
        """The ``out_indices`` outputs, the last block's tokens (after the
        final norm) and the requested attention (or ``None``)."""
        kind = self._attention_kind(return_attention)
        batch_size = x.shape[0]
        x, patch_resolution = self.patch_embed(x)
        if mask is not None:
            check_patch_mask(mask, batch_size, patch_resolution,
                             type(self).__name__)
            x = replace_masked_tokens(x, mask, self.mask_token)

        if self.cls_token is not None:
            x = torch.cat((self.cls_token.expand(batch_size, -1, -1), x),
                          dim=1)
        x = x + resize_pos_embed(
            self.pos_embed,
            self.patch_resolution,
            patch_resolution,
            mode=self.interpolate_mode,
            num_extra_tokens=self.num_extra_tokens)
        x = self.pre_norm(self.drop_after_pos(x))

        last = len(self.layers) - 1
        outs = []
        attention = None
        for i, layer in enumerate(self.layers):
            if i == last and kind is not None:
                x, weights = encoder_layer_with_attention(layer, x)
                attention = (class_attention if kind == 'cls' else
                             patch_attention)(weights, self.num_extra_tokens)
            else:
                x = layer(x)
            if i == last and self.final_norm:
                x = self.ln1(x)
            if i in self.out_indices:
                outs.append(self._format_output(x, patch_resolution))
        return tuple(outs), x, attention
