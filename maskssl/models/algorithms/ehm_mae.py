"""MAE with its mask from a token masker: Evolved Hierarchical Masking's MAE
(EHM, https://arxiv.org/abs/2504.09155)."""
from typing import Dict, List

from mmpretrain.models import MAE
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample
from torch import Tensor

from .token_masker_host import TokenMaskerHost


@MODELS.register_module()
class EHMMAE(TokenMaskerHost, MAE):
    """MAE (mmpretrain's ``MAE``) whose mask comes from a configured token
    masker; with ``EvolvedHierarchicalMasker`` this is EHM's MAE (Sec. IV,
    Table I), with ``FixedRatioMasker`` MAE's own random masking, and grid,
    block or attention-guided masks are a config change (Table III).

    A step embeds the patches once (``TokenMaskMAEViT.embed``), asks the
    masker for a mask (the masker's guidance from a no-grad attention pass
    of all patches through the first ``attention_layers`` blocks, see
    :class:`TokenMaskerHost`), then runs MAE's encoder on the visible
    patches, decoder and normalised-pixel loss unchanged.

    Args:
        backbone (dict): a ``TokenMaskMAEViT`` config.
        neck (dict): MAE's decoder (``MAEPretrainDecoder``).
        head (dict): MAE's head (``MAEPretrainHead``).
        masker (dict): a fixed-count token masker config. Defaults to
            ``EvolvedHierarchicalMasker`` at ratio 0.75 (EHM Sec. V-B).
        attention_layers (int): ``L`` (EHM Sec. V-E: 6). Defaults to 6.
        attention_source (str): ``'online'`` or ``'ema'``, see
            :class:`TokenMaskerHost`. Defaults to ``'online'``.
        ema_momentum (float): for ``'ema'``. Defaults to 0.004.
        **kwargs: ``MAE``'s other arguments (``pretrained``,
            ``data_preprocessor``, ``init_cfg``).
    """

    default_masker = dict(type='EvolvedHierarchicalMasker', mask_ratio=0.75)
    backbone_types = 'TokenMaskMAEViT'
    drops_tokens = True

    def loss(self, inputs: Tensor, data_samples: List[DataSample],
             **kwargs) -> Dict[str, Tensor]:
        """MAE's loss with the masker's mask.

        Args:
            inputs (Tensor): ``(B, 3, H, W)`` images.
            data_samples (list[DataSample]): unused.

        Returns:
            dict[str, Tensor]: ``loss``, MAE's mean squared error of the
            normalised pixels of the masked patches.
        """
        tokens, grid = self.backbone.embed(inputs)
        mask = self.token_mask(inputs, tokens, grid)
        latent, mask, ids_restore = self.backbone.forward_masked(tokens, mask)
        pred = self.neck(latent, ids_restore)
        return dict(loss=self.head.loss(pred, inputs, mask))
