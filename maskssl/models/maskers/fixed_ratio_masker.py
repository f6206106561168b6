"""MAE-style random masking of a fixed ratio of the tokens."""
from typing import Optional, Tuple

import torch
from mmpretrain.registry import MODELS
from torch import Tensor

from maskssl.utils.arg_checks import check_fraction
from .base_token_masker import BaseTokenMasker
from .functional import fixed_ratio_mask


@MODELS.register_module()
class FixedRatioMasker(BaseTokenMasker):
    """Exactly ``N - int(N * (1 - mask_ratio))`` tokens per image, chosen
    uniformly at random: MAE's ``random_masking`` (and SimMIM's count), the
    "random" baseline of EHM Table III.

    Args:
        mask_ratio (float): Fraction of the tokens masked. Defaults to 0.75
            (MAE).
    """

    def __init__(self, mask_ratio: float = 0.75) -> None:
        super().__init__()
        self.mask_ratio = check_fraction(mask_ratio, 'mask_ratio',
                                         type(self).__name__)

    def generate(self, batch_size: int, grid: Tuple[int, int],
                 guidance: Optional[Tensor],
                 generator: Optional[torch.Generator],
                 device: Optional[torch.device]) -> Tensor:
        return fixed_ratio_mask(batch_size, grid[0] * grid[1],
                                self.mask_ratio, generator, device)
