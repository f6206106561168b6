"""Mean-filling masking (Sec. 3.2 of https://arxiv.org/abs/2309.12757):
masked cells take the image's mean value."""
from typing import Optional

import torch
from mmpretrain.registry import MODELS
from torch import Tensor

from .base_fill import BaseCellFill


@MODELS.register_module()
class MeanFill(BaseCellFill):
    """Fill masked cells with the image's per-channel mean.

    The masked cells (:class:`SaliencyCellMasker`, expanded to pixels with
    ``cells_to_pixels``, shared by the channels) take, in each channel, the
    mean of that channel over the whole (unmasked) image, computed per
    image; the other pixels are unchanged. The paper says "the mean pixel
    value of that input image"; a per-channel mean is chosen (issue 11) so
    that a masked cell is grey-ish in the image's own colour balance rather
    than one value across channels. On normalised inputs this is the mean
    of the normalised image, the same pixels as filling before
    normalisation.

    Args:
        masker (dict or nn.Module): The cell masker. Defaults to
            ``dict(type='SaliencyCellMasker')``.
        init_cfg (dict or list[dict], optional): Initialisation config.
    """

    def fill(self,
             imgs: Tensor,
             mask: Tensor,
             negative: bool = False,
             generator: Optional[torch.Generator] = None) -> Tensor:
        """``(B, C, H, W)``: each image's channel means where ``mask``
        (``(B, C, H, W)`` bool), ``imgs`` elsewhere; no randomness."""
        return torch.where(mask, imgs.mean((2, 3), keepdim=True), imgs)
