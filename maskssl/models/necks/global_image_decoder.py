"""MST's global image decoder (Sec. 3.3, Eq. 9): a small CNN that restores
the global view from the student's patch tokens."""
from typing import List, Optional, Sequence, Union

import torch.nn as nn
from mmcv.cnn import ConvModule
from mmengine.model import BaseModule
from mmpretrain.registry import MODELS
from torch import Tensor

from maskssl.utils.arg_checks import check_int

UPSAMPLE_MODES = ('bilinear', 'nearest')


def tokens_to_feature_map(tokens: Tensor, grid: Sequence[int]) -> Tensor:
    """Lay patch tokens in raster order out on their grid.

    Args:
        tokens (Tensor): ``(B, N, C)`` patch tokens, no class token; token
            ``i * w + j`` is the patch in row ``i``, column ``j``.
        grid (Sequence[int]): ``(h, w)``, ``h * w = N``.

    Returns:
        Tensor: ``(B, C, h, w)``.
    """
    batch, _, channels = tokens.shape
    h, w = grid
    return tokens.transpose(1, 2).reshape(batch, channels, h, w)


@MODELS.register_module()
class GlobalImageDecoder(BaseModule):
    """Restore the image from the student's patch tokens of a global view.

    MST (Sec. 3.3) stacks convolutions and 2x up-samplings alternately, four
    of them to go from ``H/16 x W/16`` to ``H x W``, and trains with the L1
    loss of Eq. 9 (mmpretrain's ``PixelReconstructionLoss(criterion='L1')``
    with no mask is that mean absolute error over pixels and channels). The
    paper gives no widths, kernels or up-sampling kind; we use, per entry of
    ``channels``, ``Conv3x3 -> BN -> ReLU -> 2x bilinear upsample``, widths
    halving from 256 by default, then a 3x3 conv (with bias) to the image
    channels. The output is ``2 ** len(channels)`` times the token grid:
    keep ``len(channels) = log2(patch_size)`` (4 for MST's /16 ViT).

    The decoder only sees global views, so BN's running statistics come
    from global views alone, as Sec. 3.3 and Appendix C ask.

    Args:
        in_channels (int): ``C``, the token dimension (384 for DeiT-S).
        channels (Sequence[int]): output channels of the stages, one 2x
            up-sampling each. Defaults to ``(256, 128, 64, 32)``.
        out_channels (int): image channels. Defaults to 3.
        upsample_mode (str): ``'bilinear'`` (``align_corners=False``) or
            ``'nearest'``. Defaults to ``'bilinear'``.
        norm_cfg (dict): the stages' norm; ``dict(type='SyncBN')`` for
            multi-GPU runs (MST Appendix C). Defaults to
            ``dict(type='BN')``.
        init_cfg (dict or list[dict], optional): initialisation config.
    """

    def __init__(self,
                 in_channels: int,
                 channels: Sequence[int] = (256, 128, 64, 32),
                 out_channels: int = 3,
                 upsample_mode: str = 'bilinear',
                 norm_cfg: dict = dict(type='BN'),
                 init_cfg: Optional[Union[dict, List[dict]]] = None) -> None:
        super().__init__(init_cfg)
        owner = type(self).__name__
        self.in_channels = check_int(in_channels, 'in_channels', owner=owner)
        if isinstance(channels, (str, bytes)) or not isinstance(
                channels, Sequence) or not channels:
            raise ValueError(
                f'{owner}: channels={channels!r}; expected a non-empty list '
                'of positive ints, one per 2x up-sampling stage')
        widths = [
            check_int(c, f'channels[{i}]', owner=owner)
            for i, c in enumerate(channels)
        ]
        self.out_channels = check_int(out_channels, 'out_channels',
                                      owner=owner)
        if upsample_mode not in UPSAMPLE_MODES:
            raise ValueError(f'{owner}: upsample_mode={upsample_mode!r}; '
                             f'expected one of {UPSAMPLE_MODES}')
        align = False if upsample_mode == 'bilinear' else None
        # the output's size over the token grid's
        self.scale = 2**len(widths)

        stages = []
        for c_in, c_out in zip([self.in_channels] + widths[:-1], widths):
            stages += [
                ConvModule(c_in, c_out, 3, padding=1, norm_cfg=norm_cfg,
                           act_cfg=dict(type='ReLU')),
                nn.Upsample(scale_factor=2, mode=upsample_mode,
                            align_corners=align)
            ]
        self.stages = nn.Sequential(*stages)
        self.to_image = nn.Conv2d(widths[-1], self.out_channels, 3,
                                  padding=1)

    def forward(self, tokens: Tensor, grid: Sequence[int]) -> Tensor:
        """Decode the patch tokens of one global view to an image.

        Args:
            tokens (Tensor): ``(B, N, C)`` the student's last-layer patch
                tokens (class token removed), ``N = h * w``.
            grid (Sequence[int]): ``(h, w)``, the patch grid.

        Returns:
            Tensor: ``(B, out_channels, scale * h, scale * w)``, the restored
            image ``g(f_s(x, m))`` of Eq. 9, for the L1 loss against the
            (normalised) input view.
        """
        h, w = grid
        if (tokens.dim() != 3 or tokens.shape[1] != h * w
                or tokens.shape[2] != self.in_channels):
            raise ValueError(
                f'{type(self).__name__}: tokens of shape '
                f'{tuple(tokens.shape)}; expected (B, h*w, in_channels) = '
                f'(B, {h * w}, {self.in_channels}) for the grid {(h, w)}')
        return self.to_image(self.stages(tokens_to_feature_map(tokens,
                                                               grid)))
