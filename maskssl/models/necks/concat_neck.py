from typing import Tuple

import torch
from mmengine.model import BaseModule
from mmpretrain.registry import MODELS


@MODELS.register_module()
class ConcatNeck(BaseModule):
    """Concatenate a backbone's outputs along the channels: the DINO linear
    protocol's input, the class tokens of the last ``n`` blocks.

    Inputs: a tuple of ``n`` tensors ``(B, C_i)`` (or ``(B, C_i, H, W)`` of
    equal ``H, W``). Output: a 1-tuple ``(B, sum C_i)``.
    """

    def forward(self, inputs: Tuple[torch.Tensor]) -> Tuple[torch.Tensor]:
        return (torch.cat(inputs, dim=1), )
