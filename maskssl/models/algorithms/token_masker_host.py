"""What a masked-image algorithm needs to take its mask from any token
masker of ``maskssl.models.maskers`` (EHM Sec. IV-V)."""
import copy
from typing import Optional, Tuple

import torch.nn as nn
from mmpretrain.models.utils import CosineEMA
from mmpretrain.registry import MODELS
from torch import Tensor

from maskssl.utils.arg_checks import check_int
from ..maskers import require_fixed_count
from ..utils.attention import attention_guidance

ATTENTION_SOURCES = ('online', 'ema')
# ``masker`` not given: the host's ``default_masker``
_HOST_DEFAULT: dict = {}


def masker_guidance(encoder: nn.Module, tokens: Tensor, num_layers: int,
                    kind: str) -> Tensor:
    """A masker's ``kind`` of guidance from ``encoder``'s first
    ``num_layers`` blocks: ``encoder.mask_guidance(tokens, num_layers,
    kind)`` where the backbone defines one (e.g. a windowed encoder whose
    blocks have no global attention), else its attention weights averaged
    over heads and blocks (:func:`attention_guidance`)."""
    if hasattr(encoder, 'mask_guidance'):
        return encoder.mask_guidance(tokens, num_layers, kind)
    return attention_guidance(encoder.attention(tokens, num_layers), kind,
                              encoder.num_extra_tokens)


class TokenMaskerHost:
    """Mixin for an mmpretrain ``BaseSelfSupervisor`` whose mask comes from
    a configured token masker instead of a built-in generator.

    The backbone provides ``embed(x) -> (tokens, grid)`` (the patch tokens
    as its blocks take them, and the ``(h, w)`` patch grid),
    ``attention(tokens, num_layers)`` (the weights ``(B, heads, L, L)`` of
    the first blocks from a no-grad, eval-mode pass over all tokens) and
    ``num_extra_tokens``, or instead ``mask_guidance(tokens, num_layers,
    kind)`` (:func:`masker_guidance`). A masker that declares guidance gets
    it from that pass, averaged over heads and blocks (EHM Eq. 6;
    :func:`~maskssl.models.utils.attention.attention_guidance`); a masker
    without guidance costs no pass.

    The pass uses the encoder being trained and shares the tokens of the
    training forward (EHM Sec. V-E: "we share the features after the
    embedding layer"). ``attention_source='ema'`` takes it from an EMA copy
    of the backbone instead (mmpretrain's ``CosineEMA``, updated before
    each pass, as BYOL updates its target in ``loss``); the copy embeds the
    images itself, so that option costs one more patch embedding.

    Training progress reaches an evolving masker through mmengine's message
    hub (``iter`` and ``max_iters``, written by the runner's
    ``RuntimeInfoHook`` before every iteration and restored on resume).

    Subclasses set :attr:`default_masker`, :attr:`backbone_methods`,
    :attr:`backbone_types` (named in the error for a backbone that lacks
    one) and :attr:`drops_tokens`.

    Args:
        masker (dict): a token masker config. Defaults to the host's
            :attr:`default_masker`.
        attention_layers (int): ``L``, the first blocks whose attention
            guides the masker (EHM Sec. V-E: 6). Defaults to 6.
        attention_source (str): ``'online'`` (the encoder being trained,
            EHM's) or ``'ema'``. Defaults to ``'online'``.
        ema_momentum (float): ``CosineEMA``'s momentum (``1 -`` the decay,
            0.996 -> 1 as DINO's teacher) for ``'ema'``. Defaults to 0.004.
        **kwargs: the host algorithm's own arguments (``backbone``,
            ``neck``, ``head``, ...).
    """

    # the masker when the config names none
    default_masker: dict = dict(type='EvolvedHierarchicalMasker')
    # what the host calls on its backbone
    backbone_methods: Tuple[str, ...] = ('embed', 'attention',
                                         'forward_masked')
    # the backbones that have them, named in the error
    backbone_types: str = ''
    # the host drops masked tokens (MAE), so the masker must mask the same
    # count in every image
    drops_tokens: bool = False

    def __init__(self,
                 masker: dict = _HOST_DEFAULT,
                 attention_layers: int = 6,
                 attention_source: str = 'online',
                 ema_momentum: float = 0.004,
                 **kwargs) -> None:
        super().__init__(**kwargs)
        owner = type(self).__name__
        for method in self.backbone_methods:
            if not hasattr(self.backbone, method):
                raise TypeError(
                    f'{owner}: backbone {type(self.backbone).__name__} has '
                    f'no {method}; use {self.backbone_types}')
        if masker is _HOST_DEFAULT:
            masker = copy.deepcopy(self.default_masker)
        if not isinstance(masker, dict):
            raise TypeError(f'{owner}: masker={masker!r}; expected a token '
                            f'masker config dict')
        self.masker = MODELS.build(masker)
        if self.drops_tokens:
            require_fixed_count(self.masker, owner)
        num_blocks = len(self.backbone.layers)
        self.attention_layers = check_int(attention_layers,
                                          'attention_layers', 1, owner)
        if self.attention_layers > num_blocks:
            raise ValueError(
                f'{owner}: attention_layers={attention_layers} but the '
                f'backbone has {num_blocks} blocks')
        if attention_source not in ATTENTION_SOURCES:
            raise ValueError(f'{owner}: attention_source='
                             f'{attention_source!r}; expected one of '
                             f'{ATTENTION_SOURCES}')
        self.attention_source = attention_source
        self.attention_ema: Optional[nn.Module] = None
        if attention_source == 'ema':
            self.attention_ema = CosineEMA(self.backbone,
                                           momentum=ema_momentum)

    def token_mask(self, inputs: Tensor, tokens: Tensor,
                   grid: Tuple[int, int]) -> Tensor:
        """The masker's bool ``(B, h * w)`` mask (True = masked) for a batch.

        Args:
            inputs (Tensor): ``(B, 3, H, W)`` images (embedded again only
                by the EMA copy).
            tokens (Tensor): ``(B, N, C)`` from ``self.backbone.embed``.
            grid (tuple[int, int]): the patch grid ``(h, w)``.
        """
        guidance = None
        kind = self.masker.guidance
        if kind is not None:
            encoder, source_tokens = self.backbone, tokens
            if self.attention_ema is not None:
                self.attention_ema.update_parameters(self.backbone)
                encoder = self.attention_ema.module
                source_tokens = encoder.embed(inputs)[0]
            guidance = masker_guidance(encoder, source_tokens,
                                       self.attention_layers, kind)
        return self.masker(tokens.shape[0], grid, guidance,
                           device=tokens.device)
