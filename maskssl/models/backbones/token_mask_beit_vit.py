"""BEiT's pre-training ViT with its mask given from outside (a token masker),
and the no-grad attention pass that guides the masker (EHM Sec. V-E)."""
from functools import partial
from typing import List, Optional, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmpretrain.models import BEiTPretrainViT
from mmpretrain.registry import MODELS
from torch import Tensor

from ..utils.attention import encoder_attention
from ..utils.token_masking import (check_patch_mask, embed_patches,
                                   replace_masked_tokens)


def beit_layer_position_bias(attn: nn.Module) -> Optional[Tensor]:
    """A ``BEiTAttention``'s own relative position bias ``(heads, L, L)``,
    ``L = 1 + Wh * Ww`` (its table gathered by its index, as
    ``BEiTAttention.forward`` does), or ``None`` when the layer has none
    (BEiT v1 pre-training shares one bias across layers instead)."""
    if attn.relative_position_bias_table is None:
        return None
    length = attn.window_size[0] * attn.window_size[1] + 1
    bias = attn.relative_position_bias_table[
        attn.relative_position_index.view(-1)].view(length, length, -1)
    return bias.permute(2, 0, 1)


def beit_attention_with_weights(
        attn: nn.Module, x: Tensor,
        rel_pos_bias: Optional[Tensor]) -> Tuple[Tensor, Tensor]:
    """Run mmpretrain's ``BEiTAttention`` and keep its attention map.

    The same operations as ``BEiTAttention.forward``: the qkv projection
    with learnable q and v biases and a zero k bias (``bias='qv_bias'``,
    BEiT's), else the projection's own bias or none; ``q * scale`` (``d **
    -0.5``, ``d`` the head dimension, unless ``qk_scale`` overrode it)
    times ``k^T``; plus the layer's own relative position bias and the
    shared one; softmax (written out, so that its weights are returned),
    attention dropout, output projection and its dropout.

    Args:
        attn (nn.Module): the ``BEiTAttention`` of a BEiT layer.
        x (Tensor): ``(B, L, C)``, the layer's normed input tokens.
        rel_pos_bias (Tensor, optional): the backbone's shared relative
            position bias ``(heads, L, L)``.

    Returns:
        tuple[Tensor, Tensor]: the module output ``(B, L, C)`` and the
        attention weights ``(B, heads, L, L)`` (query, key; before attention
        dropout; each row sums to 1).
    """
    batch, length, channels = x.shape
    if attn.bias == 'qv_bias':
        qkv_bias = torch.cat((attn.q_bias, torch.zeros_like(attn.v_bias),
                              attn.v_bias))
        qkv = F.linear(x, attn.qkv.weight, qkv_bias)
    else:
        qkv = attn.qkv(x)
    qkv = qkv.reshape(batch, length, 3, attn.num_heads,
                      -1).permute(2, 0, 3, 1, 4)
    q, k, v = qkv[0], qkv[1], qkv[2]
    logits = (q * attn.scale) @ k.transpose(-2, -1)
    layer_bias = beit_layer_position_bias(attn)
    if layer_bias is not None:
        logits = logits + layer_bias.unsqueeze(0)
    if rel_pos_bias is not None:
        logits = logits + rel_pos_bias
    weights = torch.softmax(logits, dim=-1)
    out = (attn.attn_drop(weights) @ v).transpose(1, 2).reshape(
        batch, length, channels)
    return attn.proj_drop(attn.proj(out)), weights


def beit_layer_with_attention(
        layer: nn.Module, x: Tensor,
        rel_pos_bias: Optional[Tensor]) -> Tuple[Tensor, Tensor]:
    """One mmpretrain ``BEiTTransformerEncoderLayer`` that also returns its
    attention weights: ``x + drop_path(gamma_1 * attn(ln1(x)))``, then
    ``x + drop_path(gamma_2 * ffn(ln2(x)))`` (no ``gamma`` when the layer
    scale is off), as the layer's ``forward`` (whose FFN applies a drop
    path of its own before the layer's). In eval mode, or without
    attention dropout, the output equals the layer's up to float rounding;
    the random draws (drop path, dropout) come in the layer's order.

    Args:
        layer (nn.Module): a ``BEiTTransformerEncoderLayer``.
        x (Tensor): ``(B, L, C)`` input tokens, class token first.
        rel_pos_bias (Tensor, optional): the backbone's shared relative
            position bias ``(heads, L, L)``.

    Returns:
        tuple[Tensor, Tensor]: the layer output ``(B, L, C)`` and the
        attention weights ``(B, heads, L, L)``.
    """
    attended, weights = beit_attention_with_weights(layer.attn, layer.ln1(x),
                                                    rel_pos_bias)
    if layer.gamma_1 is None:
        x = x + layer.drop_path(attended)
        x = x + layer.drop_path(layer.ffn(layer.ln2(x)))
    else:
        x = x + layer.drop_path(layer.gamma_1 * attended)
        x = x + layer.drop_path(layer.gamma_2 * layer.ffn(layer.ln2(x)))
    return x, weights


@MODELS.register_module()
class TokenMaskBEiTViT(BEiTPretrainViT):
    """mmpretrain's ``BEiTPretrainViT`` that takes a bool token mask from a
    token masker (``maskssl.models.maskers``) and gives the masker its
    guidance.

    The training forward is split in two so that the patch embedding is
    computed once and shared by the attention pass and the masked forward
    (EHM Sec. V-E):

    - :meth:`embed`: the patch embeddings ``(B, N, C)``, before the
      ``[MASK]`` replacement, class token and position embedding;
    - :meth:`attention`: a no-grad, eval-mode pass of all ``N`` patches and
      the class token through the first BEiT layers (with the shared
      relative position bias), returning each layer's attention weights;
    - :meth:`forward_masked`: ``BEiTPretrainViT``'s masked forward from
      those embeddings.

    ``forward(x, mask)`` is ``BEiTPretrainViT``'s: ``mask=None`` gives the
    plain features, a ``(B, h, w)`` or ``(B, N)`` mask tensor BEiT's masked
    forward. The weights are ``BEiTPretrainViT``'s and load into it as they
    are.
    """

    def embed(self, x: Tensor) -> Tuple[Tensor, Tuple[int, int]]:
        """``(B, 3, H, W)`` images -> patch embeddings ``(B, N, C)`` (BEiT
        Eq. 1's ``E x_p``, nothing added yet) and the patch grid ``(h,
        w)``."""
        return embed_patches(self, x, 'BEiT',
                             ' (its relative position bias is built for it)')

    def prepend_cls_token(self, tokens: Tensor) -> Tensor:
        """``(B, N, C)`` -> ``(B, 1 + N, C)``: the class token first, then
        the absolute position embedding where the backbone has one (BEiT
        v1 pre-training has none: ``use_abs_pos_emb=False``)."""
        x = torch.cat((self.cls_token.expand(tokens.shape[0], -1, -1),
                       tokens), dim=1)
        return x if self.pos_embed is None else x + self.pos_embed

    def shared_position_bias(self) -> Optional[Tensor]:
        """The relative position bias ``(heads, 1 + N, 1 + N)`` shared by
        all layers (``use_shared_rel_pos_bias``), else ``None``."""
        return None if self.rel_pos_bias is None else self.rel_pos_bias()

    def attention(self, tokens: Tensor, num_layers: int) -> List[Tensor]:
        """The attention weights ``(B, heads, 1 + N, 1 + N)`` of the first
        ``num_layers`` layers over all patches (none replaced by ``[MASK]``)
        and the class token, from :meth:`embed`'s ``tokens`` (detached),
        without gradient or random draws (no dropout after the position
        embedding, layers in eval mode), the layers' train/eval mode
        restored.

        Args:
            tokens (Tensor): ``(B, N, C)`` from :meth:`embed`.
            num_layers (int): how many layers, from the first.

        Returns:
            list[Tensor]: ``num_layers`` tensors ``(B, heads, 1 + N, 1 +
            N)``.
        """
        with torch.no_grad():
            x = self.prepend_cls_token(tokens.detach())
            bias = self.shared_position_bias()
        return encoder_attention(
            self.layers, x, num_layers,
            layer_fn=partial(beit_layer_with_attention, rel_pos_bias=bias))

    def forward_masked(self, tokens: Tensor, mask: Tensor) -> Tuple[Tensor]:
        """``BEiTPretrainViT.forward``'s masked branch from :meth:`embed`'s
        tokens: the masked embeddings replaced by ``[MASK]`` (BEiT Sec.
        2.2), class token and position embedding, dropout, the layers with
        the shared relative position bias (kept, as there, in
        ``self.shared_rel_pos_bias`` for BEiT v2's neck), the final norm.

        Args:
            tokens (Tensor): ``(B, N, C)`` from :meth:`embed`.
            mask (Tensor): bool ``(B, N)``, True = masked.

        Returns:
            tuple[Tensor]: the ``(B, 1 + N, C)`` features of the layers in
            ``out_indices`` (the last normed when ``final_norm``).
        """
        check_patch_mask(mask, tokens.shape[0], self.patch_resolution,
                         type(self).__name__)
        x = self.prepend_cls_token(
            replace_masked_tokens(tokens, mask, self.mask_token))
        x = self.drop_after_pos(x)
        self.shared_rel_pos_bias = self.shared_position_bias()
        outs = []
        for i, layer in enumerate(self.layers):
            x = layer(x, rel_pos_bias=self.shared_rel_pos_bias)
            if i == len(self.layers) - 1 and self.final_norm:
                x = self.norm1(x)
            if i in self.out_indices:
                outs.append(x)
        return tuple(outs)
