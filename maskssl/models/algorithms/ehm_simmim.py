"""SimMIM with its mask from a token masker: Evolved Hierarchical Masking's
SimMIM (EHM, https://arxiv.org/abs/2504.09155, Table VIII)."""
from typing import Dict, List, Sequence

from mmpretrain.models import SimMIM
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample
from torch import Tensor

from .token_masker_host import TokenMaskerHost


def upsample_patch_mask(mask: Tensor, grid: Sequence[int],
                        scale: int) -> Tensor:
    """A mask over mask patches spread to their tokens (SimMIM's
    ``MaskGenerator`` repeats each mask patch ``scale`` times along both
    axes).

    Args:
        mask (Tensor): ``(B, gh * gw)`` over the mask-patch grid ``grid``
            in raster order, True = masked.
        grid (Sequence[int]): ``(gh, gw)``.
        scale (int): tokens per mask-patch side.

    Returns:
        Tensor: ``(B, gh * scale * gw * scale)`` over the token grid in
        raster order; token ``(r, c)`` takes mask patch ``(r // scale, c //
        scale)``.
    """
    if scale == 1:
        return mask
    gh, gw = grid
    return mask.reshape(-1, gh, gw).repeat_interleave(
        scale, 1).repeat_interleave(scale, 2).flatten(1)


@MODELS.register_module()
class EHMSimMIM(TokenMaskerHost, SimMIM):
    """SimMIM (mmpretrain's ``SimMIM``) whose mask comes from a configured
    token masker instead of the data pipeline's ``SimMIMMaskGenerator``;
    with ``EvolvedHierarchicalMasker`` this is EHM's SimMIM (Table VIII),
    with ``FixedRatioMasker`` SimMIM's own random masking. Everything else
    is SimMIM's: the mask token replacing masked patch embeddings, the
    linear decoder and the L1 loss on the masked pixels.

    A step embeds the patches once (``backbone.embed``), asks the masker for
    a mask over the backbone's mask-patch grid (``backbone.mask_grid``; the
    guidance from a no-grad pass of all patches through the first
    ``attention_layers`` blocks, ``backbone.mask_guidance``, see
    :class:`TokenMaskerHost`), spreads it to the tokens
    (:func:`upsample_patch_mask`), then runs SimMIM's masked encoder,
    decoder and head on it. ``data_samples`` are not read: the pipeline
    needs no mask generator.

    Backbones: ``TokenMaskSimMIMViT`` and ``TokenMaskSimMIMSwin``. SimMIM
    does not drop tokens, so maskers whose count varies per image are
    accepted.

    Args:
        backbone (dict): a ``TokenMaskSimMIMViT`` or ``TokenMaskSimMIMSwin``
            config.
        neck (dict): SimMIM's decoder (``SimMIMLinearDecoder``, its
            ``encoder_stride`` the backbone's output stride).
        head (dict): SimMIM's head (``SimMIMHead``, its ``patch_size`` the
            backbone's token patch size).
        masker (dict): a token masker config. Defaults to
            ``EvolvedHierarchicalMasker`` at ratio 0.6 (SimMIM's, as EHM
            Sec. V-B keeps each model's ratio).
        attention_layers (int): ``L``, the first blocks that guide the
            masker (EHM Sec. V-E: 6). Defaults to 6.
        attention_source (str): ``'online'`` or ``'ema'``, see
            :class:`TokenMaskerHost`. Defaults to ``'online'``.
        ema_momentum (float): for ``'ema'``. Defaults to 0.004.
        **kwargs: ``SimMIM``'s other arguments (``pretrained``,
            ``data_preprocessor``, ``init_cfg``).
    """

    default_masker = dict(type='EvolvedHierarchicalMasker', mask_ratio=0.6)
    backbone_methods = ('embed', 'forward_masked', 'mask_guidance',
                        'mask_grid', 'mask_scale', 'layers')
    backbone_types = 'TokenMaskSimMIMViT or TokenMaskSimMIMSwin'

    def loss(self, inputs: Tensor, data_samples: List[DataSample],
             **kwargs) -> Dict[str, Tensor]:
        """SimMIM's loss with the masker's mask.

        Args:
            inputs (Tensor): ``(B, 3, H, W)`` images at the backbone's
                ``img_size``.
            data_samples (list[DataSample]): unused (no pipeline mask).

        Returns:
            dict[str, Tensor]: ``loss``, SimMIM's L1 over the pixels of the
            masked tokens.
        """
        tokens, grid = self.backbone.embed(inputs)
        mask_grid = self.backbone.mask_grid
        mask = upsample_patch_mask(
            self.token_mask(inputs, tokens, mask_grid), mask_grid,
            self.backbone.mask_scale)
        latent = self.backbone.forward_masked(tokens, mask)
        img_rec = self.neck(latent[0])
        # SimMIMHead spreads a (B, h, w) token mask to the pixels
        token_mask = mask.reshape(-1, *grid).to(inputs.dtype)
        return dict(loss=self.head.loss(img_rec, inputs, token_mask))
