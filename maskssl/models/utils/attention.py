"""Attention maps of mmpretrain ViT blocks, computed in the same forward
pass: the weights, the class token's attention and the patch-to-patch
attention."""
from contextlib import contextmanager
from typing import Callable, Iterator, List, Optional, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmpretrain.models.utils import MultiheadAttention
from torch import Tensor


def _split_qkv(attn: MultiheadAttention,
               x: Tensor) -> Tuple[Tensor, Tensor, Tensor]:
    """``(B, L, C)`` -> queries, keys, values ``(B, heads, L, C / heads)``
    of mmpretrain's ``MultiheadAttention``."""
    batch, length, _ = x.shape
    qkv = attn.qkv(x).reshape(batch, length, 3, attn.num_heads,
                              attn.head_dims).permute(2, 0, 3, 1, 4)
    return qkv[0], qkv[1], qkv[2]


def _softmax_weights(attn: MultiheadAttention, q: Tensor,
                     k: Tensor) -> Tensor:
    """``softmax(Q K^T / sqrt(d))``, ``(B, heads, L, L)``."""
    return torch.softmax(q @ k.transpose(-2, -1) * attn.head_dims**-0.5,
                         dim=-1)


def block_attention_weights(layer: nn.Module, x: Tensor) -> Tensor:
    """Only the attention weights ``(B, heads, L, L)`` of an mmpretrain ViT
    ``TransformerEncoderLayer`` for input tokens ``x`` ``(B, L, C)``: its
    ``ln1``, queries and keys, without the values, projection and FFN that
    :func:`encoder_layer_with_attention` also runs."""
    q, k, _ = _split_qkv(layer.attn, layer.ln1(x))
    return _softmax_weights(layer.attn, q, k)


def attention_with_weights(attn: MultiheadAttention,
                           x: Tensor) -> Tuple[Tensor, Tensor]:
    """Run mmpretrain's ``MultiheadAttention`` and keep its attention map.

    The same operations as ``MultiheadAttention.forward`` (qkv projection,
    softmax of ``Q K^T / sqrt(d)`` with ``d`` the head dimension, attention
    dropout, output projection, layer scale, drop path), with the softmax
    written out so that its weights are returned: in eval mode, or without
    attention dropout, the output equals the module's up to float rounding.
    At rate 0 (mmpretrain's ViT default) the attention dropout draws no
    random numbers, so the drop path's draws match the module's.

    Args:
        attn (MultiheadAttention): the attention module of a ViT block.
        x (Tensor): ``(B, L, C)``, the block's normed input tokens.

    Returns:
        tuple[Tensor, Tensor]: the module output ``(B, L, C)`` and the
        attention weights ``(B, heads, L, L)`` (query, key; before attention
        dropout; each row sums to 1).
    """
    batch, length, _ = x.shape
    q, k, v = _split_qkv(attn, x)
    weights = _softmax_weights(attn, q, k)
    dropped = F.dropout(weights, attn.attn_drop, attn.training)
    out = (dropped @ v).transpose(1, 2).reshape(batch, length,
                                                attn.embed_dims)
    out = attn.out_drop(attn.gamma1(attn.proj_drop(attn.proj(out))))
    return out, weights


def encoder_layer_with_attention(layer: nn.Module,
                                 x: Tensor) -> Tuple[Tensor, Tensor]:
    """One mmpretrain ViT ``TransformerEncoderLayer`` that also returns its
    attention weights: ``x + attn(ln1(x))``, then ``ffn(ln2(x)) + x``.

    Args:
        layer (nn.Module): a ``TransformerEncoderLayer``.
        x (Tensor): ``(B, L, C)`` input tokens.

    Returns:
        tuple[Tensor, Tensor]: the layer output ``(B, L, C)`` and the
        attention weights ``(B, heads, L, L)``.
    """
    attended, weights = attention_with_weights(layer.attn, layer.ln1(x))
    x = x + attended
    return layer.ffn(layer.ln2(x), identity=x), weights


def class_attention(weights: Tensor, num_extra_tokens: int = 1) -> Tensor:
    """MST Eq. 4: the class-token query's attention to the patch tokens,
    averaged over heads.

    The softmax runs over all keys, the class token's own included, and its
    column is then dropped without renormalising, as DINO's
    ``get_last_selfattention`` users do (``attentions[:, :, 0, 1:]``), so a
    row sums to ``1 -`` the class token's attention to itself.

    Args:
        weights (Tensor): ``(B, heads, L, L)`` attention weights with the
            class token first, ``L = num_extra_tokens + N``.
        num_extra_tokens (int): leading non-patch tokens. Defaults to 1.

    Returns:
        Tensor: ``(B, N)``.
    """
    return weights[:, :, 0, num_extra_tokens:].mean(dim=1)


def patch_attention(weights: Tensor, num_extra_tokens: int = 1) -> Tensor:
    """The patch-to-patch attention, averaged over heads.

    Rows are queries, columns keys (not symmetric); as in
    :func:`class_attention` the columns of extra tokens are dropped without
    renormalising.

    Args:
        weights (Tensor): ``(B, heads, L, L)`` attention weights,
            ``L = num_extra_tokens + N``.
        num_extra_tokens (int): leading non-patch tokens. Defaults to 1.

    Returns:
        Tensor: ``(B, N, N)``.
    """
    return weights[:, :, num_extra_tokens:, num_extra_tokens:].mean(dim=1)


@contextmanager
def inference_pass(modules: Sequence[nn.Module]) -> Iterator[None]:
    """Run ``modules`` without gradient and in eval mode (no dropout, no drop
    path, so no random draw), then give each its train/eval mode back."""
    modes = [m.training for m in modules]
    try:
        for m in modules:
            m.eval()
        with torch.no_grad():
            yield
    finally:
        for m, mode in zip(modules, modes):
            m.train(mode)


def encoder_attention(
    layers: Sequence[nn.Module],
    x: Tensor,
    num_layers: int,
    layer_fn: Optional[Callable[[nn.Module, Tensor], Tuple[Tensor,
                                                           Tensor]]] = None,
    last_fn: Optional[Callable[[nn.Module, Tensor], Tensor]] = None
) -> List[Tensor]:
    """The attention weights of the first ``num_layers`` of ``layers``,
    without gradient and in eval mode (:func:`inference_pass`): the model
    is not changed and draws no random number (EHM Sec. V-E's attention
    pass).

    The last of those blocks only needs its weights, so it runs
    ``last_fn`` (for mmpretrain's ViT, :func:`block_attention_weights`:
    no values, projection or FFN, about two thirds of a block saved).

    Args:
        layers (Sequence[nn.Module]): the encoder's blocks.
        x (Tensor): ``(B, L, C)`` tokens as the first block takes them
            (extra tokens first, position embedding added).
        num_layers (int): ``L``, how many blocks to run, from the first.
        layer_fn (Callable, optional): ``layer_fn(layer, x) -> (x,
            weights)`` with weights ``(B, heads, L, L)``. ``None``:
            mmpretrain's ViT block (:func:`encoder_layer_with_attention`,
            and :func:`block_attention_weights` as ``last_fn``).
        last_fn (Callable, optional): ``last_fn(layer, x) -> weights`` for
            the last block; ``None`` with a ``layer_fn`` given: ``layer_fn``
            runs it.

    Returns:
        list[Tensor]: ``num_layers`` tensors ``(B, heads, L, L)``.
    """
    if not 1 <= num_layers <= len(layers):
        raise ValueError(f'attention_layers={num_layers}; expected 1 to the '
                         f"encoder's {len(layers)} blocks")
    if layer_fn is None:
        layer_fn, last_fn = (encoder_layer_with_attention,
                             block_attention_weights)
    weights = []
    with inference_pass(layers[:num_layers]):
        for layer in layers[:num_layers - 1]:
            x, w = layer_fn(layer, x)
            weights.append(w)
        last = layers[num_layers - 1]
        weights.append(layer_fn(last, x)[1] if last_fn is None else
                       last_fn(last, x))
    return weights


def attention_guidance(weights: Sequence[Tensor], kind: str,
                       num_extra_tokens: int = 1) -> Tensor:
    """A token masker's guidance from attention weights, averaged over heads
    and blocks (EHM Eq. 6 averages the first blocks' attention).

    Args:
        weights (Sequence[Tensor]): per block ``(B, heads, L, L)``, extra
            tokens first, ``L = num_extra_tokens + N``.
        kind (str): ``'similarity'``: patch-to-patch attention ``(B, N, N)``
            (:func:`patch_attention`; the masker symmetrises it);
            ``'importance'``: the class token's attention to each patch
            ``(B, N)`` (:func:`class_attention`, MST Eq. 4).
        num_extra_tokens (int): leading non-patch tokens. Defaults to 1.

    Returns:
        Tensor: ``(B, N, N)`` or ``(B, N)``.
    """
    if kind == 'similarity':
        fn = patch_attention
    elif kind == 'importance':
        if num_extra_tokens < 1:
            raise ValueError("'importance' guidance is the class token's "
                             'attention; the encoder has no class token')
        fn = class_attention
    else:
        raise ValueError(f"guidance {kind!r}; expected 'similarity' or "
                         "'importance'")
    return torch.stack([fn(w, num_extra_tokens) for w in weights]).mean(0)
