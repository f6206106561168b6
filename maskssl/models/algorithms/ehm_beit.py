"""BEiT v1 with its mask from a token masker: Evolved Hierarchical Masking's
BEiT (EHM, https://arxiv.org/abs/2504.09155, Table VIII)."""
from typing import Dict, List, Sequence

import torch
from mmpretrain.models import BEiT
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample
from torch import Tensor

from .token_masker_host import TokenMaskerHost


@MODELS.register_module()
class EHMBEiT(TokenMaskerHost, BEiT):
    """BEiT v1 (mmpretrain's ``BEiT`` without a neck) whose mask comes from a
    configured token masker instead of the data pipeline's
    ``BEiTMaskGenerator``; with ``EvolvedHierarchicalMasker`` this is EHM's
    BEiT (Sec. V, Table VIII), with ``BlockMasker`` BEiT's own blockwise
    masking.

    A step embeds the patches once (``TokenMaskBEiTViT.embed``), asks the
    masker for a mask (its guidance from a no-grad attention pass of all
    patches through the first ``attention_layers`` layers, see
    :class:`TokenMaskerHost`), then runs BEiT's masked forward on those
    embeddings (masked ones replaced by ``[MASK]``); the tokenizer's visual
    tokens, the head and the cross-entropy over the masked positions are
    BEiT's, unchanged.

    The mask ratio: EHM (Sec. V-A) keeps each model's original ratio, and
    BEiT masks "roughly 40%" of the patches (at most 75 of 196, BEiT Sec.
    2.5), so the default is ``mask_ratio=0.4``. The EHM masker masks exactly
    ``round(0.4 * 196) = 78`` of 196 patches (whole tree parts, the
    last truncated), where BEiT's generator stops at 75; ``mask_ratio=75 /
    196`` gives BEiT's count.

    Args:
        backbone (dict): a ``TokenMaskBEiTViT`` config.
        head (dict): BEiT v1's head (``BEiTV1Head``).
        target_generator (dict): the tokenizer (BEiT v1: ``DALL-E``).
        masker (dict): a token masker config (any count: BEiT keeps every
            token). Defaults to ``EvolvedHierarchicalMasker`` at ratio 0.4.
        attention_layers (int): ``L`` (EHM Sec. V-E: 6). Defaults to 6.
        attention_source (str): ``'online'`` or ``'ema'``, see
            :class:`TokenMaskerHost`. Defaults to ``'online'``.
        ema_momentum (float): for ``'ema'``. Defaults to 0.004.
        **kwargs: ``BEiT``'s other arguments (``pretrained``,
            ``data_preprocessor``, ``init_cfg``); a ``neck`` (BEiT v2) is
            refused.
    """

    default_masker = dict(type='EvolvedHierarchicalMasker', mask_ratio=0.4)
    backbone_types = 'TokenMaskBEiTViT'

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        if self.with_neck:
            raise ValueError(
                f'EHMBEiT: neck={type(self.neck).__name__}; EHMBEiT is BEiT '
                f'v1, which has no neck (BEiT v2 is not supported)')
        if self.target_generator is None:
            raise ValueError('EHMBEiT: target_generator=None; expected the '
                             "tokenizer, e.g. dict(type='DALL-E')")

    def loss(self, inputs: Sequence[Tensor], data_samples: List[DataSample],
             **kwargs) -> Dict[str, Tensor]:
        """BEiT v1's loss with the masker's mask.

        Args:
            inputs (Sequence[Tensor]): ``[images, target_images]`` as
                ``TwoNormDataPreprocessor`` gives them: ``(B, 3, H, W)`` for
                the ViT and ``(B, 3, H', W')`` for the tokenizer, whose
                token grid must be the ViT's patch grid (BEiT: 224 and 112
                px, 14 x 14).
            data_samples (list[DataSample]): unused (no mask is read from
                them).

        Returns:
            dict[str, Tensor]: ``loss``, the cross-entropy of the visual
            tokens predicted at the masked positions (BEiT Eq. 2).
        """
        if not isinstance(inputs, Sequence) or len(inputs) != 2:
            raise ValueError(
                f'EHMBEiT: inputs is a {type(inputs).__name__}; expected '
                f'[images, target_images] (TwoNormDataPreprocessor)')
        images, target_images = inputs
        tokens, grid = self.backbone.embed(images)
        mask = self.token_mask(images, tokens, grid)
        latent = self.backbone.forward_masked(tokens, mask)
        with torch.no_grad():
            target = self.target_generator(target_images).detach()
        if target.dim() != 4 or tuple(target.shape[2:]) != grid:
            raise ValueError(
                f'EHMBEiT: the target generator gives {tuple(target.shape)} '
                f'for {tuple(target_images.shape[-2:])} target images; '
                f'expected (B, vocab, {grid[0]}, {grid[1]}), one visual '
                f'token per patch of the {grid} grid')
        return dict(loss=self.head.loss(latent[0], target, mask))
