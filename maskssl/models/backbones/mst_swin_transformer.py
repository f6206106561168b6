"""MST's Swin-T (Sec. 4.2, Tables 1-2): a Swin Transformer that takes a
token mask and returns the last block's window attention from the same
forward pass, with the contract of :class:`MSTVisionTransformer`."""
import math
from typing import NamedTuple, Optional, Sequence, Tuple, Union

import torch
import torch.nn.functional as F
from mmpretrain.models import SwinTransformer
from mmpretrain.models.backbones.swin_transformer import SwinBlock
from mmpretrain.models.utils import ShiftWindowMSA, WindowMSA, to_2tuple
from mmpretrain.registry import MODELS
from torch import Tensor

from ..utils.token_masking import (MaskTokenMixin, check_patch_mask,
                                    replace_masked_tokens)
from .mst_vision_transformer import ATTENTION_KINDS

OUT_TYPES = ('featmap', 'avg_featmap')
# the additive attention mask of a key a query must not see (Swin's value)
BLOCKED = -100.0


class WindowLayout(NamedTuple):
    """How a ``ShiftWindowMSA`` lays an ``H x W`` map out in windows.

    Attributes:
        shift (int): the cyclic shift towards the top left (0: none).
        pad_b (int): rows of zeros added at the bottom.
        pad_r (int): columns of zeros added on the right.
        mask_padding (bool): whether the padded positions are masked out as
            keys (only in :func:`window_layout`'s small-map case).
    """
    shift: int
    pad_b: int
    pad_r: int
    mask_padding: bool


def window_layout(hw_shape: Sequence[int], window_size: int, shift_size: int,
                  pad_small_map: bool) -> WindowLayout:
    """The window layout of a ``ShiftWindowMSA`` over an ``H x W`` map.

    Where mmpretrain's ``ShiftWindowMSA`` runs, the same layout: maps are
    zero-padded to a multiple of the window; the block's shift applies
    unless the map's short side equals the window and ``pad_small_map`` is
    False (the original Swin's classification rule: one window covers the
    map). Where it refuses (a side shorter than the window and
    ``pad_small_map=False``: local crops, e.g. the 3 x 3 last stage of a 96-px
    crop), the original Swin's classification rule too: no shift, and the
    window covers the whole map; the map is padded to the window and the
    padded keys are masked, so that only the map's tokens attend to each
    other, with the relative position bias of their offsets (the original
    code shrinks the window to the map instead: for square maps the same
    tokens attend to each other).

    Args:
        hw_shape (Sequence[int]): ``(H, W)`` of the token map.
        window_size (int): the window's side.
        shift_size (int): the block's shift (0 for W-MSA blocks).
        pad_small_map (bool): the block's ``pad_small_map``.

    Returns:
        WindowLayout: the shift and padding.
    """
    h, w = hw_shape
    shift, mask_padding = shift_size, False
    if min(h, w) == window_size and not pad_small_map:
        shift = 0
    elif min(h, w) < window_size and not pad_small_map:
        shift, mask_padding = 0, True
    return WindowLayout(shift, (window_size - h % window_size) % window_size,
                        (window_size - w % window_size) % window_size,
                        mask_padding)


def window_token_index(hw_shape: Sequence[int], window_size: int,
                       layout: WindowLayout,
                       device: Optional[torch.device] = None) -> Tensor:
    """Which token sits at each position of each window.

    Args:
        hw_shape (Sequence[int]): ``(H, W)``; tokens are numbered in raster
            order, ``r * W + c``.
        window_size (int): the window's side ``S``.
        layout (WindowLayout): the padding and shift.
        device (torch.device, optional): of the result.

    Returns:
        Tensor: long ``(nW, S * S)``, in ``ShiftWindowMSA``'s window order,
        the token at each window position, -1 at padded positions.
    """
    h, w = hw_shape
    index = torch.arange(h * w, device=device).view(1, h, w, 1)
    index = F.pad(index, (0, 0, 0, layout.pad_r, 0, layout.pad_b), value=-1)
    if layout.shift:
        index = torch.roll(index, (-layout.shift, -layout.shift), (1, 2))
    return ShiftWindowMSA.window_partition(index, window_size).reshape(
        -1, window_size * window_size)


def window_attention_mask(hw_shape: Sequence[int], window_size: int,
                          layout: WindowLayout, index: Tensor
                          ) -> Optional[Tensor]:
    """The additive attention mask of every window: ``ShiftWindowMSA``'s
    shift mask (0 within a region of the shifted map, -100 across), plus
    for padded keys where the layout masks padding (then there is no
    shift).

    Args:
        hw_shape (Sequence[int]): ``(H, W)`` of the unpadded map.
        window_size (int): the window's side ``S``.
        layout (WindowLayout): the padding and shift.
        index (Tensor): ``(nW, S * S)`` from :func:`window_token_index`.

    Returns:
        Tensor or None: ``(nW, S * S, S * S)`` (query, key), or ``None``
        when nothing is masked.
    """
    if layout.mask_padding:  # the shift is 0 then
        blocked = (index < 0).unsqueeze(1).expand(-1, index.shape[1], -1)
        return torch.zeros(blocked.shape, device=index.device).masked_fill(
            blocked, BLOCKED)
    h, w = hw_shape
    return ShiftWindowMSA.get_attn_mask(
        (h + layout.pad_b, w + layout.pad_r), window_size, layout.shift,
        device=index.device)


def relative_position_bias(w_msa: WindowMSA) -> Tensor:
    """The ``(heads, S * S, S * S)`` relative position bias of a window."""
    size = w_msa.window_size[0] * w_msa.window_size[1]
    bias = w_msa.relative_position_bias_table[
        w_msa.relative_position_index.view(-1)].view(size, size, -1)
    return bias.permute(2, 0, 1)


def window_msa_with_weights(w_msa: WindowMSA, windows: Tensor,
                            mask: Optional[Tensor]) -> Tuple[Tensor, Tensor]:
    """Run mmpretrain's ``WindowMSA`` and keep its attention map.

    The same operations as ``WindowMSA.forward`` (qkv projection, softmax of
    ``scale * Q K^T`` plus the relative position bias and the mask, its
    attention dropout module, the output projection and its dropout
    module), with the softmax written out so that its weights are returned.

    Args:
        w_msa (WindowMSA): the window attention of a Swin block.
        windows (Tensor): ``(B * nW, M, C)`` normed tokens of the windows,
            ``M = S * S``, batch-major as ``ShiftWindowMSA`` orders them.
        mask (Tensor, optional): ``(nW, M, M)`` additive mask.

    Returns:
        tuple[Tensor, Tensor]: the output ``(B * nW, M, C)`` and the weights
        ``(B * nW, heads, M, M)`` (query, key; before attention dropout; each
        row sums to 1).
    """
    batch_windows, size, channels = windows.shape
    heads = w_msa.num_heads
    qkv = w_msa.qkv(windows).reshape(batch_windows, size, 3, heads,
                                      channels // heads).permute(2, 0, 3, 1, 4)
    q, k, v = qkv[0], qkv[1], qkv[2]
    logits = (q * w_msa.scale) @ k.transpose(-2, -1) + relative_position_bias(
        w_msa).unsqueeze(0)
    if mask is not None:
        num_windows = mask.shape[0]
        logits = (logits.view(-1, num_windows, heads, size, size) +
                  mask.unsqueeze(1).unsqueeze(0)).view(-1, heads, size, size)
    weights = logits.softmax(dim=-1)
    out = (w_msa.attn_drop(weights) @ v).transpose(1, 2).reshape(
        batch_windows, size, channels)
    return w_msa.proj_drop(w_msa.proj(out)), weights


def token_attention(weights: Tensor, index: Tensor, mask: Optional[Tensor],
                    num_tokens: int) -> Tuple[Tensor, Tensor]:
    """Window attention laid out between the map's tokens.

    Args:
        weights (Tensor): ``(B, nW, M, M)`` head-averaged window attention.
        index (Tensor): ``(nW, M)`` from :func:`window_token_index`.
        mask (Tensor, optional): ``(nW, M, M)`` from
            :func:`window_attention_mask`.
        num_tokens (int): ``N = H * W``.

    Returns:
        tuple[Tensor, Tensor]: ``(B, N, N)`` attention of query token ``i``
        to key token ``j`` (rows: queries), zero between tokens that cannot
        attend to each other (other windows, other regions of a shifted
        window); the columns of padded keys are dropped without
        renormalising. And the bool ``(N, N)`` of the pairs that can attend.
    """
    real = index >= 0
    pairs = real.unsqueeze(2) & real.unsqueeze(1)
    if mask is not None:
        pairs = pairs & (mask == 0)
    flat = (index.unsqueeze(2) * num_tokens + index.unsqueeze(1))[pairs]
    attention = weights.new_zeros(weights.shape[0], num_tokens * num_tokens)
    attention[:, flat] = weights[:, pairs]
    visible = torch.zeros(num_tokens * num_tokens, dtype=torch.bool,
                          device=weights.device)
    visible[flat] = True
    return (attention.view(-1, num_tokens, num_tokens),
            visible.view(num_tokens, num_tokens))


def received_attention(attention: Tensor, visible: Tensor) -> Tensor:
    """The importance of each token: the mean attention it receives from the
    queries that can attend to it (those of its window).

    Swin has no class token, so MST's Eq. 4 (the class query's attention)
    has no counterpart; the mean over its window's queries of the attention
    a token receives stands in. Where one window covers the map (Swin-T's
    7 x 7 last stage at 224 px) it is the mean over all queries.

    Args:
        attention (Tensor): ``(B, N, N)`` from :func:`token_attention`.
        visible (Tensor): bool ``(N, N)`` from :func:`token_attention`.

    Returns:
        Tensor: ``(B, N)``.
    """
    return attention.sum(dim=1) / visible.sum(dim=0).to(attention.dtype)


def upsample_token_mask(mask: Tensor, grid: Sequence[int],
                        scale: Sequence[int],
                        patch_grid: Sequence[int]) -> Tensor:
    """A mask on the last-stage grid brought to the patch-embedding grid.

    Each last-stage cell ``(i, j)`` covers the patch tokens of rows
    ``scale[0] * i`` to ``scale[0] * (i + 1) - 1`` and columns likewise
    (nearest upsampling), cut to the patch grid where the patch merging
    padded it (SimMIM masks Swin's 4-px patches in 32-px cells the same way).

    Args:
        mask (Tensor): bool ``(B, h * w)``, raster order, True = masked.
        grid (Sequence[int]): ``(h, w)``, the last-stage grid.
        scale (Sequence[int]): the patch tokens per cell along each side
            (8 for Swin's three 2x patch mergings).
        patch_grid (Sequence[int]): ``(H0, W0)``, the patch-embedding grid.

    Returns:
        Tensor: bool ``(B, H0 * W0)``, raster order.
    """
    batch = mask.shape[0]
    rows, cols = patch_grid
    cells = mask.view(batch, grid[0], grid[1])
    cells = cells.repeat_interleave(scale[0], dim=1).repeat_interleave(
        scale[1], dim=2)
    return cells[:, :rows, :cols].reshape(batch, rows * cols)


def swin_block_with_attention(
        block: SwinBlock, x: Tensor, hw_shape: Sequence[int],
        with_weights: bool) -> Tuple[Tensor, Optional[Tuple[Tensor, Tensor]]]:
    """One Swin block, ``x + attn(norm1(x))`` then ``ffn(norm2(x)) + x``,
    with the window layout of :func:`window_layout`, optionally returning
    its attention.

    Runs the block's own modules in the block's order, so its output (and
    the drop path's random draws) equal ``block(x, hw_shape)`` wherever
    that runs; no gradient checkpointing (``with_cp``) here.

    Args:
        block (SwinBlock): the block.
        x (Tensor): ``(B, H * W, C)`` input tokens.
        hw_shape (Sequence[int]): ``(H, W)``.
        with_weights (bool): whether to return the attention.

    Returns:
        tuple: the block output ``(B, H * W, C)``; with ``with_weights``,
        ``(attention, visible)`` from :func:`token_attention` (head-averaged
        ``(B, N, N)``, and the bool ``(N, N)`` of the pairs that can
        attend), else ``None``.
    """
    attn = block.attn
    batch, length, channels = x.shape
    h, w = hw_shape
    size = attn.window_size
    layout = window_layout(hw_shape, size, attn.shift_size,
                           attn.pad_small_map)
    index = window_token_index(hw_shape, size, layout, x.device)
    mask = window_attention_mask(hw_shape, size, layout, index)

    query = F.pad(block.norm1(x).view(batch, h, w, channels),
                  (0, 0, 0, layout.pad_r, 0, layout.pad_b))
    pad_h, pad_w = query.shape[1], query.shape[2]
    if layout.shift:
        query = torch.roll(query, (-layout.shift, -layout.shift), (1, 2))
    windows = ShiftWindowMSA.window_partition(query, size).view(
        -1, size * size, channels)
    if with_weights:
        windows, weights = window_msa_with_weights(attn.w_msa, windows, mask)
    else:
        windows = attn.w_msa(windows, mask=mask)
    out = ShiftWindowMSA.window_reverse(
        windows.view(-1, size, size, channels), pad_h, pad_w, size)
    if layout.shift:
        out = torch.roll(out, (layout.shift, layout.shift), (1, 2))
    out = out[:, :h, :w, :].reshape(batch, length, channels)
    x = x + attn.drop(out)
    x = block.ffn(block.norm2(x), identity=x)
    if not with_weights:
        return x, None
    weights = weights.view(batch, index.shape[0], -1, size * size,
                           size * size).mean(dim=2)
    return x, token_attention(weights, index, mask, length)


@MODELS.register_module()
class MSTSwinTransformer(MaskTokenMixin, SwinTransformer):
    """mmpretrain's ``SwinTransformer`` with MST's token mask and attention
    output; MST's Swin-T (Sec. 4.2, Table 1; Table 2's detection backbone)
    is ``arch='tiny'``. The contract of :class:`MSTVisionTransformer` that
    :class:`~maskssl.models.algorithms.MST` uses:

    - ``token_grid``: the tokens that are masked, guided and restored are
      those of the last stage (``H/32 x W/32``, 7 x 7 at 224 px): Swin has
      no class token, the teacher's attention is read in the last block,
      and a mask on that grid is brought to the patch-embedding grid by
      nearest upsampling (each cell covers 8 x 8 tokens of 4-px patches),
      where masked patch embeddings become the ``[MASK]`` embedding (Eq. 6),
      as SimMIM masks Swin in 32-px cells.
    - ``forward_tokens``: ``num_extra_tokens = 1`` global token, the mean of
      the last stage's normed tokens (the global feature of Swin's
      classifier and MoBY), which the projection head reads, then the ``N``
      last-stage tokens, which the global image decoder restores
      (``log2(32) = 5`` upsampling stages).
    - ``return_attention``: from the last block of the last stage, computed
      inside the same forward; see :meth:`forward_tokens`.

    Maps smaller than the window (local crops: 96 px gives a 3 x 3 last
    stage) run where mmpretrain's Swin refuses them without
    ``pad_small_map``: see :func:`window_layout`; elsewhere every block runs
    as in the parent.

    The parameters are the parent's plus ``mask_token`` ``(1, 1, C)``
    (truncated normal, std 0.02, as SimMIM's), so the ``backbone.*`` weights
    of a checkpoint, ``mask_token`` left out, load strictly into a plain
    ``SwinTransformer`` of the same arch.

    Args:
        out_type (str): what :meth:`forward` returns per ``out_indices``
            stage: ``'featmap'``, the parent's ``(B, C, H, W)`` normed map;
            or ``'avg_featmap'``, its mean over positions ``(B, C)``, which
            MST's projection neck reads for the local crops. Defaults to
            ``'featmap'``.
        **kwargs: ``SwinTransformer`` arguments; ``out_indices`` must hold
            the last stage (its norm gives the tokens) and
            ``use_abs_pos_embed`` must be False (the parent's position
            embedding resize reads ``num_extra_tokens``, which here counts
            the global token instead).
    """

    num_extra_tokens = 1

    def __init__(self, out_type: str = 'featmap', **kwargs) -> None:
        name = type(self).__name__
        if out_type not in OUT_TYPES:
            raise ValueError(f'{name}: out_type={out_type!r}; expected one '
                             f'of {OUT_TYPES}')
        if kwargs.get('use_abs_pos_embed', False):
            raise ValueError(
                f'{name}: use_abs_pos_embed={kwargs["use_abs_pos_embed"]!r}; '
                'expected False (no absolute position embedding, as Swin-T)')
        super().__init__(**kwargs)
        last = self.num_layers - 1
        if last not in self.out_indices:
            raise ValueError(
                f'{name}: out_indices={self.out_indices!r}; expected it to '
                f'hold the last stage, {last}, whose norm gives the tokens')
        for i, stage in enumerate(self.stages):
            for j, block in enumerate(stage.blocks):
                if type(block.attn.w_msa) is not WindowMSA:
                    raise ValueError(
                        f'{name}: stages[{i}].blocks[{j}] attends with '
                        f'{type(block.attn.w_msa).__name__}; expected '
                        "mmpretrain's WindowMSA (Swin v1)")
        self.out_type = out_type
        self.add_mask_token(self.embed_dims, frozen=self.frozen_stages >= 0)

    @property
    def mask_scale(self) -> Tuple[int, int]:
        """Patch-embedding tokens per last-stage token along each side: the
        product of the patch mergings' strides (8 for Swin)."""
        rows, cols = 1, 1
        for stage in self.stages:
            if stage.downsample is not None:
                stride = to_2tuple(stage.downsample.sampler.stride)
                rows, cols = rows * stride[0], cols * stride[1]
        return rows, cols

    def token_grid(self, imgs: Tensor) -> Tuple[int, int]:
        """The ``(h, w)`` last-stage grid of ``(B, 3, H, W)`` images, which
        masks cover: the patch embedding and each patch merging pad a last
        partial patch, so ``h = ceil(ceil(H / 4) / 8)``."""
        stride = self.patch_embed.projection.stride
        scale = self.mask_scale
        return (math.ceil(math.ceil(imgs.shape[2] / stride[0]) / scale[0]),
                math.ceil(math.ceil(imgs.shape[3] / stride[1]) / scale[1]))

    def get_layer_depth(self, param_name: str,
                        prefix: str = '') -> Tuple[int, int]:
        """The parent's layer depths, with ``mask_token`` in the stem (depth
        0), beside the patch embedding it replaces."""
        if param_name == prefix + 'mask_token':
            return 0, sum(self.depths) + 2
        return super().get_layer_depth(param_name, prefix)

    def _attention_kind(self,
                        return_attention: Union[bool, str]) -> Optional[str]:
        if return_attention is False:
            return None
        kind = 'cls' if return_attention is True else return_attention
        if not isinstance(kind, str) or kind not in ATTENTION_KINDS:
            raise ValueError(
                f'{type(self).__name__}: return_attention='
                f"{return_attention!r}; expected False, True (= 'cls') or "
                "'patch'")
        return kind

    def forward(self, x: Tensor) -> Tuple[Tensor, ...]:
        """The parent's forward: per ``out_indices`` stage, its normed
        output, ``(B, C, H, W)`` (``out_type='featmap'``) or averaged over
        positions, ``(B, C)`` (``'avg_featmap'``); maps smaller than the
        window run as :func:`window_layout` says.

        Args:
            x (Tensor): ``(B, 3, H, W)`` images.
        """
        outs, _, _ = self._encode(x, None, None)
        return outs

    def forward_tokens(
            self,
            x: Tensor,
            mask: Optional[Tensor] = None,
            return_attention: Union[bool, str] = False
    ) -> Tuple[Tensor, Optional[Tensor]]:
        """The global token and the last stage's tokens, optionally masked.

        Args:
            x (Tensor): ``(B, 3, H, W)`` images; ``(h, w) =``
                :meth:`token_grid`, ``N = h * w``.
            mask (Tensor, optional): bool ``(B, N)`` on the last-stage grid
                in raster order, True = masked; upsampled to the patch
                embedding (:func:`upsample_token_mask`).
            return_attention (bool or str): what of the last block's window
                attention (averaged over heads) to return as well:

                - ``False``: nothing (``None``);
                - ``True`` or ``'cls'``: the importance of each last-stage
                  token, ``(B, N)``: the mean attention it receives from the
                  queries of its window (:func:`received_attention`; at
                  224 px one window covers the map, so this is the mean over
                  all queries), the teacher's guidance of the
                  attention-guided masker in place of Eq. 4's class
                  attention;
                - ``'patch'``: the token-to-token attention ``(B, N, N)``,
                  query rows, key columns, zero between tokens of different
                  windows (:func:`token_attention`).

                Not detached: run the teacher under ``torch.no_grad()``.

        Returns:
            tuple: ``(B, 1 + N, C)`` tokens: the mean of the last stage's
            normed tokens, then those ``N`` tokens in raster order; and the
            attention asked for (``None`` when ``False``).
        """
        _, tokens, attention = self._encode(
            x, mask, self._attention_kind(return_attention))
        return tokens, attention

    def _encode(
        self, x: Tensor, mask: Optional[Tensor], kind: Optional[str]
    ) -> Tuple[Tuple[Tensor, ...], Tensor, Optional[Tensor]]:
        """The ``out_indices`` outputs, the ``(B, 1 + N, C)`` tokens and the
        requested attention (or ``None``)."""
        grid = self.token_grid(x)
        x, hw_shape = self.patch_embed(x)
        if mask is not None:
            check_patch_mask(mask, x.shape[0], grid, type(self).__name__)
            x = replace_masked_tokens(
                x, upsample_token_mask(mask, grid, self.mask_scale, hw_shape),
                self.mask_token)
        x = self.drop_after_pos(x)

        last = self.num_layers - 1
        outs = []
        attention = None
        for i, stage in enumerate(self.stages):
            for j, block in enumerate(stage.blocks):
                if (kind is not None and i == last
                        and j == len(stage.blocks) - 1):
                    x, (pairs, visible) = swin_block_with_attention(
                        block, x, hw_shape, with_weights=True)
                    attention = (received_attention(pairs, visible)
                                 if kind == 'cls' else pairs)
                elif window_layout(hw_shape, block.attn.window_size,
                                   block.attn.shift_size,
                                   block.attn.pad_small_map).mask_padding:
                    x, _ = swin_block_with_attention(
                        block, x, hw_shape, with_weights=False)
                else:
                    x = block(x, hw_shape)
            if stage.downsample is not None and self.out_after_downsample:
                x, hw_shape = stage.downsample(x, hw_shape)
            if i in self.out_indices:
                out = getattr(self, f'norm{i}')(x)
                if i == last:
                    tokens = torch.cat((out.mean(dim=1, keepdim=True), out),
                                       dim=1)
                outs.append(out.mean(dim=1) if self.out_type == 'avg_featmap'
                            else out.view(-1, *hw_shape, out.shape[-1]).
                            permute(0, 3, 1, 2).contiguous())
            if stage.downsample is not None and not self.out_after_downsample:
                x, hw_shape = stage.downsample(x, hw_shape)
        if tuple(hw_shape) != grid:
            raise RuntimeError(
                f'{type(self).__name__}: the last stage is {tuple(hw_shape)}, '
                f'token_grid gave {grid}: patch embedding and merging must '
                'pad a last partial patch and have kernel = stride')
        return tuple(outs), tokens, attention
