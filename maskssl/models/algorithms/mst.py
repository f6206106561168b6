"""MST: Masked Self-supervised Transformer."""
from typing import Dict, List, Optional, Tuple, Union

import torch
import torch.nn as nn
from mmcv.cnn.bricks import DropPath
from mmpretrain.models.selfsup import BaseSelfSupervisor
from mmpretrain.models.utils import CosineEMA
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample
from torch import Tensor

from maskssl.structures import view_roles_of

# the backbone's ``return_attention`` that yields each masker guidance
ATTENTION_FOR_GUIDANCE = {'importance': 'cls', 'similarity': 'patch'}


def symmetric(similarity: Tensor) -> Tensor:
    """``(A + A^T) / 2`` of a ``(B, N, N)`` attention map: a symmetric token
    similarity (EHM Eq. 6 makes attention symmetric the same way)."""
    return (similarity + similarity.transpose(1, 2)) / 2


def split_views(inputs: List[Tensor], roles: Tuple[str, ...]
                ) -> Tuple[List[Tensor], List[Tensor]]:
    """The ``'global'`` views (teacher and student) and the ``'local'`` views
    (student only) of a batch, each a list of ``(B, 3, H, W)`` tensors.

    Raises:
        ValueError: for a ``'target'`` view (no branch of MST takes one), or
            without two global views.
    """
    if 'target' in roles:
        raise ValueError(f"MST takes 'global' and 'local' views; got roles "
                         f'{roles}')
    global_views = [x for x, r in zip(inputs, roles) if r == 'global']
    local_views = [x for x, r in zip(inputs, roles) if r == 'local']
    if len(global_views) < 2:
        raise ValueError(f'MST needs at least two global views (the teacher '
                         f'targets of each other); got roles {roles}')
    return global_views, local_views


@MODELS.register_module()
class MST(BaseSelfSupervisor):
    """MST: DINO self-distillation with teacher-guided token masking and a
    global image decoder.

    Implementation of `MST: Masked Self-Supervised Transformer for Visual
    Representation <https://arxiv.org/abs/2106.05656>`_ (Alg. 2). Per step,
    with the ``T`` global views (teacher and student, ``view_roles``
    ``'global'``) and the local views (student only, ``'local'``):

    1. The teacher (an EMA of backbone and projection neck; momentum
       ``1 - base_momentum`` raised to 1 by a cosine schedule, DINO's 0.996 ->
       1 and mmpretrain's ``CosineEMA``) is updated, as mmpretrain's BYOL
       does, before its forward; that equals DINO's update after the
       optimizer step.
    2. The teacher encodes the global views; the same forward returns the
       guidance the ``masker`` declares: the last block's class attention
       ``(TB, N)`` (Eq. 4) for ``'importance'``, or its head-averaged patch
       attention made symmetric ``(TB, N, N)`` for ``'similarity'``.
    3. The masker (any member of :mod:`maskssl.models.maskers`) masks the
       student's copy of each global view (Alg. 1, Eq. 5); local views are
       not masked. ``masker=None`` is DINO (MST Table 4, "None").
    4. The student encodes the masked global views (masked patch embeddings
       replaced by ``[MASK]``, Eq. 6) and the local views; the projection
       neck's BN statistics are updated from global views only (Sec. 3.3).
    5. ``L_CE``: the DINO loss of every teacher global view against every
       other student view (Eq. 2, ``head``).
    6. ``L_restore``: the global image decoder restores each global view
       from all the student's patch tokens, L1 against the normalised input
       over all pixels (Eq. 9; Alg. 2 sums instead of averaging).
       ``decoder=None`` leaves it out.

    Total: ``ce_weight * L_CE + restore_weight * L_restore`` (Eq. 11,
    ``lambda_1 = 1.0``, ``lambda_2 = 0.6``), logged as ``loss_ce`` and
    ``loss_restore``. Global views share one forward per network (BN over
    all of them) and the local views another, as DINO does. The teacher runs
    without drop path (DINO's teacher has none).

    The backbone provides ``token_grid(imgs)``, the ``(h, w)`` grid of the
    ``N`` tokens that are masked and restored, and ``forward_tokens(imgs,
    mask, return_attention)``: its ``num_extra_tokens`` global tokens (the
    projection head reads the first) followed by the ``N`` tokens, and the
    attention guidance over them.

    Args:
        backbone (dict): An ``MSTVisionTransformer`` (``out_type=
            'cls_token'``, which the downstream and kNN configs use).
        neck (dict): The projection head, ``DINOProjectionNeck``.
        head (dict): The DINO loss, ``DINODistillationHead``.
        masker (dict, optional): A token masker. Defaults to MST's
            ``AttentionGuidedMasker`` (``num=8``, ``p=0.1``).
        decoder (dict, optional): A ``GlobalImageDecoder``; its upsampling
            must bring the patch grid back to the input size.
        restore_loss (dict): The L1 loss of Eq. 9. Defaults to mmpretrain's
            ``PixelReconstructionLoss(criterion='L1')`` (no mask: the mean
            over all pixels).
        ce_weight (float): ``lambda_1``. Defaults to 1.0.
        restore_weight (float): ``lambda_2``. Defaults to 0.6.
        base_momentum (float): ``1 - m`` of the teacher at the start.
            Defaults to 0.004 (DINO's 0.996).
        pretrained (str, optional): Checkpoint to initialise from.
        data_preprocessor (dict, optional): Defaults to
            ``SelfSupDataPreprocessor``.
        init_cfg (dict or list[dict], optional): Initialisation config.
    """

    def __init__(self,
                 backbone: dict,
                 neck: dict,
                 head: dict,
                 masker: Optional[dict] = dict(type='AttentionGuidedMasker'),
                 decoder: Optional[dict] = None,
                 restore_loss: dict = dict(
                     type='PixelReconstructionLoss', criterion='L1'),
                 ce_weight: float = 1.0,
                 restore_weight: float = 0.6,
                 base_momentum: float = 0.004,
                 pretrained: Optional[str] = None,
                 data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[Union[List[dict], dict]] = None) -> None:
        super().__init__(
            backbone=backbone,
            neck=neck,
            head=head,
            pretrained=pretrained,
            data_preprocessor=data_preprocessor,
            init_cfg=init_cfg)
        if not all(hasattr(self.backbone, name)
                   for name in ('forward_tokens', 'token_grid')):
            raise TypeError(
                f'MST: backbone {type(self.backbone).__name__} cannot take a '
                f'token mask nor return attention; use MSTVisionTransformer')
        self.masker = MODELS.build(masker) if masker is not None else None
        self.decoder = MODELS.build(decoder) if decoder is not None else None
        self.restore_loss = MODELS.build(restore_loss)
        self.ce_weight = float(ce_weight)
        self.restore_weight = float(restore_weight)
        self.teacher = CosineEMA(
            nn.Sequential(self.backbone, self.neck), momentum=base_momentum)
        # DINO's teacher has no stochastic depth (the student's drop path
        # rate is 0.1 for ViT-S)
        for module in self.teacher.modules():
            if isinstance(module, DropPath):
                module.drop_prob = 0.0

    @torch.no_grad()
    def teacher_forward(self, imgs: Tensor) -> Tuple[Tensor, Optional[Tensor]]:
        """The teacher's ``(TB, K)`` scores of the global views and the
        masker's guidance from the same forward (``None`` when the masker
        needs none)."""
        backbone, neck = self.teacher.module
        kind = None if self.masker is None else self.masker.guidance
        tokens, attention = backbone.forward_tokens(
            imgs, return_attention=ATTENTION_FOR_GUIDANCE.get(kind, False))
        if kind == 'similarity':
            attention = symmetric(attention)
        return neck((tokens[:, 0], )), attention

    def loss(self, inputs: List[Tensor], data_samples: List[DataSample],
             **kwargs) -> Dict[str, Tensor]:
        """MST's losses on a batch of views (``inputs``: one ``(B, 3, H,
        W)`` tensor per view, the roles in ``data_samples``)."""
        global_views, local_views = split_views(
            inputs, view_roles_of(data_samples, len(inputs)))
        imgs = torch.cat(global_views)  # (T * B, 3, H, W)
        grid = self.backbone.token_grid(imgs)
        self.teacher.update_parameters(
            nn.Sequential(self.backbone, self.neck))
        teacher_out, guidance = self.teacher_forward(imgs)
        mask = None
        if self.masker is not None:
            with torch.no_grad():
                mask = self.masker(imgs.shape[0], grid, guidance=guidance,
                                   device=imgs.device)

        tokens, _ = self.backbone.forward_tokens(imgs, mask=mask)
        student_out = [self.neck((tokens[:, 0], ))]
        if local_views:
            local_tokens, _ = self.backbone.forward_tokens(
                torch.cat(local_views))
            student_out.append(
                self.neck((local_tokens[:, 0], ), update_bn_stats=False))
        loss_ce = self.head.loss(
            torch.cat(student_out), teacher_out,
            num_student_crops=len(global_views) + len(local_views))
        losses = dict(loss_ce=self.ce_weight * loss_ce)
        if self.decoder is not None:
            patches = tokens[:, self.backbone.num_extra_tokens:]
            restored = self.decoder(patches, grid)
            if restored.shape != imgs.shape:
                raise ValueError(
                    f'MST: the decoder restores {tuple(restored.shape)} from '
                    f'a {grid[0]} x {grid[1]} token grid, expected the input '
                    f'{tuple(imgs.shape)}; give it log2(patch_size) stages')
            losses['loss_restore'] = self.restore_weight * \
                self.restore_loss(restored, imgs)
        return losses
