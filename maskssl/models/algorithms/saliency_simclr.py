"""SimCLR with saliency-guided masking and hard negatives."""
from typing import Dict, List, Optional

import torch
from mmpretrain.models import SimCLR
from mmpretrain.models.selfsup.simclr import GatherLayer
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample
from torch import Tensor, nn

from .saliency_masking import SaliencyMasking, hard_negative_logits


@MODELS.register_module()
class SaliencySimCLR(SaliencyMasking, SimCLR):
    """SimCLR with saliency-guided masking (Sec. 3.2) and hard negatives
    (Sec. 3.3, Eq. 2).

    Paper: https://arxiv.org/abs/2309.12757. mmpretrain's :class:`SimCLR`
    is the base (NT-Xent over the 2N views of a batch gathered across
    ranks). ``inputs[0]`` is the query view, ``inputs[1]`` the key view. The
    query is masked as a positive (``mask_branch``, Table 6); with
    ``hard_negative`` each sample's key view masked with ``beta`` of its
    foreground cells is encoded by the same encoder, in the same forward
    (SimCLR has no momentum encoder, and its negatives carry gradients), and
    joins the denominators of that sample's two rows (query and key) with
    logit ``rho z . z- / tau``; it is never a positive or another sample's
    negative.

    SimCLR has no momentum encoder to read saliency from, so the saliency
    source is the frozen localisation network (``source='pretrained'``, the
    paper's) or none (``saliency=None`` with a masker that ignores it).

    Args:
        saliency (dict, optional): An ``SCDASaliency`` config with
            ``source='pretrained'``, or ``None``.
        fill (dict): A fill strategy with its ``SaliencyCellMasker``.
        mask_branch (str): ``'query'``, ``'key'`` or ``'both'``.
        hard_negative (bool): Add the hard negatives (Table 8).
        rho (float): Hard-negative penalty ratio. Defaults to 2.0.
        stride (int): Pixels per saliency cell. Defaults to 32.
    """

    def __init__(self,
                 backbone: dict,
                 neck: dict,
                 head: dict,
                 fill: dict,
                 saliency: Optional[dict] = None,
                 mask_branch: str = 'query',
                 hard_negative: bool = True,
                 rho: float = 2.0,
                 stride: int = 32,
                 **kwargs) -> None:
        super().__init__(backbone=backbone, neck=neck, head=head, **kwargs)
        if saliency and saliency.get('source', 'pretrained') != 'pretrained':
            raise ValueError(
                f"SaliencySimCLR: saliency.source={saliency['source']!r}; "
                "SimCLR has no momentum encoder: expected 'pretrained' (a "
                'localisation network) or saliency=None')
        self.init_masking(fill, saliency, mask_branch, hard_negative, rho,
                          stride)

    def _foreground(self, imgs: Tensor) -> Tensor:
        """``(B, U, V)`` bool SCDA cells (all ``True`` without saliency)."""
        if self.saliency is None:
            return self.all_cells(imgs)
        return self.saliency(imgs=imgs)

    def loss(self, inputs: List[Tensor], data_samples: List[DataSample],
             **kwargs) -> Dict[str, Tensor]:
        im_q, im_k = (self.fill.input_transform(x) for x in inputs[:2])
        with torch.no_grad():
            fg_k = None
            if self.mask_branch in ('key', 'both') or self.hard_negative:
                fg_k = self._foreground(im_k)
            views = []
            if self.hard_negative:  # from the unmasked key view
                views.append(self.fill(im_k, fg_k, negative=True))
            if self.mask_branch in ('key', 'both'):
                im_k = self.fill(im_k, fg_k)
            if self.mask_branch in ('query', 'both'):
                im_q = self.fill(im_q, self._foreground(im_q))
        n = im_q.shape[0]
        # SimCLR's order: q_0, k_0, q_1, k_1, ...; the hard negatives after
        pairs = torch.stack([im_q, im_k], 1).flatten(0, 1)
        z = self.neck(self.backbone(torch.cat([pairs] + views)))[0]
        z = nn.functional.normalize(z, dim=1)
        z_pairs = torch.cat(GatherLayer.apply(z[:2 * n]), dim=0)  # (2N, C)
        s = z_pairs @ z_pairs.T
        mask, pos_idx, neg_mask = self._create_buffer(s.shape[0] // 2,
                                                      s.device)
        s = torch.masked_select(s, mask == 1).reshape(s.size(0), -1)
        positive = s[pos_idx].unsqueeze(1)  # (2N, 1)
        negative = torch.masked_select(s, neg_mask == 1).reshape(
            s.size(0), -1)  # (2N, 2N - 2)
        if self.hard_negative:
            z_neg = torch.cat(GatherLayer.apply(z[2 * n:]), dim=0)  # (N, C)
            negative = torch.cat([
                negative,
                hard_negative_logits(z_pairs, z_neg.repeat_interleave(2, 0),
                                     self.rho)
            ], 1)
        return dict(loss=self.head.loss(positive, negative))
