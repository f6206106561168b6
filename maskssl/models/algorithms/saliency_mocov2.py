"""MoCo v2 with saliency-guided masking and hard negatives."""
from typing import Dict, List, Optional, Tuple

import torch
from mmpretrain.models import MoCo
from mmpretrain.models.utils import batch_shuffle_ddp, batch_unshuffle_ddp
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample
from torch import Tensor, nn

from .saliency_masking import SaliencyMasking, hard_negative_logits

@MODELS.register_module()
class SaliencyMoCoV2(SaliencyMasking, MoCo):
    """MoCo v2 with saliency-guided masking (Sec. 3.2) and hard negatives
    (Sec. 3.3, Eq. 2).

    Paper: "Masking Improves Contrastive Self-Supervised Learning for
    ConvNets, and Saliency Tells You Where",
    https://arxiv.org/abs/2309.12757. mmpretrain's :class:`MoCo` with the
    MoCo v2 neck is the base; everything it does (momentum encoder over
    backbone and neck, shuffled-BN keys, queue of keys) is kept. Per step:

    1. ``fill.input_transform`` on both views (the high-pass input of the
       high-pass strategy; identity otherwise).
    2. Saliency (``(B, U, V)`` SCDA foreground cells) of each view that is
       masked: from the momentum encoder's last stage (``source='momentum'``;
       the key view's saliency is read from the key forward itself, so no
       network runs twice on one view) or a frozen localisation network
       (``source='pretrained'``).
    3. The query view masked as a positive (``mask_branch='query'``, the
       paper's scheme; ``'key'`` and ``'both'`` for Table 6).
    4. With ``hard_negative``, one hard negative per sample: the key view
       masked with ``beta`` of its foreground cells, encoded by the momentum
       encoder, joins only that sample's denominator with logit
       ``rho q.k- / tau`` and is never enqueued. The authors' code builds
       one negative from sample 0 and shares it across the batch, and sorts
       the saliency map before indexing it, which misplaces the foreground
       cells; this follows the paper instead.

    Args:
        saliency (dict, optional): An ``SCDASaliency`` config; ``None`` when
            the fill's masker ignores saliency (``saliency=False``, the
            MSCN-like ablation of Table 4): every cell is then a candidate.
        fill (dict): A fill strategy (``HighPassFill``, ``BlurFill``,
            ``MeanFill``) with its ``SaliencyCellMasker``.
        mask_branch (str): ``'query'``, ``'key'`` or ``'both'``.
        hard_negative (bool): Add the hard negatives (Table 8).
        rho (float): Hard-negative penalty ratio. Defaults to 2.0.
        stride (int): Pixels per saliency cell (the localisation network's
            stride). Defaults to 32.
        **kwargs: :class:`MoCo`'s arguments (``queue_len=65536``,
            ``feat_dim=128``, ``momentum=0.001``, i.e. m = 0.999).
    """

    def __init__(self,
                 backbone: dict,
                 neck: dict,
                 head: dict,
                 fill: dict,
                 saliency: Optional[dict] = dict(
                     type='SCDASaliency', source='momentum'),
                 mask_branch: str = 'query',
                 hard_negative: bool = True,
                 rho: float = 2.0,
                 stride: int = 32,
                 **kwargs) -> None:
        super().__init__(backbone=backbone, neck=neck, head=head, **kwargs)
        self.init_masking(fill, saliency, mask_branch, hard_negative, rho,
                          stride)

    @property
    def _momentum_saliency(self) -> bool:
        return self.saliency is not None and \
            self.saliency.source == 'momentum'

    def _momentum_forward(self, imgs: Tensor) -> Tuple[Tensor, Tensor]:
        """The momentum encoder on ``imgs`` with shuffled BN: normalised
        ``(N, C)`` keys and the ``(N, D, U, V)`` last-stage features."""
        imgs, idx_unshuffle = batch_shuffle_ddp(imgs)
        backbone, neck = self.encoder_k.module
        feats = backbone(imgs)
        k = nn.functional.normalize(neck(feats)[0], dim=1)
        return (batch_unshuffle_ddp(k, idx_unshuffle),
                batch_unshuffle_ddp(feats[-1], idx_unshuffle))

    def _foreground(self, imgs: Tensor,
                    features: Optional[Tensor] = None) -> Tensor:
        """``(B, U, V)`` bool SCDA cells of a view (all ``True`` without a
        saliency module); ``features``: the view's momentum last stage."""
        if self.saliency is None:
            return self.all_cells(imgs)
        if self._momentum_saliency:
            if features is None:
                features = self._momentum_forward(imgs)[1]
            return self.saliency(features=features)
        return self.saliency(imgs=imgs)

    def loss(self, inputs: List[Tensor], data_samples: List[DataSample],
             **kwargs) -> Dict[str, Tensor]:
        """Eq. 2 on two views: ``inputs[0]`` the query, ``inputs[1]`` the
        key, each ``(N, 3, H, W)``."""
        im_q, im_k = (self.fill.input_transform(x) for x in inputs[:2])
        with torch.no_grad():
            self.encoder_k.update_parameters(
                nn.Sequential(self.backbone, self.neck))
            key_masked = self.mask_branch in ('key', 'both')
            k = None
            if key_masked or self.hard_negative:
                # the key view's saliency; with the momentum source its
                # forward is the key forward too, unless the key is masked
                k_feats = None
                if self._momentum_saliency:
                    k, k_feats = self._momentum_forward(im_k)
                fg_k = self._foreground(im_k, k_feats)
            if self.hard_negative:  # from the unmasked key view
                k_neg = self._momentum_forward(
                    self.fill(im_k, fg_k, negative=True))[0]
            if key_masked:
                im_k, k = self.fill(im_k, fg_k), None
            if k is None:
                k = self._momentum_forward(im_k)[0]
            if self.mask_branch in ('query', 'both'):
                im_q = self.fill(im_q, self._foreground(im_q))

        q = nn.functional.normalize(self.neck(self.backbone(im_q))[0], dim=1)
        l_pos = torch.einsum('nc,nc->n', [q, k]).unsqueeze(-1)
        l_neg = torch.einsum('nc,ck->nk', [q, self.queue.clone().detach()])
        if self.hard_negative:
            l_neg = torch.cat([l_neg, hard_negative_logits(q, k_neg,
                                                           self.rho)], 1)
        loss = self.head.loss(l_pos, l_neg)
        self._dequeue_and_enqueue(k)
        return dict(loss=loss)
